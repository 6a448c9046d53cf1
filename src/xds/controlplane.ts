// The control plane: registry (or any ModelSource) -> debounced translation -> snapshot cache
// -> ADS server on @grpc/grpc-js, plus an optional HTTP debug endpoint.
//
// Snapshots are kept per node id, but translation runs once per *group* of nodes whose config
// is identical (same flavour, namespace, labels, service account, and IP only when the IP is an
// endpoint): every node of a group receives the same Snapshot object, so each resource is
// encoded once. Across pushes, a content-keyed encoder reuses the bytes of unchanged resources.
import * as grpc from '@grpc/grpc-js';
import type { V1Pod } from '@kubernetes/client-node';
import { errorMessage, invalidInput } from '../errors/errors.js';
import { TYPE_URLS, typeShortName, type EnvoyNode, type EnvoyResource } from '../envoy/index.js';
import { rootCaSecret } from '../envoy/root-ca.js';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import { SnapshotCache } from './cache.js';
import { startDebugServer, type DebugServer } from './debug.js';
import { Debouncer } from './debounce.js';
import type { Locality, MeshModel, OutboundTrafficPolicy, ProxyContext } from './model.js';
import { modelUsesLocality } from './translate/locality.js';
import { endpointAddressSet, endpointLocalities, nodeInfo, proxyContextFor, translationKey, type NodeInfo } from './registry/node.js';
import { Registry } from './registry/registry.js';
import type { InformerStatus } from './registry/informer.js';
import { AdsServer, type NackRecord, type StreamStatus } from './server.js';
import { makeSnapshot, ResourceEncoder, type Snapshot } from './snapshot.js';
import { buildResources } from './translate/index.js';
import { JwksResolver, type JwksFetcher } from './jwks-resolver.js';

/** Where the model comes from: the Kubernetes registry, or a fixed model (tests, bench). */
export interface ModelSource {
  model(): MeshModel;
  onChange(listener: (kind: string) => void): void;
  pod?(namespace: string, name: string): V1Pod | undefined;
  start?(): void;
  waitForSync?(timeoutMs: number): Promise<void>;
  stop?(): Promise<void>;
  status?(): InformerStatus[];
}

/** A ModelSource held in memory: set() replaces the model and notifies. */
export class StaticModelSource implements ModelSource {
  private listeners: Array<(kind: string) => void> = [];
  constructor(private current: MeshModel) {}
  model(): MeshModel {
    return this.current;
  }
  onChange(listener: (kind: string) => void): void {
    this.listeners.push(listener);
  }
  set(model: MeshModel): void {
    this.current = model;
    for (const l of this.listeners) l('model');
  }
}

export interface ControlPlaneOptions {
  /** Kubernetes clients for the registry; not needed when `source` is given. */
  kubeClients?: KubeClients;
  source?: ModelSource;
  logger: Logger;
  /** ADS port; 0 picks a free one. */
  xdsPort?: number;
  host?: string;
  /** HTTP debug endpoint port (0 = any free one); no debug server when undefined. */
  debugPort?: number;
  /** Extra Prometheus text the debug server's /metrics appends (e.g. the CA's metrics). */
  metricsText?: () => string;
  domain?: string;
  trustDomain?: string;
  rootNamespace?: string;
  /** meshConfig.outboundTrafficPolicy.mode for every sidecar; default ALLOW_ANY. */
  outboundTrafficPolicy?: OutboundTrafficPolicy;
  debounceMs?: number;
  debounceMaxMs?: number;
  syncTimeoutMs?: number;
  grpcOptions?: grpc.ServerOptions;
  /**
   * RequestAuthentication jwksUri: fetch in the control plane and inline the keys (default), or
   * `false` to leave fetching to each proxy (remote_jwks). Options tune the cache (tests).
   */
  jwks?: false | { fetcher?: JwksFetcher; ttlMs?: number; retryMs?: number; timeoutMs?: number };
}

export interface PushRecord {
  push: number;
  at: Date;
  events: number;
  groups: number;
  nodes: number;
  translateMs: number;
  encodedResources: number;
}

