// Load-balancing algorithms over a cluster's hosts (Envoy semantics, simplified):
// round robin, least request (power of two choices), random, ring hash. Priority-based
// failover: the lowest priority that has an available host wins. Pure given `rand`/`now`.
import type { LbPolicy } from '../config/model.js';
import { fnv1a, type Host } from './host.js';

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

type Rand = () => number;

/** Available hosts of the best priority, minus avoided ones (unless that empties the set). */
export function candidates(hosts: readonly Host[], ctx: PickContext): Host[] {
  let best = Infinity;
  for (const h of hosts) if (h.available(ctx.now) && h.endpoint.priority < best) best = h.endpoint.priority;
  if (best === Infinity) {
    // Every host is ejected or unhealthy: Envoy's panic mode balances over all of them.
    return hosts.filter((h) => h.endpoint.healthy).length > 0 ? hosts.filter((h) => h.endpoint.healthy) : [...hosts];
  }
  const avail = hosts.filter((h) => h.available(ctx.now) && h.endpoint.priority === best);
  if (ctx.avoid && ctx.avoid.size > 0) {
    const fresh = avail.filter((h) => !ctx.avoid!.has(h.key));
    if (fresh.length > 0) return fresh;
  }
  return avail;
}

class RoundRobin implements Balancer {
  private next = 0;
  constructor(readonly hosts: readonly Host[]) {}
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx);
    if (c.length === 0) return undefined;
    return c[this.next++ % c.length];
  }
}

class RandomLb implements Balancer {
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand) {}
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx);
    return c.length === 0 ? undefined : c[Math.floor(this.rand() * c.length)];
  }
}

class LeastRequest implements Balancer {
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand) {}
  pick(ctx: PickContext): Host | undefined {
    const c = candidates(this.hosts, ctx);
    if (c.length <= 1) return c[0];
    const a = c[Math.floor(this.rand() * c.length)]!;
    let b = c[Math.floor(this.rand() * c.length)]!;
    if (b === a) b = c[(c.indexOf(a) + 1) % c.length]!;
    return b.active < a.active ? b : a;
  }
}

class RingHash implements Balancer {
  private readonly ring: { hash: number; host: Host }[] = [];
  constructor(readonly hosts: readonly Host[], private readonly rand: Rand, ringSize = 1024) {
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
    const allowed = new Set(candidates(this.hosts, ctx));
    for (let i = 0; i < this.ring.length; i++) {
      const e = this.ring[(lo + i) % this.ring.length]!;
      if (allowed.has(e.host)) return e.host;
    }
    return undefined;
  }
}

export function makeBalancer(policy: LbPolicy, hosts: readonly Host[], rand: Rand = Math.random): Balancer {
  switch (policy) {
    case 'round-robin': return new RoundRobin(hosts);
    case 'random': return new RandomLb(hosts, rand);
    case 'least-request': return new LeastRequest(hosts, rand);
    case 'ring-hash': return new RingHash(hosts, rand);
  }
}
