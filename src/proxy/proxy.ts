// The proxy runtime: holds the current config snapshot, reconciles bound listeners and
// upstream clusters with it, and owns the shared HTTP/H2/TCP forwarders. Config swaps are
// atomic: each request reads the snapshot once.
import type { Logger } from '../log/logger.js';
import type { Listener, ProxyConfig } from './config/model.js';
import { ClusterManager } from './cluster-manager.js';
import { HttpProxy } from './http-proxy.js';
import { H2Proxy } from './h2-proxy.js';
import { TcpProxy } from './tcp-proxy.js';
import { ListenerRuntime } from './listener.js';
import { Stats, type WorkloadLabels } from './stats.js';
import type { TlsIdentity } from './tls.js';
import { loadOrigDstAddon, originalDst } from './orig-dst.js';
import { JwksCache, type KeyResolver, type RemoteJwks } from './authn/index.js';
import os from 'node:os';
import { PROXY_PORTS } from '../api/sidecar.js';
import { localAddressPredicate, type LoopGuard } from './passthrough.js';
import type { CredentialStore } from './credentials.js';

/** Interface addresses are re-read at most this often (a pod's IP does not change under a running proxy). */
const LOCAL_ADDRESS_TTL_MS = 5_000;
import { SpanExporter, type ExporterOptions, type TraceProtocol } from './tracing/exporter.js';
import { Tracer } from './tracing/tracer.js';
import { DEFAULT_HEADER_LIMITS, type HeaderLimits } from './header-limits.js';

/** Tracing from MeshConfig telemetry.tracing (via the injected env); without an endpoint, tracing is off. */
export interface ProxyTracing {
  samplingPercent: number;
  /** Collector host:port. */
  endpoint: string;
  protocol: TraceProtocol;
  nodeId: string;
  /** service.name / localEndpoint.serviceName of the spans. */
  serviceName: string;
  /** Exporter tuning (tests); defaults in EXPORTER_DEFAULTS. */
  exporter?: Pick<ExporterOptions, 'maxQueue' | 'maxBatch' | 'flushIntervalMs' | 'timeoutMs' | 'send'>;
}

export interface ProxyDeps {
  logger: Logger;
  now?: () => number;
  rand?: () => number;
  /** Overrides listener bind addresses (tests bind everything to 127.0.0.1). */
  bindAddress?: string;
  /** Deadline for a request's complete header block (slowloris); default 10 s. */
  headersTimeoutMs?: number;
  /** JSON access log (one line per request); undefined = off. */
  accessLog?: Logger;
  /** Gateway credentials (credentialName Secrets); without it such chains close their connections. */
  credentials?: CredentialStore;
  /** Spans for sampled requests; undefined (or no endpoint) = off, trace headers pass through. */
  tracing?: ProxyTracing;
  /** This proxy's workload in the metrics (source_* or destination_* labels); absent = "unknown". */
  workload?: WorkloadLabels;
}

/** Every credentialName the listeners' TLS chains serve. */
export function credentialNames(cfg: ProxyConfig): string[] {
  const out = new Set<string>();
  for (const l of cfg.listeners.values()) {
    for (const c of [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])]) if (c.tls?.credentialName) out.add(c.tls.credentialName);
  }
  return [...out].sort();
}

/** The listener's header limits: its (first) HTTP connection manager's, else Envoy's defaults. */
function headerLimits(l: Listener): HeaderLimits {
  const f = [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])].find((c) => c.filter.kind === 'http')?.filter;
  return f?.kind === 'http' ? { maxHeaderBytes: f.maxRequestHeadersKb * 1024, maxHeaders: f.maxHeadersCount } : DEFAULT_HEADER_LIMITS;
}

/** Every remote JWKS the config's jwt_authn providers name. */
function remoteJwks(cfg: ProxyConfig): RemoteJwks[] {
  const out: RemoteJwks[] = [];
  for (const l of cfg.listeners.values()) {
    for (const fc of [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])]) {
      if (fc.filter.kind !== 'http') continue;
      for (const f of fc.filter.jwt) for (const p of f.providers.values()) if (p.jwks.kind === 'remote') out.push(p.jwks.remote);
    }
  }
  return out;
}

export function emptyConfig(): ProxyConfig {
  return { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map() };
}

export class Proxy {
  readonly stats: Stats;
  readonly clusters: ClusterManager;
  private cfg: ProxyConfig = emptyConfig();
  private identityRef: TlsIdentity | undefined;
  private readonly listeners = new Map<string, { rt: ListenerRuntime; key: string; port: number }>();
  private readonly http: HttpProxy;
  private readonly h2: H2Proxy;
  private readonly tcp: TcpProxy;
  private readonly addon = loadOrigDstAddon();
  private updating: Promise<void> = Promise.resolve();
  private readonly jwks: JwksCache;
  /** The span exporter when tracing is on (admin and tests read its counts). */
  readonly spans: SpanExporter | undefined;