export interface ProxySyncStatus {
  nodeId: string;
  flavour: string;
  namespace: string;
  group: string;
  snapshot?: string;
  /** Per type (CDS/EDS/LDS/RDS): sent and ACKed versions, and the last NACK. */
  types: Array<{ type: string; sent?: string; acked?: string; state: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT'; lastNack?: NackRecord }>;
  lastNack?: NackRecord;
}

export interface ControlPlaneStatus {
  address: string;
  debugAddress?: string;
  synced: boolean;
  pushes: number;
  lastPush?: PushRecord;
  proxies: ProxySyncStatus[];
  informers: InformerStatus[];
  lastTranslateError?: string;
  metrics: AdsServer['metrics'];
}

/** Per connected proxy: which ROOTCA content it ACKed (see ControlPlane.rootCaSync). */
export interface RootCaSync {
  /** The version (content hash) of the ROOTCA now served; undefined before setTrustBundle. */
  version: string | undefined;
  proxies: Array<{ nodeId: string; flavour: string; subscribed: boolean; ackedVersion?: string }>;
}

export interface ControlPlane {
  /** host:port of the ADS server. */
  readonly address: string;
  readonly debugAddress: string | undefined;
  readonly ads: AdsServer;
  readonly cache: SnapshotCache;
  readonly source: ModelSource;
  status(): ControlPlaneStatus;
  /** A node's generated resources by type (for /debug/configz and weftctl proxy-config). */
  configDump(nodeId: string): Record<string, EnvoyResource[]> | undefined;
  /**
   * Serves `bundlePem` (issuing root first) as the SDS Secret ROOTCA to every proxy that
   * subscribes to it, and pushes now. Proxies that do not subscribe see no change.
   */
  setTrustBundle(bundlePem: readonly string[]): void;
  /** What each connected proxy ACKed of ROOTCA, for the rotation driver. */
  rootCaSync(): RootCaSync;
  /** Translate and push now, skipping the debounce (tests, bench). */
  pushNow(): void;
  /** Resolves after the next push completes. */
  nextPush(): Promise<PushRecord>;
  close(): Promise<void>;
}

/**
 * Encodes each resource once per content: within a push shared objects hit the identity
 * cache; across pushes an unchanged resource (same JSON) reuses its bytes. Entries not used
 * in a push are dropped after the next one.
 */
export class ContentEncoder extends ResourceEncoder {
  private current = new Map<string, Buffer>();
  private previous = new Map<string, Buffer>();

  rotate(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  override frame(typeUrl: string, resource: EnvoyResource): Buffer {
    const key = `${typeUrl}\0${JSON.stringify(resource)}`;
    const hit = this.current.get(key) ?? this.previous.get(key);
    if (hit) {
      this.current.set(key, hit);
      return hit;
    }
    const framed = super.frame(typeUrl, resource);
    this.current.set(key, framed);
    return framed;
  }
}

interface ConnectedNode {
  node: EnvoyNode;
  info: NodeInfo;
  streams: number;
  group?: string;
}

class ControlPlaneImpl implements ControlPlane {
  readonly cache = new SnapshotCache();
  readonly ads: AdsServer;
  address = '';
  debugAddress: string | undefined;
  private readonly nodes = new Map<string, ConnectedNode>();
  private readonly encoder = new ContentEncoder();
  private readonly debouncer: Debouncer;
  private readonly grpcServer: grpc.Server;
  private debug: DebugServer | undefined;
  private model: MeshModel | undefined;
  private endpointAddrs = new Set<string>();
  private endpointLocality = new Map<string, Locality>();
  /** Some DestinationRule makes EDS depend on the proxy's locality (else it stays out of the translation key). */
  private localityMatters = false;
  private groups = new Map<string, Snapshot>();
  private pushes = 0;
  private lastPush: PushRecord | undefined;
  private lastTranslateError: string | undefined;
  private pushWaiters: Array<(p: PushRecord) => void> = [];
  private closed = false;
  private readonly jwks: JwksResolver | undefined;
  private jwksTimer: NodeJS.Timeout | undefined;
  private secrets: EnvoyResource[] = [];
  private rootCaVersion: string | undefined;

  constructor(
    readonly source: ModelSource,
    private readonly opts: ControlPlaneOptions,
  ) {
    this.ads = new AdsServer({
      cache: this.cache,
      logger: opts.logger.child({ component: 'ads' }),
      onNodeConnected: (node) => this.nodeConnected(node),
      onNodeDisconnected: (node) => this.nodeDisconnected(node),
    });
    this.grpcServer = new grpc.Server(opts.grpcOptions);
    this.ads.register(this.grpcServer);
    this.debouncer = new Debouncer((events) => this.push(events), opts.debounceMs ?? 100, opts.debounceMaxMs ?? 10_000);
    source.onChange(() => {
      if (!this.closed) this.debouncer.trigger();
    });
    if (opts.jwks !== false) {
      this.jwks = new JwksResolver({
        ...(opts.jwks ?? {}), logger: opts.logger.child({ component: 'jwks' }),
        onUpdate: () => { if (!this.closed) this.debouncer.trigger(); },
      });
      // Keys rotate at the identity provider without any Kubernetes event: re-check on a timer.
      this.jwksTimer = setInterval(() => this.jwks?.refreshDue(), Math.min(opts.jwks?.retryMs ?? 10_000, 10_000));
      this.jwksTimer.unref();
    }
  }

