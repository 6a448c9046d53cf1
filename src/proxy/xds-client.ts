// ADS client (state of the world): subscribes to LDS and CDS (and NDS when the DNS proxy runs), then to the RDS and EDS names
// they reference. Each response is decoded and built into the routing model as a whole:
// all good -> apply and ACK; anything bad -> NACK with the error and keep the last good
// config. Reconnects with full-jitter exponential backoff (0.5 s -> 30 s) and keeps
// serving the last good config meanwhile.
//
// With onTrustBundle set it also subscribes to the SDS Secret ROOTCA (the mesh trust
// bundle). That version is ACKed only after the callback resolves, i.e. once the proxy
// trusts the bundle and holds a certificate issued under its first root; the control
// plane's rotation driver reads exactly that from the ACK. A bundle that does not parse
// is NACKed. A newer ROOTCA supersedes one still being applied (which is then never ACKed).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors/errors.js';
import { ROOT_CA_SECRET, rootCaBundle } from '../envoy/root-ca.js';
import { AdsClient, decodeAny, NAME_TABLE_RESOURCE, TYPE_URLS, type AdsClientStream, type DiscoveryResponse, type EnvoyNode } from '../envoy/index.js';
import { buildCluster, buildEndpoints, buildListener, buildRouteTable, edsNames, rdsNames } from './config/build.js';
import type { ClusterLoadAssignmentShape, ClusterShape, ListenerShape, RouteConfigurationShape } from './config/envoy-shapes.js';
import type { Cluster, Endpoint, Listener, ProxyConfig, RouteTable } from './config/model.js';
import { checkNameTable, type NameTableShape } from './dns/names.js';

/** How long a config waits for new clusters' first EDS before it is applied anyway. */
export const WARMING_TIMEOUT_MS = 5000;

export interface XdsClientOptions {
  address: string;
  node: EnvoyNode;
  logger: Logger;
  onConfig: (cfg: ProxyConfig) => void | Promise<void>;
  /**
   * Subscribes to ROOTCA. Called with each new bundle (PEM, in order); `superseded()` turns
   * true when a newer ROOTCA arrived. Resolve to ACK; reject to NACK with the error.
   */
  onTrustBundle?: (bundlePem: string[], superseded: () => boolean) => Promise<void>;
  credentials?: grpc.ChannelCredentials;
  rand?: () => number;
  backoff?: { initialMs: number; maxMs: number };
  /** Set to subscribe to NDS (the DNS proxy's name table); called with each accepted table. */
  onNameTable?: (table: NameTableShape) => void;
}

interface TypeState<T> {
  version: string;
  nonce: string;
  names: string[]; // [] = wildcard
  built: Map<string, T>;
}

const GRPC_INVALID_ARGUMENT = 3;

export function backoffDelayMs(attempt: number, rand: number, initialMs = 500, maxMs = 30_000): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  // Full jitter, but never below half the ceiling so a fleet does not hammer a recovering server.
  return Math.floor(ceiling / 2 + (rand * ceiling) / 2);
}

export class XdsClient {
  private client?: AdsClient;
  private stream?: AdsClientStream;
  private closed = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private sentNode = false;
  readonly lds: TypeState<Listener> = { version: '', nonce: '', names: [], built: new Map() };
  readonly rds: TypeState<RouteTable> = { version: '', nonce: '', names: [], built: new Map() };
  readonly cds: TypeState<Cluster> = { version: '', nonce: '', names: [], built: new Map() };
  readonly eds: TypeState<Endpoint[]> = { version: '', nonce: '', names: [], built: new Map() };
  private warmingTimer: NodeJS.Timeout | undefined;
  readonly sds: TypeState<string[]> = { version: '', nonce: '', names: [ROOT_CA_SECRET], built: new Map() };
  private sdsSeq = 0;
  private sdsBundleKey = '';
  readonly nds: TypeState<NameTableShape> = { version: '', nonce: '', names: [], built: new Map() };
  /** Last NACK per type, for the admin config dump. */
  readonly lastNack = new Map<string, { version: string; message: string }>();
  connected = false;
  private readonly rand: () => number;

  constructor(private readonly opts: XdsClientOptions) {
    this.rand = opts.rand ?? Math.random;
  }

  start(): void {
    this.client = this.newClient();
    this.connect();
  }

