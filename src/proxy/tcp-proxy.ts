// Plain TCP forwarding: pick a cluster (weighted) and a host, then splice bytes both ways.
// Nothing is parsed, so server-first protocols (MySQL, SMTP…) pass through untouched.
import net from 'node:net';
import type { Logger } from '../log/logger.js';
import type { NetworkFilter } from './config/model.js';
import type { ClusterManager } from './cluster-manager.js';
import type { OrigDst } from './orig-dst.js';
import type { Stats } from './stats.js';

export interface TcpProxyDeps { clusters: ClusterManager; stats: Stats; logger: Logger; now: () => number; rand: () => number }

export class TcpProxy {
  constructor(private readonly deps: TcpProxyDeps) {}

  /** `connDst` is the connection's original destination, which ORIGINAL_DST clusters forward to. */
  handle(down: net.Socket, filter: Extract<NetworkFilter, { kind: 'tcp' }>, connDst?: OrigDst): void {
    let x = this.deps.rand() * filter.totalWeight;
    let name = filter.clusters[filter.clusters.length - 1]!.name;
    for (const c of filter.clusters) { if (x < c.weight) { name = c.name; break; } x -= c.weight; }
    const cs = this.deps.clusters.get(name);
    const picked = cs?.pick({ now: this.deps.now() }, connDst ? { connDst } : {});
    const host = picked?.host;
    const labels = { destination_service: name };
    if (!cs || !host) {
      if (picked?.passthrough && !picked.passthrough.ok) {
        this.deps.logger.debug({ cluster: name, reason: picked.passthrough.reason, target: picked.passthrough.target }, 'passthrough refused');
      }
      this.deps.stats.inc('istio_tcp_connections_refused_total', labels);
      down.destroy();
      return;
    }
    this.deps.stats.inc('istio_tcp_connections_opened_total', labels);
    host.active++;
    const up = net.connect({ host: host.endpoint.address, port: host.endpoint.port, ...(cs.cluster.bindAddress ? { localAddress: cs.cluster.bindAddress } : {}) });
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
      this.deps.stats.inc('istio_tcp_received_bytes_total', labels, down.bytesRead);
      this.deps.stats.inc('istio_tcp_sent_bytes_total', labels, down.bytesWritten);
      this.deps.stats.inc('istio_tcp_connections_closed_total', labels);
    };
    up.on('error', close);
    down.on('error', close);
    up.on('close', close);
    down.on('close', close);
  }
}
