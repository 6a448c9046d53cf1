import { describe, it, expect } from '@jest/globals';
import { Debouncer, type Timers } from '../../../src/xds/debounce.js';

class FakeTimers implements Timers {
  t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.pending.entries()].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

describe('Debouncer', () => {
  it('coalesces a burst into one push after 100 ms of quiet', () => {
    const timers = new FakeTimers();
    const fired: number[] = [];
    const d = new Debouncer((n) => fired.push(n), 100, 10_000, timers);
    for (let i = 0; i < 5; i++) {
      d.trigger();
      timers.advance(50);
    }
    expect(fired).toEqual([]);
    timers.advance(100);
    expect(fired).toEqual([5]);
  });

  it('pushes at most 10 s after the first event of an endless burst', () => {
    const timers = new FakeTimers();
    const fired: number[] = [];
    const d = new Debouncer((n) => fired.push(n), 100, 10_000, timers);
    for (let i = 0; i < 300; i++) {
      d.trigger();
      timers.advance(50);
    }
    expect(fired.length).toBe(1);
    expect(fired[0]).toBe(200);
  });
});
