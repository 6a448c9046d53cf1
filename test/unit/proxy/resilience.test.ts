import { describe, expect, it } from '@jest/globals';
import { makeBalancer } from '../../../src/proxy/balance/balancers.js';
import { Host, fnv1a } from '../../../src/proxy/balance/host.js';
import { buildRetryPolicy } from '../../../src/proxy/config/build.js';
import { OutlierDetector } from '../../../src/proxy/resilience/outlier.js';
import { isRetriable, retryBackoffMs } from '../../../src/proxy/resilience/retry.js';
import { CircuitBreaker } from '../../../src/proxy/resilience/circuit-breaker.js';
import { TokenBucket } from '../../../src/proxy/resilience/token-bucket.js';

function hosts(n: number, priority = 0): Host[] {
  return Array.from({ length: n }, (_, i) => new Host({ address: '127.0.0.1', port: 1000 + i, weight: 1, healthy: true, locality: 'a/b/', priority }));
}

function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('balancers', () => {
  it('round robin cycles through available hosts', () => {
    const hs = hosts(3);
    const lb = makeBalancer('round-robin', hs);
    expect([0, 1, 2, 3].map(() => lb.pick({ now: 0 })!.endpoint.port)).toEqual([1000, 1001, 1002, 1000]);
  });

  it('least request picks the less loaded of two random choices', () => {
    const hs = hosts(2);
    hs[0]!.active = 5;
    const lb = makeBalancer('least-request', hs, seq([0, 0.9]));
    expect(lb.pick({ now: 0 })!.endpoint.port).toBe(1001);
  });

  it('random uses the injected source', () => {
    const lb = makeBalancer('random', hosts(4), seq([0.6]));
    expect(lb.pick({ now: 0 })!.endpoint.port).toBe(1002);
  });

  it('ring hash is sticky per key and spreads keys', () => {
    const hs = hosts(4);
    const lb = makeBalancer('ring-hash', hs);
    const a = lb.pick({ now: 0, hash: fnv1a('user-1') })!;
    for (let i = 0; i < 10; i++) expect(lb.pick({ now: 0, hash: fnv1a('user-1') })).toBe(a);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(lb.pick({ now: 0, hash: fnv1a(`k${i}`) })!.endpoint.port);
    expect(seen.size).toBe(4);
    // Ejecting the chosen host moves only its keys.
    a.ejectedUntil = 100;
    expect(lb.pick({ now: 0, hash: fnv1a('user-1') })).not.toBe(a);
  });

  it('skips ejected hosts, avoids previous hosts, fails over by priority', () => {
    const hs = [...hosts(2, 0), ...hosts(1, 1).map((h) => new Host({ ...h.endpoint, port: 2000 }))];
    // One of two P0 hosts out: P0 health 1.4 x 50% = 70%, so 70% stays on P0 (r = 0.1 lands there).
    const lb = makeBalancer('round-robin', hs, seq([0.1]));
    hs[0]!.ejectedUntil = 50;
    expect(lb.pick({ now: 10 })!.endpoint.port).toBe(1001);
    expect(lb.pick({ now: 10, avoid: new Set(['127.0.0.1:1001']) })!.endpoint.port).toBe(1001); // nothing else at priority 0
    hs[1]!.ejectedUntil = 50;
    expect(lb.pick({ now: 10 })!.endpoint.port).toBe(2000); // priority 1 takes over
    expect(lb.pick({ now: 60 })!.endpoint.priority).toBe(0);
  });
});

describe('retry decisions', () => {
  const p = buildRetryPolicy({ retry_on: 'gateway-error,connect-failure,retriable-status-codes,unavailable', num_retries: { value: 3 }, retriable_status_codes: [418] }, 'r')!;
  it('follows retry_on conditions', () => {
    expect(isRetriable(p, { kind: 'response', status: 503 })).toBe(true);
    expect(isRetriable(p, { kind: 'response', status: 500 })).toBe(false);
    expect(isRetriable(p, { kind: 'response', status: 418 })).toBe(true);
    expect(isRetriable(p, { kind: 'response', status: 200, grpcStatus: 14 })).toBe(true);
    expect(isRetriable(p, { kind: 'response', status: 200, grpcStatus: 13 })).toBe(false);
    expect(isRetriable(p, { kind: 'connect-failure' })).toBe(true);
    expect(isRetriable(p, { kind: 'reset' })).toBe(false);
    expect(isRetriable(p, { kind: 'overflow' })).toBe(false);
    const all5xx = buildRetryPolicy({ retry_on: '5xx' }, 'r')!;
    expect(isRetriable(all5xx, { kind: 'response', status: 500 })).toBe(true);
    expect(isRetriable(all5xx, { kind: 'reset' })).toBe(true);
    expect(all5xx.numRetries).toBe(1);
  });
  it('backs off with full jitter, capped', () => {
    expect(retryBackoffMs(p, 0, 0.999)).toBeLessThan(25);
    expect(retryBackoffMs(p, 3, 0.5)).toBe(100);
    expect(retryBackoffMs(p, 30, 0.999)).toBeLessThan(250);
  });
});

describe('outlier detector', () => {
  it('ejects after consecutive 5xx, respects max ejection percent, returns hosts after base time', () => {
    const hs = hosts(4);
    const od = new OutlierDetector({ consecutive5xx: 3, consecutiveGatewayFailure: 0, intervalMs: 1000, baseEjectionMs: 30_000, maxEjectionPercent: 50 }, () => hs);
    expect(od.record(hs[0]!, '5xx', 0)).toBe(false);
    expect(od.record(hs[0]!, '5xx', 0)).toBe(false);
    expect(od.record(hs[0]!, 'success', 0)).toBe(false); // success resets the streak
    for (let i = 0; i < 2; i++) od.record(hs[0]!, '5xx', 0);
    expect(od.record(hs[0]!, '5xx', 0)).toBe(true);
    expect(hs[0]!.available(1)).toBe(false);
    for (let i = 0; i < 3; i++) od.record(hs[1]!, 'gateway-failure', 0);
    expect(hs[1]!.available(1)).toBe(false);
    for (let i = 0; i < 3; i++) od.record(hs[2]!, '5xx', 0);
    expect(hs[2]!.available(1)).toBe(true); // 50% of 4 already out
    od.sweep(30_001);
    expect(hs[0]!.available(30_001)).toBe(true);
    // Second ejection lasts twice as long.
    for (let i = 0; i < 3; i++) od.record(hs[0]!, '5xx', 40_000);
    expect(hs[0]!.ejectedUntil).toBe(100_000);
  });
});

describe('circuit breaker', () => {
  it('enforces request and retry limits', () => {
    const cb = new CircuitBreaker({ maxConnections: 1, maxPendingRequests: 1, maxRequests: 2, maxRetries: 1 });
    expect([cb.tryRequest(), cb.tryRequest(), cb.tryRequest()]).toEqual([true, true, false]);
    cb.releaseRequest();
    expect(cb.tryRequest()).toBe(true);
    expect([cb.tryRetry(), cb.tryRetry()]).toEqual([true, false]);
  });
});

describe('token bucket', () => {
  it('allows a burst of max_tokens, then tokens_per_fill per interval', () => {
    const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1000 }, 0);
    expect([0, 0, 0, 0].map((t) => b.tryTake(t))).toEqual([true, true, true, false]);
    expect(b.tryTake(999)).toBe(false);
    expect(b.tryTake(1000)).toBe(true);
    expect(b.tryTake(1001)).toBe(false);
    expect([10_000, 10_000, 10_000, 10_000].map((t) => b.tryTake(t))).toEqual([true, true, true, false]); // capped at max
  });
});
