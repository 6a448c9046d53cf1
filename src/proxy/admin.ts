// Admin port (localhost only): readiness, Prometheus stats, config dump, cluster and cert
// state, drain and log level. Also the health port's readiness endpoint.
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '../log/logger.js';
import type { Proxy } from './proxy.js';
import type { XdsClient } from './xds-client.js';
import type { DnsProxy } from './dns/server.js';
import { peerUris } from './tls.js';
import { X509Certificate } from 'node:crypto';
import { runAppProbe, type AppProbes } from './app-probes.js';

export interface AdminDeps {
  proxy: Proxy;
  logger: Logger;
  xds?: XdsClient;
  /** PEM chain of the workload certificate, for /certs. */
  certChainPem?: () => string | undefined;
  /** SHA-256 of the root the workload certificate chains to (root rotation progress), for /certs. */
  rootFingerprint?: () => string | undefined;
  /** Starts a graceful drain (SIGTERM does the same). */
  drain: () => void;
  now?: () => number;
  /** Rewritten app probes (WEFT_APP_PROBES), served under /app-health/ on the health port. */
  appProbes?: AppProbes;
  /** Extra Prometheus text for /stats/prometheus (e.g. workloadCertMetricsText). */
  extraMetrics?: () => string;
  /** The DNS proxy, whose name table and counters /config_dump shows. */
  dns?: DnsProxy;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export function isReady(proxy: Proxy, xds: XdsClient | undefined): boolean {
  // Ready once a first config arrived (with xDS) or listeners exist (static config).
  if (xds) return xds.lds.version !== '' && xds.cds.version !== '';
  return proxy.config.listeners.size > 0;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function text(res: http.ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function configDump(proxy: Proxy, xds: XdsClient | undefined, dns?: DnsProxy): unknown {
  const cfg = proxy.config;
  return {
    versions: xds ? { lds: xds.lds.version, rds: xds.rds.version, cds: xds.cds.version, eds: xds.eds.version } : undefined,
    nacks: xds ? Object.fromEntries(xds.lastNack) : undefined,
    dns: dns ? { ndsVersion: xds?.nds.version, stats: dns.stats, nameTable: dns.nameTable() } : undefined,
    listeners: [...cfg.listeners.values()].map((l) => ({
      name: l.name, address: l.address, port: l.port, boundPort: proxy.listenerPort(l.name),
      filterChains: l.filterChains.map((fc) => ({ name: fc.name, match: fc.match, filter: fc.filter.kind, rds: fc.filter.kind === 'http' ? fc.filter.rdsName : undefined, tls: fc.tls })),
    })),
    routes: [...cfg.routes.values()].map((t) => ({
      name: t.name,
      virtualHosts: t.virtualHosts.map((v) => ({ name: v.name, domains: v.domains, routes: v.routes.map((r) => ({ name: r.name, action: r.action.kind })) })),
    })),
    clusters: [...cfg.clusters.values()].map((c) => ({ name: c.name, lbPolicy: c.lbPolicy, eds: c.edsServiceName, tls: c.tls, circuitBreakers: c.circuitBreakers, outlier: c.outlier })),
  };
}

export function createAdminHandler(deps: AdminDeps): http.RequestListener {
  const now = deps.now ?? Date.now;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname.startsWith('/app-health/')) {
      const probe = deps.appProbes?.get(url.pathname);
      if (!probe) { text(res, 404, 'unknown app probe\n'); return; }
      runAppProbe(probe).then(
        (ok) => text(res, ok ? 200 : 503, ok ? 'ok\n' : 'app probe failed\n'),
        () => text(res, 503, 'app probe failed\n'),
      );
      return;
    }
    switch (url.pathname) {
      case '/ready':
      case '/healthz/ready':
        if (isReady(deps.proxy, deps.xds)) text(res, 200, 'LIVE\n');
        else text(res, 503, 'not ready: waiting for config\n');
        return;
      case '/stats/prometheus':
      case '/stats':
        deps.proxy.stats.prometheus().then(
          (body) => text(res, 200, body + (deps.extraMetrics?.() ?? ''), 'text/plain; version=0.0.4'),
          (err: unknown) => text(res, 500, `metrics: ${String(err)}\n`),
        );
        return;
      case '/config_dump':
        json(res, 200, configDump(deps.proxy, deps.xds, deps.dns));
        return;
      case '/clusters': {
        const t = now();
        const out = deps.proxy.clusters.names().map((n) => {
          const cs = deps.proxy.clusters.get(n)!;
          return {
            name: n, requests: cs.breaker.requests,
            hosts: cs.hosts.map((h) => ({
              address: h.key, healthy: h.endpoint.healthy, ejected: h.ejectedUntil > t, active: h.active, locality: h.endpoint.locality,
              priority: h.endpoint.priority, ...(h.endpoint.localityWeight !== undefined ? { localityWeight: h.endpoint.localityWeight } : {}),
            })),
          };
        });
        json(res, 200, out);
        return;
      }
      case '/certs': {
        const pem = deps.certChainPem?.();
        if (!pem) { json(res, 200, { certificates: [] }); return; }
        try {
          const c = new X509Certificate(pem);
          const root = deps.rootFingerprint?.();
          json(res, 200, { certificates: [{ subjectAltNames: peerUris({ subjectaltname: c.subjectAltName } as never), serial: c.serialNumber, validFrom: c.validFrom, validTo: c.validTo, ...(root ? { rootFingerprint: root } : {}) }] });
        } catch {
          json(res, 500, { error: 'certificate unreadable' });
        }
        return;
      }
      case '/drain':
        if (req.method !== 'POST') { text(res, 405, 'POST only\n'); return; }
        deps.drain();
        text(res, 200, 'draining\n');
        return;
      case '/logging': {
        const level = url.searchParams.get('level');
        if (!level || !LEVELS.has(level)) { text(res, 400, `level must be one of ${[...LEVELS].join(', ')}\n`); return; }
        deps.logger.level = level;
        text(res, 200, `level=${level}\n`);
        return;
      }
      default:
        text(res, 404, 'unknown admin path\n');
    }
  };
}

export function startAdminServer(deps: AdminDeps, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer({ headersTimeout: 5000, requestTimeout: 10_000 }, createAdminHandler(deps));
  server.on('clientError', (_e, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server); });
  });
}

export function boundPort(server: http.Server): number {
  return (server.address() as net.AddressInfo).port;
}