  async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    const port = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync(`${host}:${this.opts.xdsPort ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (this.opts.debugPort !== undefined) {
      this.debug = await startDebugServer({ controlPlane: this, host, port: this.opts.debugPort, logger: this.opts.logger, ...(this.opts.metricsText ? { metricsText: this.opts.metricsText } : {}) });
      this.debugAddress = this.debug.address;
    }
  }

  private contextOf(c: ConnectedNode): ProxyContext {
    const pod = c.info.podName ? this.source.pod?.(c.info.namespace, c.info.podName) : undefined;
    const ctx = proxyContextFor(c.info, pod);
    this.currentModel();
    if (!this.localityMatters) delete ctx.locality;
    else if (!ctx.locality && ctx.ip) {
      const own = this.endpointLocality.get(ctx.ip);
      if (own) ctx.locality = own;
    }
    // The IP only matters when it is one of the model's endpoints (inbound listeners).
    if (ctx.ip && !this.endpointAddrs.has(ctx.ip)) delete ctx.ip;
    return ctx;
  }

  /** The snapshot for a node in the current push (translated once per group). */
  private snapshotFor(c: ConnectedNode): Snapshot | undefined {
    const model = this.currentModel();
    const ctx = this.contextOf(c);
    const key = translationKey(ctx, this.endpointAddrs);
    c.group = key;
    const hit = this.groups.get(key);
    if (hit) return hit;
    try {
      const snap = makeSnapshot(`${this.pushes}/${this.groups.size}`, { ...buildResources(model, ctx), secrets: this.secrets }, this.encoder);
      this.groups.set(key, snap);
      return snap;
    } catch (e) {
      // Inconsistent or unencodable config: keep serving the node's last good snapshot.
      this.lastTranslateError = errorMessage(e);
      this.opts.logger.error({ err: this.lastTranslateError, group: key }, 'translation failed; keeping the last good snapshot');
      return undefined;
    }
  }

  private currentModel(): MeshModel {
    if (!this.model) {
      const m = this.source.model();
      this.model = this.jwks ? this.jwks.apply(m) : m;
      this.endpointAddrs = endpointAddressSet(this.model);
      this.endpointLocality = endpointLocalities(this.model);
      this.localityMatters = modelUsesLocality(this.model);
    }
    return this.model;
  }

  private nodeConnected(node: EnvoyNode): void {
    const id = node.id ?? '';
    let c = this.nodes.get(id);
    if (!c) {
      c = { node, info: nodeInfo(node), streams: 0 };
      this.nodes.set(id, c);
    }
    c.streams++;
    const snap = this.snapshotFor(c);
    if (snap && this.cache.getSnapshot(id) !== snap) this.cache.setSnapshot(id, snap);
  }

  private nodeDisconnected(node: EnvoyNode): void {
    const id = node.id ?? '';
    const c = this.nodes.get(id);
    if (!c) return;
    c.streams--;
    if (c.streams <= 0) {
      this.nodes.delete(id);
      this.cache.clearSnapshot(id);
    }
  }

  setTrustBundle(bundlePem: readonly string[]): void {
    const secret = rootCaSecret(bundlePem);
    // The same content hash every node's snapshot gets for the secret type.
    this.rootCaVersion = makeSnapshot('rootca', { secrets: [secret] }).types.get(TYPE_URLS.secret)?.version;
    this.secrets = [secret];
    this.pushNow();
  }

  rootCaSync(): RootCaSync {
    return {
      version: this.rootCaVersion,
      proxies: this.ads.status().map((s) => {
        const t = s.types.find((x) => x.typeUrl === TYPE_URLS.secret);
        const flavour = this.nodes.get(s.nodeId)?.info.flavour ?? nodeInfo(s.node).flavour;
        return { nodeId: s.nodeId, flavour, subscribed: t !== undefined, ...(t?.ackedVersion !== undefined ? { ackedVersion: t.ackedVersion } : {}) };
      }),
    };
  }

  pushNow(): void {
    this.debouncer.flush();
    if (!this.closed) this.push(0);
  }

  private push(events: number): void {
    if (this.closed) return;
    const t0 = performance.now();
    const encodedBefore = this.encoder.encoded;
    this.pushes++;
    this.model = undefined;
    this.groups = new Map();
    this.encoder.rotate();
    this.currentModel();
    const updates: Array<[string, Snapshot]> = [];
    for (const [id, c] of this.nodes) {
      const snap = this.snapshotFor(c);
      if (snap) updates.push([id, snap]);
    }
    const translateMs = performance.now() - t0;
    // Publish after translating everyone, so a slow group does not delay the others' pushes.
    for (const [id, snap] of updates) this.cache.setSnapshot(id, snap);
    const rec: PushRecord = { push: this.pushes, at: new Date(), events, groups: this.groups.size, nodes: this.nodes.size, translateMs, encodedResources: this.encoder.encoded - encodedBefore };
    this.lastPush = rec;
    this.opts.logger.debug({ ...rec }, 'xds push');
    for (const w of this.pushWaiters.splice(0)) w(rec);
  }

  nextPush(): Promise<PushRecord> {
    return new Promise((resolve) => this.pushWaiters.push(resolve));
  }

  configDump(nodeId: string): Record<string, EnvoyResource[]> | undefined {
    const snap = this.cache.getSnapshot(nodeId);
    if (!snap) return undefined;
    const out: Record<string, EnvoyResource[]> = {};
    for (const [typeUrl, t] of snap.types) out[typeShortName(typeUrl)] = [...t.byName.values()].map((r) => r.resource);
    return out;
  }

  status(): ControlPlaneStatus {
    const streams = this.ads.status();
    const proxies = streams.map((s) => this.proxyStatus(s));
    const st: ControlPlaneStatus = {
      address: this.address,
      synced: this.source.waitForSync === undefined || (this.source.status?.() ?? []).every((i) => i.synced),
      pushes: this.pushes,
      proxies,
      informers: this.source.status?.() ?? [],
      metrics: { ...this.ads.metrics },
    };
    if (this.debugAddress) st.debugAddress = this.debugAddress;
    if (this.lastPush) st.lastPush = this.lastPush;
    if (this.lastTranslateError) st.lastTranslateError = this.lastTranslateError;
    return st;
  }

  private proxyStatus(s: StreamStatus): ProxySyncStatus {
    const c = this.nodes.get(s.nodeId);
    const snap = this.cache.getSnapshot(s.nodeId);
    const p: ProxySyncStatus = {
      nodeId: s.nodeId,
      flavour: c?.info.flavour ?? '',
      namespace: c?.info.namespace ?? '',
      group: c?.group ?? '',
      types: s.types.map((t) => {
        const nacked = t.lastNack !== undefined && t.lastNack.version === t.sentVersion;
        const state = t.sentVersion === undefined ? 'NOT SENT' : nacked ? 'NACKED' : t.ackedVersion === t.sentVersion ? 'SYNCED' : 'STALE';
        const row: ProxySyncStatus['types'][number] = { type: typeShortName(t.typeUrl), state };
        if (t.sentVersion !== undefined) row.sent = t.sentVersion;
        if (t.ackedVersion !== undefined) row.acked = t.ackedVersion;
        if (t.lastNack) row.lastNack = t.lastNack;
        return row;
      }),
    };
    if (snap) p.snapshot = snap.label;
    const nack = this.ads.nacksByNode.get(s.nodeId);
    if (nack) p.lastNack = nack;
    return p;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.debouncer.stop();
    clearInterval(this.jwksTimer);
    for (const w of this.pushWaiters.splice(0)) w(this.lastPush ?? { push: 0, at: new Date(), events: 0, groups: 0, nodes: 0, translateMs: 0, encodedResources: 0 });
    await this.debug?.close();
    await this.source.stop?.();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, 1000);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/**
 * Starts the control plane: waits for the registry to sync (so no proxy is ever served a
 * half-empty mesh), then serves ADS. Close it with handle.close().
 */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  let source = opts.source;
  if (!source) {
    if (!opts.kubeClients) throw invalidInput('startControlPlane needs kubeClients or a model source');
    const regOpts: ConstructorParameters<typeof Registry>[0] = { kubeClients: opts.kubeClients, logger: opts.logger.child({ component: 'registry' }) };
    if (opts.domain) regOpts.domain = opts.domain;
    if (opts.trustDomain) regOpts.trustDomain = opts.trustDomain;
    if (opts.rootNamespace) regOpts.rootNamespace = opts.rootNamespace;
    if (opts.outboundTrafficPolicy) regOpts.outboundTrafficPolicy = opts.outboundTrafficPolicy;
    source = new Registry(regOpts);
  }
  source.start?.();
  try {
    await source.waitForSync?.(opts.syncTimeoutMs ?? 60_000);
  } catch (e) {
    await source.stop?.();
    throw e;
  }
  const cp = new ControlPlaneImpl(source, opts);
  try {
    await cp.listen();
  } catch (e) {
    await cp.close();
    throw e;
  }
  opts.logger.info({ address: cp.address, debug: cp.debugAddress }, 'control plane serving');
  return cp;
}
