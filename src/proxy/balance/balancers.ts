// Load-balancing algorithms over a cluster's hosts (Envoy semantics): round robin, least
// request (power of two choices), random, ring hash. Before the algorithm runs, a priority
// level is chosen by Envoy's priority load (health x overprovisioning factor 1.4, failing
// over to the next priority as health drops), then, with locality-weighted LB, a locality
// by weight x availability. Pure given `rand`/`now`.
import type { LbPolicy } from '../config/model.js';
import { fnv1a, type Host } from './host.js';

/** Envoy's default overprovisioning factor: a priority at >= 1/1.4 (~72%) health keeps all its load. */
export const OVERPROVISIONING_FACTOR = 1.4;
/** Envoy's default healthy_panic_threshold (percent): below it a priority balances over all its hosts. */
export const PANIC_THRESHOLD_PERCENT = 50;

export interface PickContext {
  now: number;
  /** Request hash for ring hash; without one, ring hash picks at random. */
  hash?: number;
  /** Host keys to avoid (retry previous-hosts predicate), when others are available. */
  avoid?: ReadonlySet<string>;
}

export interface Balancer {
  readonly hosts: readonly Host[];
  pick(ctx: PickContext): Host | undefined;
}

export interface BalancerOptions {
  /** common_lb_config.locality_weighted_lb_config: pick a locality by weight x availability first. */
  localityWeighted?: boolean;
}

type Rand = () => number;

/** Health of one priority level, percent in [0, 100], with the overprovisioning factor applied. */
export function levelHealth(healthy: number, total: number): number {
  if (total === 0) return 0;
  return Math.min(100, (100 * OVERPROVISIONING_FACTOR * healthy) / total);
}

/**
 * Envoy's priority load: each level takes min(its health, what is left) of 100%, in priority
 * order. When the levels' health adds up to less than 100 the loads are scaled up to 100.
 * All zero = no level has a healthy host (the caller panics).
 */
export function priorityLoads(healths: readonly number[]): number[] {
  const total = Math.min(100, healths.reduce((a, h) => a + h, 0));
  if (total === 0) return healths.map(() => 0);
  let left = 100;
  const loads = healths.map((h) => { const l = Math.min(h, left); left -= l; return l; });
  return total < 100 ? loads.map((l) => (l * 100) / total) : loads;
}

/** Index chosen by weights (any non-negative scale) for r in [0, 1); -1 when every weight is 0. */
export function weightedIndex(weights: readonly number[], r: number): number {
  const sum = weights.reduce((a, w) => a + w, 0);
  if (sum <= 0) return -1;
  let x = r * sum;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i]!;
    if (x < 0 && weights[i]! > 0) return i;
  }
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return -1;
}

/** Hosts grouped by priority (ascending), and within each by locality. Fixed for a balancer's host list. */
export interface Topology {
  levels: { priority: number; hosts: Host[]; localities: { weight: number; hosts: Host[] }[] }[];
}

export function topologyOf(hosts: readonly Host[]): Topology {
  const byPriority = new Map<number, { priority: number; hosts: Host[]; byLocality: Map<string, { weight: number; hosts: Host[] }> }>();
  for (const h of hosts) {
    const p = h.endpoint.priority;
    let l = byPriority.get(p);
    if (!l) { l = { priority: p, hosts: [], byLocality: new Map() }; byPriority.set(p, l); }
    l.hosts.push(h);
    let g = l.byLocality.get(h.endpoint.locality);
    if (!g) { g = { weight: h.endpoint.localityWeight ?? 1, hosts: [] }; l.byLocality.set(h.endpoint.locality, g); }
    g.hosts.push(h);
  }
  return {
    levels: [...byPriority.values()].sort((a, b) => a.priority - b.priority)
      .map((l) => ({ priority: l.priority, hosts: l.hosts, localities: [...l.byLocality.values()] })),
  };
}

function healthyCount(hosts: readonly Host[], now: number): number {
  let n = 0;
  for (const h of hosts) if (h.available(now)) n++;
  return n;
}

/** Within one priority: a locality by load_balancing_weight x min(1, 1.4 x healthy fraction) (Envoy). */
function pickLocality(level: Topology['levels'][number], now: number, r: number): readonly Host[] {
  if (level.localities.length <= 1) return level.hosts;
  const weights = level.localities.map((g) => g.weight * Math.min(1, (OVERPROVISIONING_FACTOR * healthyCount(g.hosts, now)) / g.hosts.length));
  const i = weightedIndex(weights, r);
  return i < 0 ? level.hosts : level.localities[i]!.hosts;
}

/**
 * Hosts the algorithm may choose from: the priority level picked by priority load (`r` in
 * [0, 1), drawn only when more than one level carries load), then the locality (weighted LB),
 * then the available ones minus avoided hosts (unless that empties the set). A level below
 * the panic threshold, or every level unhealthy, balances over all of its hosts (Envoy's panic).
 * Balancers pass their precomputed topology; the grouping is then never rebuilt per pick.
 */
