// Live state of one upstream endpoint, shared by the balancer, the outlier detector and
// the circuit breaker. Identity is "address:port".
import type { Endpoint } from '../config/model.js';

export class Host {
  readonly key: string;
  /** Requests in flight to this host (least-request reads it). */
  active = 0;
  /** Epoch ms until which the outlier detector keeps this host out; 0 = not ejected. */
  ejectedUntil = 0;
  ejections = 0;
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;

  constructor(public endpoint: Endpoint) {
    this.key = `${endpoint.address}:${endpoint.port}`;
  }

  available(now: number): boolean {
    return this.endpoint.healthy && this.ejectedUntil <= now;
  }
}

/** 32-bit FNV-1a: a stable, dependency-free hash for ring placement and request keys. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so nearby keys spread over the ring.
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}
