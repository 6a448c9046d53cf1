// Runtime state per upstream cluster: hosts (kept across config updates by address so
// outlier and load state survive), balancer, circuit breaker, outlier detector, and the
// upstream connection pools (HTTP/1 keep-alive agents, HTTP/2 sessions).
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import net from 'node:net';
import type { Cluster, Endpoint, ProxyConfig } from './config/model.js';
import { makeBalancer, type Balancer } from './balance/balancers.js';
import { Host } from './balance/host.js';
import { CircuitBreaker } from './resilience/circuit-breaker.js';
import { OutlierDetector } from './resilience/outlier.js';
import { checkPeerIdentity, type TlsIdentity } from './tls.js';
import type { PickContext } from './balance/balancers.js';
import type { OrigDst } from './orig-dst.js';
import { RawPool } from './h1/raw-pool.js';
import { passthroughTarget, type LoopGuard, type PassthroughDecision } from './passthrough.js';

export interface ClusterDeps {
  now: () => number;
  rand: () => number;
  /** Workload identity for clusters whose transport socket is TLS; undefined = no mTLS available. */
  identity?: () => TlsIdentity | undefined;
  /** What passthrough (ORIGINAL_DST) must never dial: the proxy's own listeners. Default: nothing is local. */
  loopGuard?: () => LoopGuard;
  /** Told when a config update leaves a cluster that had hosts with none (requests to it get 503 UH). */
  onHostsLost?: (cluster: string, info: { had: number; edsEntry: boolean }) => void;
}

/** Facts an ORIGINAL_DST cluster picks its host from; ignored by every other cluster. */
export interface PassthroughFacts {
  connDst?: OrigDst;
  /** x-envoy-original-dst-host (HTTP only). */
  header?: string;
}

export type HostPick = { host: Host; passthrough?: PassthroughDecision } | { host: undefined; passthrough?: PassthroughDecision };

/** At most this many on-demand passthrough hosts per cluster; beyond it, idle ones are dropped first. */
export const MAX_PASSTHROUGH_HOSTS = 1024;
const NO_LOOP_GUARD: LoopGuard = { ownPorts: new Set(), isLocalAddress: () => false };

/** Idle keep-alive sockets are closed before a typical upstream's 5 s keep-alive timeout. */
const IDLE_SOCKET_MS = 4000;

export class ClusterState {
  hosts: Host[] = [];
  balancer: Balancer;
  readonly breaker: CircuitBreaker;
  outlier?: OutlierDetector;
  private sweepTimer?: NodeJS.Timeout;
  private readonly agents = new Map<string, http.Agent>();
  private readonly rawPools = new Map<string, RawPool>();
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  /** ORIGINAL_DST hosts by address:port, made on demand and dropped once unused (Envoy's cleanup_interval). */
  private readonly passthroughHosts = new Map<string, { host: Host; lastUsed: number }>();
  private cleanupTimer?: NodeJS.Timeout;

  constructor(public cluster: Cluster, private readonly deps: ClusterDeps) {
    this.breaker = new CircuitBreaker(cluster.circuitBreakers);
    this.balancer = makeBalancer(cluster.lbPolicy, [], deps.rand);
    this.configure(cluster);
  }

  configure(cluster: Cluster): void {
    this.cluster = cluster;
    this.breaker.limits = cluster.circuitBreakers;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (cluster.outlier) {
      this.outlier = new OutlierDetector(cluster.outlier, () => this.hosts);
      const od = this.outlier;
      this.sweepTimer = setInterval(() => od.sweep(this.deps.now()), cluster.outlier.intervalMs);
      this.sweepTimer.unref();
    } else {
      this.outlier = undefined;
    }
    this.balancer = makeBalancer(cluster.lbPolicy, this.hosts, this.deps.rand, { localityWeighted: cluster.localityWeighted === true });
    clearInterval(this.cleanupTimer);
    this.cleanupTimer = undefined;
    if (cluster.originalDst) {
      this.cleanupTimer = setInterval(() => this.sweepPassthrough(this.deps.now()), cluster.originalDst.cleanupIntervalMs);
      this.cleanupTimer.unref();
    } else {
      this.dropPassthroughHosts(() => true);
    }
  }

