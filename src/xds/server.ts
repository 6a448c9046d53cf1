// ADS server (state-of-the-world) over @grpc/grpc-js. It serves whatever snapshot the cache
// holds for a node and knows nothing about Kubernetes.
//
// Per stream and type it tracks what was sent (version, nonce, names) and what the client
// ACKed or NACKed. A NACK is recorded and reported; the bad version is not pushed again, and
// the client keeps its last good config. Types are pushed in CDS, EDS, LDS, RDS order.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  GrpcFramedResponse,
  PUSH_ORDER,
  adsServiceDefinition,
  encodeGrpcFramedDiscoveryResponse,
  typeShortName,
  type AdsStream,
  type DiscoveryRequest,
  type EnvoyNode,
} from '../envoy/index.js';
import type { Logger } from '../log/logger.js';
import type { SnapshotCache } from './cache.js';
import type { Snapshot, TypedResources } from './snapshot.js';

export interface NackRecord {
  typeUrl: string;
  /** The version the client rejected (the one we sent with that nonce). */
  version: string;
  nonce: string;
  message: string;
  code: number;
  at: Date;
}

export interface TypeStatus {
  typeUrl: string;
  names: string[];
  sentVersion?: string;
  sentNonce?: string;
  ackedVersion?: string;
  lastNack?: NackRecord;
}

export interface StreamStatus {
  streamId: number;
  nodeId: string;
  nodeKey: string;
  node: EnvoyNode;
  connectedAt: Date;
  types: TypeStatus[];
}

export interface AdsServerOptions {
  cache: SnapshotCache;
  logger: Logger;
  /** Which snapshot a node gets; defaults to its id. */
  nodeKey?: (node: EnvoyNode) => string;
  /** Called when a node connects (e.g. to build its snapshot on demand). */
  onNodeConnected?: (node: EnvoyNode, nodeKey: string) => void;
  onNodeDisconnected?: (node: EnvoyNode, nodeKey: string) => void;
  clock?: () => Date;
}

export interface AdsMetrics {
  streamsOpened: number;
  streamsActive: number;
  responsesSent: number;
  acks: number;
  nacks: number;
}

interface TypeState {
  names: Set<string>; // empty = wildcard
  sentVersion?: string;
  sentNonce?: string;
  sentNamesKey?: string;
  ackedVersion?: string;
  lastNack?: NackRecord;
  versionsByNonce: Map<string, string>;
}

interface EncodedResponse {
  nonce: string;
  message: GrpcFramedResponse;
}

/**
 * One encoded DiscoveryResponse per (resources of a type, subscribed names): every stream that
 * is sent the same content writes the same bytes, under the same nonce. Nonces come from one
 * server-wide counter, so a nonce still names exactly one response on each stream.
 */
class ResponseEncoder {
  private readonly byTyped = new WeakMap<TypedResources, Map<string, EncodedResponse>>();
  private seq = 0;

  encode(typeUrl: string, typed: TypedResources | undefined, names: ReadonlySet<string>, namesKey: string): EncodedResponse {
    let forTyped = typed ? this.byTyped.get(typed) : undefined;
    const hit = forTyped?.get(namesKey);
    if (hit) return hit;
    const framed: Buffer[] = [];
    if (typed) {
      if (names.size === 0) {
        for (const r of typed.byName.values()) framed.push(r.framed);
      } else {
        for (const n of names) {
          const r = typed.byName.get(n);
          if (r) framed.push(r.framed);
        }
      }
    }
    const nonce = String(++this.seq);
    const message = new GrpcFramedResponse(encodeGrpcFramedDiscoveryResponse({ version_info: typed?.version ?? 'empty', type_url: typeUrl, nonce, framedResources: framed }));
    const encoded = { nonce, message };
    if (typed) {
      if (!forTyped) this.byTyped.set(typed, (forTyped = new Map()));
      forTyped.set(namesKey, encoded);
    }
    return encoded;
  }
}

