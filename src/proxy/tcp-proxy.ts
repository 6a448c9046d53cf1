// TCP forwarding: pick a cluster (weighted) and a host, then splice bytes both ways (over mTLS
// when the cluster originates it). Nothing is parsed, so server-first protocols (MySQL,
// SMTP…) pass through untouched.
import net from 'node:net';
import type { Logger } from '../log/logger.js';
import type { FilterChain, NetworkFilter } from './config/model.js';
import type { AuthzConnection } from './authz/index.js';
import type { ClusterManager } from './cluster-manager.js';
import type { OrigDst } from './orig-dst.js';
import type { Stats, TcpRecord } from './stats.js';

/** What the TCP metrics need to know about the downstream connection. */
export interface TcpConnContext {
  direction: 'inbound' | 'outbound';
  /** The verified mTLS peer's SPIFFE ID. */
  peerPrincipal?: string;
  /** The downstream connection is mutual TLS. */
  mtls: boolean;
}

/** Which side of the workload a listener serves, from its name (Istio's inbound listeners say so). */
export function listenerDirection(listenerName: string): TcpConnContext['direction'] {
  return listenerName.includes('inbound') || listenerName.startsWith('virtualInbound') ? 'inbound' : 'outbound';
}

/** The metrics' view of a connection accepted on `listenerName` and matched to `chain` (after TLS, if any). */
export function tcpConnContext(listenerName: string, chain: FilterChain, conn: AuthzConnection | undefined): TcpConnContext {
  const peer = conn?.peerPrincipal;
  return { direction: listenerDirection(listenerName), mtls: chain.tls?.requireClientCert === true || peer !== undefined, ...(peer ? { peerPrincipal: peer } : {}) };
}

export interface TcpProxyDeps { clusters: ClusterManager; stats: Stats; logger: Logger; now: () => number; rand: () => number }

export class TcpProxy {
  constructor(private readonly deps: TcpProxyDeps) {}

  /**
   * `connDst` is the connection's original destination, which ORIGINAL_DST clusters forward to;
   * `conn` labels the metrics (absent: an outbound plaintext connection).
   */
  handle(down: net.Socket, filter: Extract<NetworkFilter, { kind: 'tcp' }>, connDst?: OrigDst, conn?: TcpConnContext): void {
    let x = this.deps.rand() * filter.totalWeight;
    let name = filter.clusters[filter.clusters.length - 1]!.name;
    for (const c of filter.clusters) { if (x < c.weight) { name = c.name; break; } x -= c.weight; }
    const cs = this.deps.clusters.get(name);
    const picked = cs?.pick({ now: this.deps.now() }, connDst ? { connDst } : {});
    const host = picked?.host;
    const rec: TcpRecord = { cluster: name, direction: conn?.direction ?? 'outbound', mtls: conn?.mtls ?? false, ...(conn?.peerPrincipal ? { peerPrincipal: conn.peerPrincipal } : {}) };
    const stats = this.deps.stats;
    if (!cs || !host) {
      if (picked?.passthrough && !picked.passthrough.ok) {
        this.deps.logger.debug({ cluster: name, reason: picked.passthrough.reason, target: picked.passthrough.target }, 'passthrough refused');
      }
      stats.recordTcp('istio_tcp_connections_refused_total', rec);
      down.destroy();
      return;
    }
    stats.recordTcp('istio_tcp_connections_opened_total', rec);
    host.active++;
    const up = cs.dialTcp(host);
    up.setNoDelay(true);
    down.setNoDelay(true);
    const connectTimer = setTimeout(() => up.destroy(), cs.cluster.connectTimeoutMs);
    up.once('connect', () => clearTimeout(connectTimer));
    down.pipe(up);
    up.pipe(down);
    if (filter.idleTimeoutMs > 0) {
      down.setTimeout(filter.idleTimeoutMs, () => { down.destroy(); up.destroy(); });
    }
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(connectTimer);
      host.active--;
      down.destroy();
      up.destroy();
      stats.recordTcp('istio_tcp_received_bytes_total', rec, down.bytesRead);
      stats.recordTcp('istio_tcp_sent_bytes_total', rec, down.bytesWritten);
      stats.recordTcp('istio_tcp_connections_closed_total', rec);
    };
    up.on('error', close);
    down.on('error', close);
    up.on('close', close);
    down.on('close', close);
  }
}