  /**
   * The host for one request or connection. ORIGINAL_DST clusters use the connection's
   * original destination (or the header, when enabled); the rest ask the balancer.
   */
  pick(ctx: PickContext, facts: PassthroughFacts = {}): HostPick {
    const od = this.cluster.originalDst;
    if (!od) return { host: this.balancer.pick(ctx) };
    const decision = passthroughTarget({ ...facts, useHttpHeader: od.useHttpHeader }, (this.deps.loopGuard ?? (() => NO_LOOP_GUARD))());
    if (!decision.ok) return { host: undefined, passthrough: decision };
    const key = `${decision.target.address}:${decision.target.port}`;
    let entry = this.passthroughHosts.get(key);
    if (!entry) {
      if (this.passthroughHosts.size >= MAX_PASSTHROUGH_HOSTS) this.sweepPassthrough(Infinity);
      if (this.passthroughHosts.size >= MAX_PASSTHROUGH_HOSTS) return { host: undefined, passthrough: decision };
      entry = {
        host: new Host({ address: decision.target.address, port: decision.target.port, weight: 1, healthy: true, locality: '//', priority: 0 }),
        lastUsed: ctx.now,
      };
      this.passthroughHosts.set(key, entry);
    }
    entry.lastUsed = ctx.now;
    return { host: entry.host, passthrough: decision };
  }

  /** Passthrough hosts currently known (admin /clusters, tests). */
  get passthroughHostCount(): number {
    return this.passthroughHosts.size;
  }

  /** Drops passthrough hosts with nothing in flight that were last used before `before`. */
  sweepPassthrough(now: number): void {
    const idleMs = this.cluster.originalDst?.cleanupIntervalMs ?? 0;
    this.dropPassthroughHosts((e) => e.host.active === 0 && now - e.lastUsed >= idleMs);
  }

  private dropPassthroughHosts(drop: (e: { host: Host; lastUsed: number }) => boolean): void {
    for (const [k, e] of this.passthroughHosts) {
      if (!drop(e)) continue;
      this.passthroughHosts.delete(k);
      this.agents.get(k)?.destroy();
      this.agents.delete(k);
      this.rawPools.get(k)?.destroy();
      this.rawPools.delete(k);
      this.sessions.get(k)?.close();
      this.sessions.delete(k);
    }
  }

  setEndpoints(eps: Endpoint[]): void {
    const old = new Map(this.hosts.map((h) => [h.key, h]));
    this.hosts = eps.map((e) => {
      const prev = old.get(`${e.address}:${e.port}`);
      if (!prev) return new Host(e);
      prev.endpoint = e; // same object: in-flight requests still hold it
      return prev;
    });
    const keep = new Set([...this.hosts.map((h) => h.key), ...this.passthroughHosts.keys()]);
    for (const [k, a] of this.agents) if (!keep.has(k)) { a.destroy(); this.agents.delete(k); }
    for (const [k, p] of this.rawPools) if (!keep.has(k)) { p.destroy(); this.rawPools.delete(k); }
    for (const [k, s] of this.sessions) if (!keep.has(k)) { s.close(); this.sessions.delete(k); }
    this.balancer = makeBalancer(this.cluster.lbPolicy, this.hosts, this.deps.rand, { localityWeighted: this.cluster.localityWeighted === true });
  }

  /** The HTTP/1 keep-alive agent for a host (TLS-originating when the cluster says so). */
  agentFor(host: Host): http.Agent {
    let a = this.agents.get(host.key);
    if (!a) {
      const bind = this.cluster.bindAddress;
      a = new http.Agent({
        keepAlive: true, maxSockets: this.cluster.circuitBreakers.maxConnections, timeout: IDLE_SOCKET_MS, scheduling: 'lifo',
        ...(bind ? { localAddress: bind } : {}),
      } as http.AgentOptions);
      // Dial ourselves so every new TLS connection picks up the current (rotated) context.
      if (this.cluster.tls) (a as unknown as { createConnection: (o: net.NetConnectOpts) => net.Socket }).createConnection = (o) => this.dial(o as net.TcpNetConnectOpts);
      this.agents.set(host.key, a);
    }
    return a;
  }

  /**
   * A raw connection to a host for the TCP proxy: mutual TLS when the cluster originates it
   * (a STRICT peer refuses plaintext) with the cluster's own ALPN, bound to its source address.
   */
  dialTcp(host: Host): net.Socket {
    const { address, port } = host.endpoint;
    const alpn = this.cluster.tls?.alpn.length ? [...this.cluster.tls.alpn] : ['istio'];
    return this.dial({ host: address, port, localAddress: this.cluster.bindAddress }, alpn);
  }