export function candidates(
  hosts: readonly Host[], ctx: PickContext, r: () => number = Math.random, opts: BalancerOptions = {}, topo: Topology = topologyOf(hosts),
): readonly Host[] {
  if (hosts.length === 0) return [];
  let level = topo.levels[0]!;
  let healthy: number;
  if (topo.levels.length === 1) {
    healthy = healthyCount(level.hosts, ctx.now);
  } else {
    const counts = topo.levels.map((l) => healthyCount(l.hosts, ctx.now));
    const loads = priorityLoads(counts.map((c, i) => levelHealth(c, topo.levels[i]!.hosts.length)));
    // Nothing healthy anywhere: P0, in panic. One level carrying load: no random draw needed.
    const carrying = loads.filter((x) => x > 0).length;
    const i = carrying === 0 ? 0 : carrying === 1 ? loads.findIndex((x) => x > 0) : weightedIndex(loads, r());
    level = topo.levels[i]!;
    healthy = counts[i]!;
  }
  const panic = (100 * healthy) / level.hosts.length < PANIC_THRESHOLD_PERCENT;
  const set = opts.localityWeighted ? pickLocality(level, ctx.now, r()) : level.hosts;
  const avail = panic ? set : set.filter((h) => h.available(ctx.now));
  const pool = avail.length > 0 ? avail : set;
  if (ctx.avoid && ctx.avoid.size > 0) {
    const fresh = pool.filter((h) => !ctx.avoid!.has(h.key));
    if (fresh.length > 0) return fresh;
  }
  return pool;
}

class RoundRobin implements Balancer {
  private next = 0;
  private readonly topo: Topology;
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand, private readonly opts: BalancerOptions) { this.topo = topologyOf(hosts); }
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx, this.rand, this.opts, this.topo);
    if (c.length === 0) return undefined;
    return c[this.next++ % c.length];
  }
}

class RandomLb implements Balancer {
  private readonly topo: Topology;
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand, private readonly opts: BalancerOptions) { this.topo = topologyOf(hosts); }
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx, this.rand, this.opts, this.topo);
    return c.length === 0 ? undefined : c[Math.floor(this.rand() * c.length)];
  }
}

class LeastRequest implements Balancer {
  private readonly topo: Topology;
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand, private readonly opts: BalancerOptions) { this.topo = topologyOf(hosts); }
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx, this.rand, this.opts, this.topo);
    if (c.length <= 1) return c[0];
    const a = c[Math.floor(this.rand() * c.length)]!;
    let b = c[Math.floor(this.rand() * c.length)]!;
    if (b === a) b = c[(c.indexOf(a) + 1) % c.length]!;
    return b.active < a.active ? b : a;
  }
}

class RingHash implements Balancer {
  private readonly ring: { hash: number; host: Host }[] = [];
  private readonly topo: Topology;
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand, private readonly opts: BalancerOptions, ringSize = 1024) {
    this.topo = topologyOf(hosts);
    const totalWeight = hosts.reduce((s, h) => s + h.endpoint.weight, 0) || 1;
    for (const h of hosts) {
      const replicas = Math.max(1, Math.round((ringSize * h.endpoint.weight) / totalWeight));
      for (let i = 0; i < replicas; i++) this.ring.push({ hash: fnv1a(`${h.key}_${i}`), host: h });
    }
    this.ring.sort((x, y) => x.hash - y.hash);
  }
  pick(ctx: PickContext): Host | undefined {
    if (this.ring.length === 0) return undefined;
    const hash = ctx.hash ?? Math.floor(this.rand() * 0xffffffff);
    // First ring entry at or after the hash; walk on past unavailable hosts.
    let lo = 0, hi = this.ring.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (this.ring[mid]!.hash < hash) lo = mid + 1; else hi = mid; }
    // The level and locality are chosen from the hash too, so a key stays on its host.
    const r = (hash % 10_007) / 10_007;
    const allowed = new Set(candidates(this.hosts, ctx, () => r, this.opts, this.topo));
    for (let i = 0; i < this.ring.length; i++) {
      const e = this.ring[(lo + i) % this.ring.length]!;
      if (allowed.has(e.host)) return e.host;
    }
    return undefined;
  }
}

export function makeBalancer(policy: LbPolicy, hosts: readonly Host[], rand: Rand = Math.random, opts: BalancerOptions = {}): Balancer {
  switch (policy) {
    case 'round-robin': return new RoundRobin(hosts, rand, opts);
    case 'random': return new RandomLb(hosts, rand, opts);
    case 'least-request': return new LeastRequest(hosts, rand, opts);
    case 'ring-hash': return new RingHash(hosts, rand, opts);
  }
}
