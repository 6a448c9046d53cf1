// Priority failover and locality-weighted picks in the proxy's balancer (Envoy semantics),
// with an injected random source.
import { describe, expect, it } from '@jest/globals';
import { candidates, levelHealth, makeBalancer, priorityLoads, weightedIndex } from '../../../src/proxy/balance/balancers.js';
import { Host } from '../../../src/proxy/balance/host.js';
import { buildCluster, buildEndpoints } from '../../../src/proxy/config/build.js';
import { isWeftError } from '../../../src/errors/errors.js';
import { edsCluster } from './fixtures.js';

let nextPort = 1000;
function host(priority: number, locality = 'r/z/', localityWeight?: number): Host {
  return new Host({ address: '127.0.0.1', port: nextPort++, weight: 1, healthy: true, locality, priority, ...(localityWeight !== undefined ? { localityWeight } : {}) });
}

const fixed = (r: number) => (): number => r;

describe('priority load (overprovisioning factor 1.4)', () => {
  it('level health is healthy share x 1.4, capped at 100', () => {
    expect(levelHealth(10, 10)).toBe(100);
    expect(levelHealth(8, 10)).toBe(100); // 112 capped: 80% healthy still keeps all traffic
    expect(levelHealth(5, 10)).toBeCloseTo(70);
    expect(levelHealth(0, 10)).toBe(0);
    expect(levelHealth(0, 0)).toBe(0);
  });

  it('spills to the next priority as health drops, and scales up when the sum is under 100', () => {
    expect(priorityLoads([100, 100])).toEqual([100, 0]);
    const [a, b] = priorityLoads([70, 100]);
    expect(a).toBeCloseTo(70);
    expect(b).toBeCloseTo(30);
    expect(priorityLoads([0, 100, 100])).toEqual([0, 100, 0]);
    const scaled = priorityLoads([28, 42]); // sum 70 < 100
    expect(scaled[0]).toBeCloseTo(40);
    expect(scaled[1]).toBeCloseTo(60);
    expect(priorityLoads([0, 0])).toEqual([0, 0]);
  });

  it('weightedIndex picks by weight and never a zero weight', () => {
    expect(weightedIndex([70, 30], 0)).toBe(0);
    expect(weightedIndex([70, 30], 0.69)).toBe(0);
    expect(weightedIndex([70, 30], 0.71)).toBe(1);
    expect(weightedIndex([0, 30], 0)).toBe(1);
    expect(weightedIndex([30, 0], 0.9999)).toBe(0);
    expect(weightedIndex([0, 0], 0.5)).toBe(-1);
  });
});

describe('candidates', () => {
  it('local priority first; its loss fails over to the next priority; recovery comes back', () => {
    const local = [host(0, 'east/a/'), host(0, 'east/a/')];
    const remote = [host(1, 'west/b/'), host(1, 'west/b/')];
    const all = [...local, ...remote];
    expect(candidates(all, { now: 0 }, fixed(0.99))).toEqual(local); // P0 fully healthy: 100% load
    local[0]!.ejectedUntil = 100; // 50% healthy -> 70% on P0, 30% on P1
    expect(candidates(all, { now: 0 }, fixed(0.5))).toEqual([local[1]]);
    expect(candidates(all, { now: 0 }, fixed(0.8))).toEqual(remote);
    local[1]!.ejectedUntil = 100; // P0 gone: all to P1
    expect(candidates(all, { now: 0 }, fixed(0))).toEqual(remote);
    expect(candidates(all, { now: 100 }, fixed(0.99))).toEqual(local); // ejections over
  });

  it('panics (balances over every host of the level) below 50% healthy or when nothing is healthy', () => {
    const hs = [host(0), host(0), host(0)];
    hs[0]!.ejectedUntil = 10;
    hs[1]!.ejectedUntil = 10;
    expect(candidates(hs, { now: 0 })).toEqual(hs);
    const two = [host(0), host(1)];
    two[0]!.ejectedUntil = 10;
    two[1]!.ejectedUntil = 10;
    expect(candidates(two, { now: 0 }, fixed(0.9))).toEqual([two[0]]); // total panic: P0
  });

  it('locality-weighted: localities share a priority by weight x availability', () => {
    const a = [host(0, 'r/a/', 80), host(0, 'r/a/', 80)];
    const b = [host(0, 'r/b/', 20)];
    const all = [...a, ...b];
    const opts = { localityWeighted: true };
    expect(candidates(all, { now: 0 }, fixed(0.5), opts)).toEqual(a);
    expect(candidates(all, { now: 0 }, fixed(0.85), opts)).toEqual(b);
    a[0]!.ejectedUntil = 10; // a: 80 x min(1, 1.4 x 0.5) = 56 vs b: 20 -> a takes 56/76
    expect(candidates(all, { now: 0 }, fixed(0.7), opts)).toEqual([a[1]]);
    expect(candidates(all, { now: 0 }, fixed(0.75), opts)).toEqual(b);
    // Without locality weighting, the whole priority is one pool.
    expect(candidates(all, { now: 0 }, fixed(0.85))).toEqual([a[1], b[0]]);
  });

  it('a balancer uses the injected random source for the level choice', () => {
    const hs = [host(0), host(0), host(1)];
    hs[0]!.ejectedUntil = 10;
    const lowR = makeBalancer('random', hs, fixed(0.1));
    expect(lowR.pick({ now: 0 })).toBe(hs[1]);
    const highR = makeBalancer('random', hs, fixed(0.9));
    expect(highR.pick({ now: 0 })).toBe(hs[2]);
  });
});

describe('config: locality weights and priorities from EDS/CDS', () => {
  it('reads locality load_balancing_weight, priority and locality_weighted_lb_config', () => {
    const eps = buildEndpoints({
      cluster_name: 'c',
      endpoints: [
        { locality: { region: 'r', zone: 'a' }, load_balancing_weight: { value: 70 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'x', port_value: 1 } } } }] },
        { locality: { region: 'q' }, priority: 2, lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'y', port_value: 1 } } } }] },
      ],
    });
    expect(eps.map((e) => [e.locality, e.localityWeight, e.priority])).toEqual([['r/a/', 70, 0], ['q//', undefined, 2]]);
    expect(buildCluster(edsCluster('c', { common_lb_config: { locality_weighted_lb_config: {} } })).localityWeighted).toBe(true);
    expect(buildCluster(edsCluster('c')).localityWeighted).toBeUndefined();
  });

  it.each([[-1], [1.5], [128]])('refuses priority %p with INVALID_CONFIG naming the field', (priority) => {
    let err: unknown;
    try {
      buildEndpoints({ cluster_name: 'c', endpoints: [{ priority, lb_endpoints: [] }] });
    } catch (e) { err = e; }
    expect(isWeftError(err, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    expect((err as { details: { field: string } }).details.field).toBe('ClusterLoadAssignment(c).endpoints[0].priority');
  });
});