  private newClient(): AdsClient {
    return new AdsClient(this.opts.address, this.opts.credentials ?? grpc.credentials.createInsecure());
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.warmingTimer);
    this.stream?.cancel();
    this.client?.close();
  }

  private state(typeUrl: string): TypeState<unknown> | undefined {
    switch (typeUrl) {
      case TYPE_URLS.listener: return this.lds;
      case TYPE_URLS.route: return this.rds;
      case TYPE_URLS.cluster: return this.cds;
      case TYPE_URLS.endpoint: return this.eds;
      case TYPE_URLS.secret: return this.opts.onTrustBundle ? this.sds : undefined;
      case TYPE_URLS.nameTable: return this.opts.onNameTable ? this.nds : undefined;
      default: return undefined;
    }
  }

  private connect(): void {
    if (this.closed || !this.client) return;
    if (this.attempt > 0) {
      // A reconnect gets a fresh channel. grpc-js resets its subchannel backoff only on READY, and
      // in TRANSIENT_FAILURE it dials only when its own timer ends (1 s x1.6, up to 120 s), so
      // after a long outage an old channel could sit past our 30 s cap. With a fresh channel our
      // jittered backoff alone decides when to dial.
      this.client.close();
      this.client = this.newClient();
    }
    this.sentNode = false;
    // Nonces belong to a stream: a new stream starts without one (the server ignores unknown nonces as stale).
    for (const st of [this.lds, this.rds, this.cds, this.eds, this.sds]) st.nonce = '';
    this.sdsSeq++; // a ROOTCA still being applied was sent on the old stream; the new one resends it
    const stream = this.client.StreamAggregatedResources();
    this.stream = stream;
    stream.on('data', (r: DiscoveryResponse) => {
      this.connected = true;
      this.attempt = 0;
      this.onResponse(r);
    });
    const retry = (reason: string): void => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.connected = false;
      if (this.closed) return;
      const delay = backoffDelayMs(this.attempt++, this.rand(), this.opts.backoff?.initialMs, this.opts.backoff?.maxMs);
      this.opts.logger.warn({ reason, delayMs: delay }, 'xds stream lost; reconnecting');
      this.timer = setTimeout(() => this.connect(), delay);
    };
    stream.on('error', (e: Error) => retry(errorMessage(e)));
    stream.on('end', () => retry('stream ended'));
    // Re-subscribe with what we already have, so the server can skip unchanged types.
    this.send(TYPE_URLS.cluster, this.cds, undefined);
    this.send(TYPE_URLS.listener, this.lds, undefined);
    if (this.rds.names.length > 0) this.send(TYPE_URLS.route, this.rds, undefined);
    if (this.eds.names.length > 0) this.send(TYPE_URLS.endpoint, this.eds, undefined);
    if (this.opts.onTrustBundle) this.send(TYPE_URLS.secret, this.sds, undefined);
    if (this.opts.onNameTable) this.send(TYPE_URLS.nameTable, this.nds, undefined);
  }

  private send(typeUrl: string, st: TypeState<unknown>, error: string | undefined): void {
    if (!this.stream) return;
    this.stream.write({
      ...(this.sentNode ? {} : { node: this.opts.node }),
      type_url: typeUrl,
      version_info: st.version,
      response_nonce: st.nonce,
      resource_names: st.names,
      ...(error ? { error_detail: { code: GRPC_INVALID_ARGUMENT, message: error } } : {}),
    });
    this.sentNode = true;
  }

  private onResponse(r: DiscoveryResponse): void {
    const st = this.state(r.type_url);
    if (!st) return;
    st.nonce = r.nonce;
    if (r.type_url === TYPE_URLS.secret) {
      this.onTrustBundleResponse(r);
      return;
    }
    let built: Map<string, unknown>;
    try {
      built = this.build(r);
    } catch (e) {
      this.nack(r, st, e);
      return;
    }
    st.version = r.version_info;
    st.built = built;
    this.lastNack.delete(r.type_url);
    this.send(r.type_url, st, undefined);
    if (r.type_url === TYPE_URLS.nameTable) {
      // The name table feeds the DNS proxy only; routing config is unchanged.
      this.opts.onNameTable?.(this.nds.built.get(NAME_TABLE_RESOURCE) ?? { table: {} });
      return;
    }
    // Follow references: listeners name route configs, clusters name EDS services.
    if (r.type_url === TYPE_URLS.listener) this.resubscribe(TYPE_URLS.route, this.rds, [...this.lds.built.values()].flatMap(rdsNames));
    if (r.type_url === TYPE_URLS.cluster) this.resubscribe(TYPE_URLS.endpoint, this.eds, edsNames(this.cds.built.values()));
    this.applyWhenWarm();
  }

  /**
   * Envoy's cluster warming: a config whose CDS names EDS clusters that have no endpoints yet
   * (a new DestinationRule subset, a new service) is held back until their first EDS arrives,
   * so a route never switches to a cluster with no hosts (a 503 UH window on every config
   * change). The proxy keeps serving the previous config meanwhile; after WARMING_TIMEOUT_MS
   * it applies anyway (Envoy's initial_fetch_timeout) and says which clusters stayed cold.
   */
  private applyWhenWarm(force = false): void {
    if (!force && this.coldClusters().length > 0) {
      this.warmingTimer ??= setTimeout(() => {
        this.warmingTimer = undefined;
        const cold = this.coldClusters();
        this.opts.logger.warn({ clusters: cold.slice(0, 10), count: cold.length, waitedMs: WARMING_TIMEOUT_MS }, 'clusters still have no EDS; applying the config without them');
        this.applyWhenWarm(true);
      }, WARMING_TIMEOUT_MS);
      this.warmingTimer.unref?.();
      return;
    }
    if (this.warmingTimer) { clearTimeout(this.warmingTimer); this.warmingTimer = undefined; }
    void Promise.resolve(this.opts.onConfig(this.snapshot())).catch((err: unknown) =>
      this.opts.logger.error({ err }, 'applying xds config failed'));
  }

  private nack(r: DiscoveryResponse, st: TypeState<unknown>, e: unknown): void {
    const details = (e as { details?: Record<string, unknown> }).details;
    const message = `${errorMessage(e)}${details && Object.keys(details).length > 0 ? ` ${JSON.stringify(details)}` : ''}`;
    this.lastNack.set(r.type_url, { version: r.version_info, message });
    this.opts.logger.warn({ typeUrl: r.type_url, version: r.version_info, error: message }, 'xds config rejected (NACK)');
    this.send(r.type_url, st, message);
  }

  private onTrustBundleResponse(r: DiscoveryResponse): void {
    const seq = ++this.sdsSeq;
    const superseded = (): boolean => seq !== this.sdsSeq || this.closed;
    let bundle: string[] | undefined;
    try {
      for (const any of r.resources) {
        if (any.type_url !== r.type_url) throw new Error(`resource type ${any.type_url} in a ${r.type_url} response`);
        const obj = decodeAny(any);
        if (obj['name'] === ROOT_CA_SECRET) bundle = rootCaBundle(obj);
      }
    } catch (e) {
      this.nack(r, this.sds, e);
      return;
    }
    const ack = (): void => {
      if (superseded()) return;
      this.sds.version = r.version_info;
      this.lastNack.delete(r.type_url);
      this.send(r.type_url, this.sds, undefined);
    };
    // No ROOTCA yet (the CA has not published one), or the same roots in the same order again.
    const key = bundle?.join('') ?? '';
    if (!bundle || key === this.sdsBundleKey) {
      ack();
      return;
    }
    const onTrustBundle = this.opts.onTrustBundle!;
    this.opts.logger.info({ version: r.version_info, roots: bundle.length }, 'trust bundle received (ROOTCA)');
    onTrustBundle(bundle, superseded).then(
      () => {
        if (superseded()) return;
        this.sdsBundleKey = key;
        this.sds.built = new Map([[ROOT_CA_SECRET, bundle]]);
        ack();
      },
      (e: unknown) => {
        if (!superseded()) this.nack(r, this.sds, e);
      },
    );
  }

  /** EDS clusters in the current CDS that have not had their first EDS yet. */
  private coldClusters(): string[] {
    return edsNames(this.cds.built.values()).filter((n) => !this.eds.built.has(n));
  }

  private resubscribe(typeUrl: string, st: TypeState<unknown>, names: string[]): void {
    const sorted = [...new Set(names)].sort();
    if (sorted.join('\n') === st.names.join('\n')) return;
    st.names = sorted;
    if (sorted.length > 0) this.send(typeUrl, st, undefined);
  }

  private build(r: DiscoveryResponse): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const any of r.resources) {
      if (any.type_url !== r.type_url) throw new Error(`resource type ${any.type_url} in a ${r.type_url} response`);
      const obj = decodeAny(any);
      switch (r.type_url) {
        case TYPE_URLS.listener: { const l = buildListener(obj as ListenerShape); out.set(l.name, l); break; }
        case TYPE_URLS.route: { const t = buildRouteTable(obj as RouteConfigurationShape); out.set(t.name, t); break; }
        case TYPE_URLS.cluster: { const c = buildCluster(obj as ClusterShape); out.set(c.name, c); break; }
        case TYPE_URLS.endpoint: {
          const e = obj as ClusterLoadAssignmentShape;
          out.set(e.cluster_name ?? '', buildEndpoints(e));
          break;
        }
        case TYPE_URLS.nameTable: {
          if (out.size > 0) throw new Error('more than one NameTable in an NDS response');
          out.set(NAME_TABLE_RESOURCE, checkNameTable(obj as NameTableShape));
          break;
        }
      }
    }
    // State of the world for RDS/EDS: names we did not get keep their previous value.
    if (r.type_url === TYPE_URLS.route || r.type_url === TYPE_URLS.endpoint) {
      const prev = this.state(r.type_url)!.built;
      for (const [k, v] of prev) if (!out.has(k)) out.set(k, v);
    }
    return out;
  }

  snapshot(): ProxyConfig {
    return {
      listeners: new Map(this.lds.built),
      routes: new Map(this.rds.built),
      clusters: new Map(this.cds.built),
      endpoints: new Map(this.eds.built),
    };
  }
}