class AdsStreamHandler {
  node?: EnvoyNode;
  nodeKey = '';
  readonly types = new Map<string, TypeState>();
  private unwatch?: () => void;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly call: AdsStream,
    private readonly server: AdsServer,
    readonly connectedAt: Date,
  ) {}

  start(): void {
    this.call.on('data', (req: DiscoveryRequest) => this.onRequest(req));
    this.call.on('end', () => this.close());
    this.call.on('error', () => this.close());
    this.call.on('cancelled', () => this.close());
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.server.streamClosed(this);
    try {
      this.call.end();
    } catch {
      // already closed by the peer
    }
  }

  private onRequest(req: DiscoveryRequest): void {
    if (this.closed) return;
    if (!this.node) {
      if (!req.node || !req.node.id) {
        this.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'first DiscoveryRequest must carry node.id' });
        this.close();
        return;
      }
      this.node = req.node;
      this.nodeKey = this.server.nodeKeyOf(req.node);
      this.unwatch = this.server.cache.watch(this.nodeKey, (s) => this.pushAll(s));
      this.server.streamIdentified(this);
    }
    const typeUrl = req.type_url ?? '';
    if (!typeUrl) return;
    let st = this.types.get(typeUrl);
    if (!st) {
      st = { names: new Set(), versionsByNonce: new Map() };
      this.types.set(typeUrl, st);
    }
    const nonce = req.response_nonce ?? '';
    if (nonce !== '' && nonce !== st.sentNonce) {
      // Stale: the client answers a response it has since been superseded by.
      this.server.log.debug({ node: this.node.id, type: typeShortName(typeUrl), nonce }, 'ignoring stale request');
      return;
    }
    if (nonce !== '') {
      const version = st.versionsByNonce.get(nonce) ?? '';
      st.versionsByNonce.clear();
      const detail = req.error_detail;
      if (detail && ((detail.code ?? 0) !== 0 || Boolean(detail.message))) {
        const nack: NackRecord = {
          typeUrl,
          version,
          nonce,
          message: req.error_detail?.message ?? '',
          code: req.error_detail?.code ?? 0,
          at: this.server.now(),
        };
        st.lastNack = nack;
        this.server.recordNack(this, nack);
      } else {
        st.ackedVersion = req.version_info ?? version;
        this.server.metrics.acks++;
        this.server.emit('ack', { nodeId: this.node.id, nodeKey: this.nodeKey, typeUrl, version: st.ackedVersion });
      }
    }
    st.names = new Set((req.resource_names ?? []).filter((n) => n !== '*'));
    const snapshot = this.server.cache.getSnapshot(this.nodeKey);
    if (snapshot) this.maybeRespond(typeUrl, st, snapshot, nonce === '');
  }

  /** A new snapshot arrived: push each changed type in make-before-break order. */
  private pushAll(snapshot: Snapshot): void {
    if (this.closed) return;
    const ordered = [...PUSH_ORDER, ...[...this.types.keys()].filter((t) => !PUSH_ORDER.includes(t))];
    for (const typeUrl of ordered) {
      const st = this.types.get(typeUrl);
      if (st) this.maybeRespond(typeUrl, st, snapshot, false);
    }
  }

  private maybeRespond(typeUrl: string, st: TypeState, snapshot: Snapshot, initial: boolean): void {
    const typed = snapshot.types.get(typeUrl);
    const version = typed?.version ?? 'empty';
    const wildcard = st.names.size === 0;
    const namesKey = wildcard ? '*' : [...st.names].sort().join('\0');
    // Never re-push what this client already has (or rejected), unless it asked anew.
    if (!initial && st.sentVersion === version && st.sentNamesKey === namesKey) return;
    const { nonce, message } = this.server.responses.encode(typeUrl, typed, st.names, namesKey);
    st.sentVersion = version;
    st.sentNonce = nonce;
    st.sentNamesKey = namesKey;
    st.versionsByNonce.set(nonce, version);
    this.server.metrics.responsesSent++;
    this.call.write(message);
  }

  status(): StreamStatus {
    return {
      streamId: this.id,
      nodeId: this.node?.id ?? '',
      nodeKey: this.nodeKey,
      node: this.node ?? {},
      connectedAt: this.connectedAt,
      types: [...this.types.entries()].map(([typeUrl, st]) => ({
        typeUrl,
        names: [...st.names],
        sentVersion: st.sentVersion,
        sentNonce: st.sentNonce,
        ackedVersion: st.ackedVersion,
        lastNack: st.lastNack,
      })),
    };
  }
}

/**
 * Emits 'nack' (NackRecord & {nodeId}), 'ack' ({nodeId, typeUrl, version}),
 * 'connected' and 'disconnected' (StreamStatus).
 */
export class AdsServer extends EventEmitter {
  readonly cache: SnapshotCache;
  readonly log: Logger;
  readonly metrics: AdsMetrics = { streamsOpened: 0, streamsActive: 0, responsesSent: 0, acks: 0, nacks: 0 };
  readonly responses = new ResponseEncoder();
  private readonly streams = new Set<AdsStreamHandler>();
  private readonly nodeKeyFn: (node: EnvoyNode) => string;
  private readonly clock: () => Date;
  private nextStreamId = 0;
  /** Last NACK per node id, kept after the stream goes away (for status and debug). */
  readonly nacksByNode = new Map<string, NackRecord>();

  constructor(private readonly opts: AdsServerOptions) {
    super();
    this.cache = opts.cache;
    this.log = opts.logger;
    this.nodeKeyFn = opts.nodeKey ?? ((n): string => n.id ?? '');
    this.clock = opts.clock ?? ((): Date => new Date());
  }

  /** Registers the ADS service on a grpc.Server. */
  register(server: grpc.Server): void {
    server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: AdsStream): void => {
        const h = new AdsStreamHandler(++this.nextStreamId, call, this, this.clock());
        this.metrics.streamsOpened++;
        this.metrics.streamsActive++;
        this.streams.add(h);
        h.start();
      },
    });
  }

  now(): Date {
    return this.clock();
  }

  nodeKeyOf(node: EnvoyNode): string {
    return this.nodeKeyFn(node);
  }

  streamIdentified(h: AdsStreamHandler): void {
    this.log.info({ node: h.node?.id, nodeKey: h.nodeKey, stream: h.id }, 'xds stream connected');
    this.opts.onNodeConnected?.(h.node ?? {}, h.nodeKey);
    this.emit('connected', h.status());
  }

  streamClosed(h: AdsStreamHandler): void {
    if (!this.streams.delete(h)) return;
    this.metrics.streamsActive--;
    if (h.node) {
      this.log.info({ node: h.node.id, stream: h.id }, 'xds stream closed');
      this.opts.onNodeDisconnected?.(h.node, h.nodeKey);
      this.emit('disconnected', h.status());
    }
  }

  recordNack(h: AdsStreamHandler, nack: NackRecord): void {
    this.metrics.nacks++;
    const nodeId = h.node?.id ?? '';
    this.nacksByNode.set(nodeId, nack);
    this.log.warn(
      { node: nodeId, type: typeShortName(nack.typeUrl), version: nack.version, error_detail: nack.message, code: nack.code },
      'xds config rejected by proxy (NACK); it keeps its last good config',
    );
    this.emit('nack', { ...nack, nodeId });
  }

  /** Per connected proxy: versions sent and ACKed, last NACK. */
  status(): StreamStatus[] {
    return [...this.streams].filter((s) => s.node).map((s) => s.status());
  }
}
