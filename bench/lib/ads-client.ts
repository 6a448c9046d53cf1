// A lean ADS client for the xDS convergence scenario, identical for every server measured:
// it subscribes to CDS, EDS, LDS (wildcard) and RDS ("8080"), ACKs every response once it has
// fully arrived, and records when a response of the watched type with a new version arrives.
// It speaks gRPC over a minimal HTTP/2 client (h2-lean.ts) and reads only the response head
// (version, type, nonce) as the bytes stream past; resources are skipped, never copied or
// decoded. So the client's cost is the same for every server and small next to the server's
// (one HTTP/2 connection each, like real proxies, with Envoy's default flow-control windows).
import { performance } from 'node:perf_hooks';
import { LeanH2Stream } from './h2-lean.js';
import { ADS_METHOD_PATH, TYPE_URLS, encodeDiscoveryRequest, type DiscoveryRequest } from '../../src/envoy/index.js';

export const ROUTE_NAME = '8080';
export const SUBSCRIBED = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route];

export interface ResponseHead {
  version: string;
  typeUrl: string;
  nonce: string;
  bytes: number;
}

const EMPTY = Buffer.alloc(0);
/** DiscoveryResponse fields the client keeps: 1 version_info, 4 type_url, 5 nonce. */
const KEPT: Record<number, 'version' | 'typeUrl' | 'nonce'> = { 1: 'version', 4: 'typeUrl', 5: 'nonce' };

/** A varint at b[pos..]: [value, next pos], or undefined when b ends first. */
function varint(b: Uint8Array, pos: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const byte = b[pos++];
    if (byte === undefined) return undefined;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, pos];
    mul *= 128;
  }
  throw new Error('ads-client: varint too long');
}

/**
 * Reads gRPC-framed DiscoveryResponses from a byte stream in chunks of any size. Only the
 * small head fields are buffered; every other field is skipped by its length.
 */
export class ResponseHeadReader {
  private pending = EMPTY;
  /** Bytes of the current message body still to read; -1 while reading the 5-byte gRPC prefix. */
  private left = -1;
  private skip = 0;
  private head: ResponseHead = { version: '', typeUrl: '', nonce: '', bytes: 0 };

  constructor(private readonly onMessage: (h: ResponseHead) => void) {}

  push(chunk: Buffer): void {
    const b = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let pos = 0;
    while (pos < b.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, b.length - pos);
        this.skip -= n;
        pos += n;
        this.consumed(n);
        continue;
      }
      const used = this.left < 0 ? this.prefix(b, pos) : this.field(b, pos);
      if (used === undefined) break; // incomplete: keep the tail (a few bytes) for the next chunk
      pos += used;
    }
    if (pos < b.length) this.pending = Buffer.from(b.subarray(pos));
  }

  /** Whether a message is partly read (the stream must not end here). */
  midMessage(): boolean {
    return this.left >= 0 || this.pending.length > 0;
  }

  private prefix(b: Buffer, pos: number): number | undefined {
    if (b.length - pos < 5) return undefined;
    if (b[pos] !== 0) throw new Error('ads-client: compressed gRPC messages are not supported');
    this.left = b.readUInt32BE(pos + 1);
    this.head = { version: '', typeUrl: '', nonce: '', bytes: this.left };
    if (this.left === 0) this.finish();
    return 5;
  }

  private field(b: Buffer, pos: number): number | undefined {
    const k = varint(b, pos);
    if (!k) return undefined;
    const [key, p] = k;
    const wire = key & 7;
    let end: number;
    if (wire === 0) {
      const v = varint(b, p);
      if (!v) return undefined;
      end = v[1];
    } else if (wire === 1 || wire === 5) {
      end = p + (wire === 1 ? 8 : 4);
      if (end > b.length) return undefined;
    } else if (wire === 2) {
      const l = varint(b, p);
      if (!l) return undefined;
      const [len, start] = l;
      const kept = KEPT[Math.floor(key / 8)];
      if (kept === undefined) {
        this.skip = len;
        this.consumed(start - pos);
        return start - pos;
      }
      end = start + len;
      if (end > b.length) return undefined;
      this.head[kept] = b.toString('utf8', start, end);
    } else throw new Error(`ads-client: unsupported wire type ${wire}`);
    this.consumed(end - pos);
    return end - pos;
  }

  private consumed(n: number): void {
    this.left -= n;
    if (this.left < 0) throw new Error('ads-client: field runs past the end of its message');
    if (this.left === 0 && this.skip === 0) this.finish();
  }

  private finish(): void {
    this.left = -1;
    this.onMessage(this.head);
  }
}

/** Reads fields 1 (version_info), 4 (type_url) and 5 (nonce) of one whole DiscoveryResponse. */
export function decodeResponseHead(b: Uint8Array): ResponseHead {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(b.length, 1);
  let out: ResponseHead | undefined;
  const r = new ResponseHeadReader((h) => (out = h));
  r.push(Buffer.concat([prefix, b]));
  if (!out || r.midMessage()) throw new Error('ads-client: truncated message');
  return out;
}

function grpcFrame(req: DiscoveryRequest): Buffer {
  const body = encodeDiscoveryRequest(req);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** Epoch milliseconds with sub-ms precision: comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export class AdsBenchClient {
  readonly versions = new Map<string, string>();
  readonly sizes = new Map<string, number>();
  /** When (epochMs) the watched type arrived with a new version and was ACKed. */
  changedAt: number | undefined;
  failed: string | undefined;
  private watchType = '';
  private baseline = '';
  private readonly stream: LeanH2Stream;

  constructor(address: string, readonly nodeId: string) {
    const colon = address.lastIndexOf(':');
    const reader = new ResponseHeadReader((r) => this.onResponse(r));
    this.stream = new LeanH2Stream(address.slice(0, colon), Number(address.slice(colon + 1)), ADS_METHOD_PATH, {
      onData: (chunk) => reader.push(chunk),
      onEnd: (why) => (this.failed ??= why),
    });
    for (const t of SUBSCRIBED) {
      this.stream.write(grpcFrame({ node: { id: nodeId, cluster: 'bench', locality: { region: 'bench' } }, type_url: t, resource_names: t === TYPE_URLS.route ? [ROUTE_NAME] : [] }));
    }
  }

  private onResponse(r: ResponseHead): void {
    this.versions.set(r.typeUrl, r.version);
    this.sizes.set(r.typeUrl, r.bytes);
    this.stream.write(grpcFrame({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: r.typeUrl === TYPE_URLS.route ? [ROUTE_NAME] : [] }));
    if (r.typeUrl === this.watchType && r.version !== this.baseline && this.changedAt === undefined) this.changedAt = epochMs();
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
    this.failed ??= 'closed';
    this.stream.close();
  }
}
