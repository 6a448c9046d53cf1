import { describe, expect, it } from '@jest/globals';
import { FakeClock, WorkQueue } from '../../../src/kube/workqueue.js';

describe('WorkQueue', () => {
  it('deduplicates keys and keeps FIFO order', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a/x');
    q.add('b/y');
    q.add('a/x');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a/x');
    expect(await q.get()).toBe('b/y');
    expect(q.len()).toBe(0);
  });

  it('never hands the same key to two workers; a re-add while processing is queued on done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('k');
    const k = await q.get();
    q.add('k');
    expect(q.len()).toBe(0);
    const second = q.get();
    q.done(k!);
    expect(await second).toBe('k');
  });

  it('backs off exponentially per key, capped, and forget() resets it', () => {
    const q = new WorkQueue({ clock: new FakeClock(), baseDelayMs: 10, maxDelayMs: 100, qps: 1000, burst: 1000 });
    expect([1, 2, 3, 4, 5, 6].map(() => q.nextDelay('k'))).toEqual([10, 20, 40, 80, 100, 100]);
    expect(q.numRequeues('k')).toBe(6);
    expect(q.nextDelay('other')).toBe(10);
    q.forget('k');
    expect(q.nextDelay('k')).toBe(10);
  });

  it('delivers rate-limited keys only after their delay elapses on the injected clock', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, qps: 1000, burst: 1000 });
    q.addRateLimited('k');
    q.addRateLimited('k'); // the second delay (200ms) is later than the pending one: earliest wins
    clock.advance(99);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('k');
  });

  it('applies a global token bucket across keys', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 1, qps: 10, burst: 2 });
    expect(q.nextDelay('a')).toBe(1);
    expect(q.nextDelay('b')).toBe(1);
    expect(q.nextDelay('c')).toBe(100); // bucket empty: 1 token per 100ms
    expect(q.nextDelay('d')).toBe(200);
    clock.advance(1000);
    expect(q.nextDelay('e')).toBe(1);
  });

  it('addAfter keeps the earliest due time and add() supersedes a pending delay', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 1000);
    q.addAfter('k', 50);
    clock.advance(50);
    expect(q.len()).toBe(1);
    q.addAfter('j', 1000);
    q.add('j');
    expect(q.len()).toBe(2);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('shutdown releases waiting getters', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const p = q.get();
    q.shutdown();
    expect(await p).toBeUndefined();
    q.add('x');
    expect(q.len()).toBe(0);
  });
});