  /**
   * One new upstream connection: TLS-originating (mesh mTLS) when the cluster says so. ALPN
   * defaults to HTTP/1.1 first, then the cluster's list (Istio sends istio-peer-exchange, istio):
   * a server offering only h2/http/1.1 would otherwise fail the handshake with no_application_protocol.
   */
  dial(opts: { host?: string | undefined; port: number; localAddress?: string | undefined }, alpn?: string[]): net.Socket {
    const tlsCfg = this.cluster.tls;
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    if (!tlsCfg) return net.connect({ host: opts.host, port: opts.port, noDelay: true, ...local } as net.TcpNetConnectOpts);
    const id = this.deps.identity?.();
    // Nagle off, as the agent asks for plain sockets: with it on, a request written in
    // two TLS records waits for the peer's delayed ACK (tens of ms). tls.connect passes
    // noDelay on to its TCP socket; @types/node does not list it.
    const tcp: Pick<net.TcpNetConnectOpts, 'noDelay'> = { noDelay: true };
    return tls.connect({
      ...tcp, host: opts.host, port: opts.port, secureContext: id?.secureContext, servername: tlsCfg.sni, ...local,
      ALPNProtocols: alpn ?? http1Alpn(tlsCfg.alpn),
      checkServerIdentity: (_h, cert) => checkPeerIdentity(cert, tlsCfg.expectedSans),
    });
  }

  /** The raw HTTP/1 keep-alive pool for a host (the fast path's counterpart of agentFor). */
  rawPoolFor(host: Host): RawPool {
    let p = this.rawPools.get(host.key);
    if (!p) {
      const { address, port } = host.endpoint;
      const bind = this.cluster.bindAddress;
      p = new RawPool(() => this.dial({ host: address, port, localAddress: bind }), this.cluster.circuitBreakers.maxConnections, IDLE_SOCKET_MS, Boolean(this.cluster.tls));
      this.rawPools.set(host.key, p);
    }
    return p;
  }

  /** A live HTTP/2 session to a host, opened on demand. */
  sessionFor(host: Host): http2.ClientHttp2Session {
    const cur = this.sessions.get(host.key);
    if (cur && !cur.closed && !cur.destroyed) return cur;
    const { address, port } = host.endpoint;
    // The same dial as every upstream: mesh mTLS when the cluster says so, and the inbound
    // cluster's bind address (127.0.0.6), which tells the pod's iptables this is the proxy
    // reaching its own app (without it the connection is captured again).
    const s = http2.connect(`${this.cluster.tls ? 'https' : 'http'}://${address}:${port}`, {
      createConnection: () => this.dial({ host: address, port, localAddress: this.cluster.bindAddress }, ['h2']),
    });
    s.on('error', () => { /* surfaced on the streams; the session is dropped below */ });
    s.on('close', () => { if (this.sessions.get(host.key) === s) this.sessions.delete(host.key); });
    s.on('goaway', () => { if (this.sessions.get(host.key) === s) this.sessions.delete(host.key); });
    s.unref();
    this.sessions.set(host.key, s);
    return s;
  }

  close(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.cleanupTimer);
    this.passthroughHosts.clear();
    for (const a of this.agents.values()) a.destroy();
    for (const p of this.rawPools.values()) p.destroy();
    this.rawPools.clear();
    for (const s of this.sessions.values()) s.destroy();
    this.agents.clear();
    this.sessions.clear();
  }
}

export class ClusterManager {
  private readonly states = new Map<string, ClusterState>();

  constructor(private readonly deps: ClusterDeps) {}

  get(name: string): ClusterState | undefined {
    return this.states.get(name);
  }

  names(): string[] {
    return [...this.states.keys()];
  }

  /** Reconcile with a new config: add, update (keeping host state) and remove clusters. */
  update(cfg: ProxyConfig): void {
    for (const [name, c] of cfg.clusters) {
      let st = this.states.get(name);
      if (!st) { st = new ClusterState(c, this.deps); this.states.set(name, st); }
      else if (st.cluster !== c) st.configure(c);
      const had = st.hosts.length;
      const entry = c.staticEndpoints ?? cfg.endpoints.get(c.edsServiceName ?? name);
      st.setEndpoints(entry ?? []);
      if (had > 0 && st.hosts.length === 0) this.deps.onHostsLost?.(name, { had, edsEntry: entry !== undefined });
    }
    for (const [name, st] of this.states) {
      if (!cfg.clusters.has(name)) { st.close(); this.states.delete(name); }
    }
  }

  close(): void {
    for (const st of this.states.values()) st.close();
    this.states.clear();
  }
}

/** ALPN for an HTTP/1.1 upstream over TLS: http/1.1 first, then the cluster's list (minus h2, which this connection will not speak). */
export function http1Alpn(clusterAlpn: readonly string[]): string[] {
  return ['http/1.1', ...clusterAlpn.filter((p) => p !== 'http/1.1' && p !== 'h2')];
}
