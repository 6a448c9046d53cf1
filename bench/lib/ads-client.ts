// A lean ADS client for the xDS convergence scenario, identical for every server measured:
// it subscribes to CDS, EDS, LDS (wildcard) and RDS ("8080"), ACKs every response, and records
// when a response of the watched type with a new version arrives. It reads only the response
// head (version, type, nonce) straight off the wire, so client cost is the same for all servers.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ADS_METHOD_PATH, ADS_SERVICE_NAME, TYPE_URLS, decodeDiscoveryRequest, encodeDiscoveryRequest, type DiscoveryRequest } from '../../src/envoy/index.js';

export const ROUTE_NAME = '8080';
export const SUBSCRIBED = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route];

export interface ResponseHead {
  version: string;
  typeUrl: string;
  nonce: string;
  bytes: number;
}

function varint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const byte = b[pos++];
    if (byte === undefined) throw new Error('ads-client: truncated varint');
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, pos];
    mul *= 128;
  }
  throw new Error('ads-client: varint too long');
}

/** Reads fields 1 (version_info), 4 (type_url) and 5 (nonce) of a DiscoveryResponse; skips the rest. */
export function decodeResponseHead(b: Uint8Array): ResponseHead {
  const head: ResponseHead = { version: '', typeUrl: '', nonce: '', bytes: b.length };
  const dec = new TextDecoder();
  let pos = 0;
  while (pos < b.length) {
    let key: number;
    [key, pos] = varint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) [, pos] = varint(b, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = varint(b, pos);
      if (pos + len > b.length) throw new Error('ads-client: truncated field');
      if (field === 1) head.version = dec.decode(b.subarray(pos, pos + len));
      else if (field === 4) head.typeUrl = dec.decode(b.subarray(pos, pos + len));
      else if (field === 5) head.nonce = dec.decode(b.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`ads-client: unsupported wire type ${wire}`);
  }
  return head;
}

const leanAds = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (r: DiscoveryRequest): Buffer => encodeDiscoveryRequest(r),
    requestDeserialize: (b: Buffer): DiscoveryRequest => decodeDiscoveryRequest(b),
    responseSerialize: (b: Buffer): Buffer => b,
    responseDeserialize: (b: Buffer): ResponseHead => decodeResponseHead(b),
  },
} satisfies grpc.ServiceDefinition;
type LeanStream = grpc.ClientDuplexStream<DiscoveryRequest, ResponseHead>;
type LeanClient = grpc.Client & { StreamAggregatedResources(): LeanStream };
const LeanClientCtor = grpc.makeGenericClientConstructor(leanAds, ADS_SERVICE_NAME) as unknown as new (
  a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => LeanClient;

export class AdsBenchClient {
  readonly versions = new Map<string, string>();
  readonly sizes = new Map<string, number>();
  changedAt: number | undefined;
  private watchType = '';
  private baseline = '';
  private readonly client: LeanClient;
  private readonly stream: LeanStream;

  constructor(address: string, readonly nodeId: string) {
    // One connection per client, like real proxies (no shared subchannel).
    this.client = new LeanClientCtor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 });
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('error', () => undefined);
    this.stream.on('data', (r: ResponseHead) => {
      this.versions.set(r.typeUrl, r.version);
      this.sizes.set(r.typeUrl, r.bytes);
      this.stream.write({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: r.typeUrl === TYPE_URLS.route ? [ROUTE_NAME] : [] });
      if (r.typeUrl === this.watchType && r.version !== this.baseline && this.changedAt === undefined) this.changedAt = performance.now();
    });
    for (const t of SUBSCRIBED) {
      this.stream.write({ node: { id: nodeId, cluster: 'bench', locality: { region: 'bench' } }, type_url: t, resource_names: t === TYPE_URLS.route ? [ROUTE_NAME] : [] });
    }
  }

  synced(): boolean {
    return SUBSCRIBED.every((t) => this.versions.has(t));
  }

  arm(typeUrl: string): void {
    this.watchType = typeUrl;
    this.baseline = this.versions.get(typeUrl) ?? '';
    this.changedAt = undefined;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}
