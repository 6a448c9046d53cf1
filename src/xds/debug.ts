// HTTP debug endpoint of the control plane (node:http), for weftctl proxy-status/proxy-config:
//   GET /debug/syncz              per connected proxy: versions sent and ACKed per type, last NACK
//   GET /debug/configz?proxyID=X  the generated resources of node X, by type (no id: list of nodes)
//   GET /debug/registryz          informer status and model counts
//   GET /metrics                  Prometheus text: pushes, connected proxies, plus any attached
//                                 source (the CA's certificate expiry and issuance counters)
//   GET /healthz                  200 once serving
//   GET /ready                    200 once the registry has synced (the pod's readiness probe), else 503
// Loopback by default; it exposes config, so it is never bound to a public address by us.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { ControlPlane } from './controlplane.js';

export interface DebugServer {
  address: string;
  close(): Promise<void>;
}

export interface DebugServerOptions {
  controlPlane: ControlPlane;
  host: string;
  port: number;
  logger: Logger;
  /** Extra Prometheus text for /metrics (e.g. caMetricsText), read on every scrape. */
  metricsText?: () => string;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4';

/** The control plane's own metrics in Prometheus text. Pure. */
export function controlPlaneMetricsText(cp: Pick<ControlPlane, 'status'>): string {
  const st = cp.status();
  return [
    '# HELP weft_xds_pushes_total Configuration pushes since start.',
    '# TYPE weft_xds_pushes_total counter',
    `weft_xds_pushes_total ${st.pushes}`,
    '# HELP weft_xds_connected_proxies Proxies with an open ADS stream.',
    '# TYPE weft_xds_connected_proxies gauge',
    `weft_xds_connected_proxies ${st.proxies.length}`,
    '',
  ].join('\n');
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Routes one request; exported for tests that do not want a socket. */
export function handleDebugRequest(cp: ControlPlane, method: string, rawUrl: string, metricsText?: () => string): { status: number; body: unknown; contentType?: string } {
  if (method !== 'GET') return { status: 405, body: { error: 'only GET is supported' } };
  const url = new URL(rawUrl, 'http://debug');
  switch (url.pathname) {
    case '/healthz':
      return { status: 200, body: { ok: true } };
    case '/ready': {
      // Ready once the registry has synced: a proxy connecting earlier would get a partial mesh.
      const st = cp.status();
      return st.synced ? { status: 200, body: { ready: true } } : { status: 503, body: { ready: false, informers: st.informers.filter((i) => !i.synced).map((i) => i.kind) } };
    }
    case '/metrics':
      return { status: 200, body: controlPlaneMetricsText(cp) + (metricsText?.() ?? ''), contentType: PROMETHEUS_CONTENT_TYPE };
    case '/debug/syncz': {
      const st = cp.status();
      return { status: 200, body: { pushes: st.pushes, lastPush: st.lastPush, proxies: st.proxies } };
    }
    case '/debug/configz': {
      const id = url.searchParams.get('proxyID');
      if (!id) return { status: 200, body: { proxies: cp.status().proxies.map((p) => ({ nodeId: p.nodeId, snapshot: p.snapshot })) } };
      const dump = cp.configDump(id);
      if (!dump) return { status: 404, body: { error: 'no config for this proxy', proxyID: id } };
      return { status: 200, body: { proxyID: id, resources: dump } };
    }
    case '/debug/registryz': {
      const st = cp.status();
      const m = cp.source.model();
      return {
        status: 200,
        body: {
          synced: st.synced,
          informers: st.informers,
          model: {
            services: m.services.length,
            endpoints: m.endpoints.length,
            virtualServices: m.virtualServices.length,
            destinationRules: m.destinationRules.length,
            gateways: m.gateways.length,
            serviceEntries: m.serviceEntries.length,
            peerAuthentications: m.peerAuthentications.length,
            authorizationPolicies: m.authorizationPolicies.length,
            requestAuthentications: m.requestAuthentications.length,
          },
          lastTranslateError: st.lastTranslateError,
        },
      };
    }
    default:
      return { status: 404, body: { error: 'unknown path', paths: ['/healthz', '/ready', '/metrics', '/debug/syncz', '/debug/configz', '/debug/registryz'] } };
  }
}

export async function startDebugServer(opts: DebugServerOptions): Promise<DebugServer> {
  const server = http.createServer((req, res) => {
    try {
      const r = handleDebugRequest(opts.controlPlane, req.method ?? 'GET', req.url ?? '/', opts.metricsText);
      if (r.contentType && typeof r.body === 'string') {
        res.writeHead(r.status, { 'content-type': r.contentType, 'content-length': Buffer.byteLength(r.body) });
        res.end(r.body);
      } else send(res, r.status, r.body);
    } catch (e) {
      opts.logger.error({ err: (e as Error).message }, 'debug request failed');
      send(res, 500, { error: 'internal error' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