  constructor(private readonly deps: ProxyDeps) {
    this.stats = new Stats(deps.workload);
    const now = deps.now ?? Date.now;
    const rand = deps.rand ?? Math.random;
    this.clusters = new ClusterManager({
      now, rand, identity: () => this.identityRef, loopGuard: () => this.loopGuard(),
      onHostsLost: (cluster, info) => this.deps.logger.warn({ cluster, ...info }, 'cluster has no endpoints any more; requests to it get 503 UH'),
    });
    this.jwks = new JwksCache({ clusters: this.clusters, logger: deps.logger, now });
    const jwtKeys: KeyResolver = (p) => (p.jwks.kind === 'local' ? p.jwks.keys : this.jwks.keysFor(p.jwks.remote));
    const common = { clusters: this.clusters, stats: this.stats, logger: deps.logger, now, rand };
    const t = deps.tracing;
    this.spans = t?.endpoint ? new SpanExporter({
      endpoint: t.endpoint, protocol: t.protocol, serviceName: t.serviceName, logger: deps.logger, stats: this.stats, ...(t.exporter ?? {}),
    }) : undefined;
    const tracer = t && this.spans ? new Tracer({ samplingPercent: t.samplingPercent, nodeId: t.nodeId }, this.spans, rand) : undefined;
    const traced = tracer ? { tracer } : {};
    this.http = new HttpProxy({ ...common, jwtKeys, ...traced, ...(deps.accessLog ? { accessLog: deps.accessLog } : {}) });
    this.h2 = new H2Proxy({ ...common, jwtKeys, ...traced });
    this.tcp = new TcpProxy(common);
  }

  private localAddresses: { at: number; isLocal: (ip: string) => boolean } | undefined;

  /** Passthrough never dials the proxy's own ports on a local address (that would loop through capture). */
  private loopGuard(): LoopGuard {
    const now = Date.now();
    if (!this.localAddresses || now - this.localAddresses.at > LOCAL_ADDRESS_TTL_MS) {
      const addrs = Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
      this.localAddresses = { at: now, isLocal: localAddressPredicate(addrs) };
    }
    const ownPorts = new Set<number>(Object.values(PROXY_PORTS));
    for (const l of this.listeners.values()) ownPorts.add(l.port);
    for (const l of this.cfg.listeners.values()) if (l.bindToPort && l.port > 0) ownPorts.add(l.port);
    return { ownPorts, isLocalAddress: this.localAddresses.isLocal };
  }

  get config(): ProxyConfig {
    return this.cfg;
  }

  set identity(id: TlsIdentity | undefined) {
    this.identityRef = id;
  }

  get identity(): TlsIdentity | undefined {
    return this.identityRef;
  }

  /** Bound port of a listener by name (for tests and the admin dump). */
  listenerPort(name: string): number | undefined {
    return this.listeners.get(name)?.port;
  }

  /** Apply a new snapshot: clusters first (so routes never point at missing pools), then listeners. */
  apply(next: ProxyConfig): Promise<void> {
    this.updating = this.updating.then(() => this.applyNow(next));
    return this.updating;
  }

  private async applyNow(next: ProxyConfig): Promise<void> {
    this.clusters.update(next);
    // Fetch new credentials before the listeners that serve them start accepting.
    if (this.deps.credentials) await this.deps.credentials.want(credentialNames(next));
    this.cfg = next;
    // Keep-alive connections re-resolve their filter chain (RBAC, routes) on their next request.
    for (const { rt } of this.listeners.values()) rt.configChanged();
    // Fetch remote JWKS now (Envoy's async_fetch), so the first tokens do not meet an empty cache.
    const remotes = remoteJwks(next);
    this.jwks.retainOnly(remotes);
    for (const r of remotes) void this.jwks.refresh(r);
    for (const [name, l] of next.listeners) {
      if (!l.bindToPort) continue;
      const addr = this.deps.bindAddress ?? l.address;
      const key = `${addr}:${l.port}`;
      const cur = this.listeners.get(name);
      if (cur && cur.key === key) continue;
      if (cur) { await cur.rt.stopAccepting(); this.listeners.delete(name); }
      const rt = new ListenerRuntime(name, {
        config: () => this.cfg, http: this.http, h2: this.h2, tcp: this.tcp, identity: () => this.identityRef,
        logger: this.deps.logger, origDst: (s) => originalDst(s, this.addon),
        credential: (name) => this.deps.credentials?.get(name),
      }, headerLimits(l), this.deps.headersTimeoutMs);
      try {
        const port = await rt.listen(addr, l.port);
        this.listeners.set(name, { rt, key, port });
        this.deps.logger.info({ listener: name, address: addr, port }, 'listener started');
      } catch (err) {
        this.deps.logger.error({ err, listener: name }, 'listener bind failed');
      }
    }
    for (const [name, cur] of this.listeners) {
      if (!next.listeners.has(name) || next.listeners.get(name)?.bindToPort === false) {
        this.listeners.delete(name);
        void cur.rt.stopAccepting();
      }
    }
  }

  /** Graceful drain: stop accepting, wait for connections to finish up to `timeoutMs`, then cut the rest. */
  async drain(timeoutMs: number): Promise<void> {
    const rts = [...this.listeners.values()].map((l) => l.rt);
    const closed = Promise.all(rts.map((rt) => rt.startDrain()));
    const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([closed, deadline]);
    for (const rt of rts) rt.destroyConnections();
  }

  async close(): Promise<void> {
    const rts = [...this.listeners.values()].map((l) => l.rt);
    this.listeners.clear();
    const closed = Promise.all(rts.map((rt) => rt.stopAccepting()));
    for (const rt of rts) rt.destroyConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.clusters.close();
    this.deps.credentials?.close();
    await this.spans?.close();
  }
}
