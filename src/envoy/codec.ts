// Encode and decode Envoy resources and the ADS messages. Resources are encoded once into
// framed bytes and the server splices those bytes into every DiscoveryResponse unchanged.
import type * as protobuf from 'protobufjs';
import { invalidInput } from '../errors/errors.js';
import { messageType } from './protos.js';
import { NAME_TABLE_RESOURCE, TYPE_URLS, type AnyMessage, type DiscoveryRequest, type DiscoveryResponse, type EnvoyResource } from './types.js';

/** toObject options for decoding: snake_case, enums as names, Any unwrapped to `@type` form. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = Object.freeze({
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: false,
  oneofs: false,
  json: true,
});

function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/**
 * Encodes a resource (plain object) into the protobuf bytes of its message type. Unknown
 * fields are rejected, not dropped: protobufjs' fromObject ignores them, so a misspelt field
 * would otherwise vanish silently.
 */
export function encodeResource(typeUrl: string, obj: EnvoyResource): Buffer {
  const type = messageType(typeNameOf(typeUrl));
  assertKnownFields(type, obj, typeNameOf(typeUrl));
  const msg = type.fromObject(obj);
  return Buffer.from(type.encode(msg).finish());
}

/** Decodes protobuf bytes of a resource into the plain snake_case form (Any as `@type`). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): EnvoyResource {
  const type = messageType(typeNameOf(typeUrl));
  return type.toObject(type.decode(bytes), DECODE_OPTIONS) as EnvoyResource;
}

/** Wraps a resource in an Any. */
export function encodeAny(typeUrl: string, obj: EnvoyResource): AnyMessage {
  return { type_url: typeUrl, value: encodeResource(typeUrl, obj) };
}

/** Unwraps an Any into the plain form of its payload. */
export function decodeAny(any: AnyMessage): EnvoyResource {
  return decodeResource(any.type_url, any.value);
}

/** The name xDS uses to address a resource of the given type. */
export function resourceName(typeUrl: string, obj: EnvoyResource): string {
  if (typeUrl === TYPE_URLS.nameTable) return NAME_TABLE_RESOURCE;
  const name = typeUrl === TYPE_URLS.endpoint ? obj['cluster_name'] : obj['name'];
  if (typeof name !== 'string' || name === '') throw invalidInput('resource has no name', { typeUrl });
  return name;
}

/** Walks obj against the message type and throws on a field the type does not have. */
export function assertKnownFields(type: protobuf.Type, obj: unknown, path: string): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return;
  const full = type.fullName.replace(/^\./, '');
  if (full === 'google.protobuf.Struct' || full === 'google.protobuf.Value' || full === 'google.protobuf.ListValue') return;
  if (full === 'google.protobuf.Any') {
    const at = (obj as Record<string, unknown>)['@type'];
    if (typeof at !== 'string') return;
    let inner: protobuf.Type;
    try {
      inner = messageType(typeNameOf(at));
    } catch {
      throw invalidInput('unknown Any type', { path, type: at });
    }
    const rest = { ...(obj as Record<string, unknown>) };
    delete rest['@type'];
    assertKnownFields(inner, rest, path);
    return;
  }
  for (const [key, value] of Object.entries(obj as Record<string, unknown>)) {
    const field = type.fields[key];
    if (!field) throw invalidInput('unknown field in Envoy resource', { path: `${path}.${key}`, type: full });
    if (value === null || value === undefined) continue;
    field.resolve();
    const ft = field.resolvedType;
    if (!ft || !('fields' in ft)) continue; // scalar or enum
    const sub = ft as protobuf.Type;
    if (field.map) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) assertKnownFields(sub, v, `${path}.${key}[${k}]`);
    } else if (field.repeated && Array.isArray(value)) {
      value.forEach((v, i) => assertKnownFields(sub, v, `${path}.${key}[${i}]`));
    } else {
      assertKnownFields(sub, value, `${path}.${key}`);
    }
  }
}

// --- ADS messages -------------------------------------------------------------------------

const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';

/** Protobuf field 2 (resources, repeated Any) framed around an Any: tag, length, payload. */
export function frameAnyAsResponseResource(typeUrl: string, value: Uint8Array): Buffer {
  const anyType = messageType('google.protobuf.Any');
  const anyBytes = anyType.encode(anyType.create({ type_url: typeUrl, value })).finish();
  return Buffer.concat([Buffer.from([0x12]), encodeVarint(anyBytes.length), anyBytes]);
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A DiscoveryResponse whose resources are already framed (see frameAnyAsResponseResource). */
export interface PreEncodedResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  framedResources: readonly Buffer[];
}

/**
 * Serialises a DiscoveryResponse by encoding only its small header fields and splicing the
 * pre-framed resource bytes after them (protobuf allows fields in any order).
 */
export function encodeDiscoveryResponse(r: PreEncodedResponse): Buffer {
  return Buffer.concat(discoveryResponseParts(r));
}

/**
 * The same bytes behind the 5-byte gRPC message prefix (uncompressed flag, big-endian length):
 * a message ready for the wire, written as is by every stream it is sent on.
 */
export function encodeGrpcFramedDiscoveryResponse(r: PreEncodedResponse): Buffer {
  const parts = discoveryResponseParts(r);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(parts.reduce((n, p) => n + p.length, 0), 1);
  return Buffer.concat([prefix, ...parts]);
}

function discoveryResponseParts(r: PreEncodedResponse): Uint8Array[] {
  const type = messageType(DISCOVERY_RESPONSE);
  const head = type.encode(type.create({ version_info: r.version_info, type_url: r.type_url, nonce: r.nonce })).finish();
  return [head, ...r.framedResources];
}

export function decodeDiscoveryResponse(bytes: Uint8Array): DiscoveryResponse {
  const type = messageType(DISCOVERY_RESPONSE);
  const o = type.toObject(type.decode(bytes), { longs: Number, enums: String, bytes: Buffer, defaults: true }) as Record<string, unknown>;
  return {
    version_info: String(o['version_info'] ?? ''),
    type_url: String(o['type_url'] ?? ''),
    nonce: String(o['nonce'] ?? ''),
    resources: (o['resources'] as AnyMessage[] | undefined) ?? [],
  };
}

export function encodeDiscoveryRequest(r: DiscoveryRequest): Buffer {
  const type = messageType(DISCOVERY_REQUEST);
  return Buffer.from(type.encode(type.fromObject(r)).finish());
}

export function decodeDiscoveryRequest(bytes: Uint8Array): DiscoveryRequest {
  const type = messageType(DISCOVERY_REQUEST);
  return type.toObject(type.decode(bytes), { longs: Number, enums: String, defaults: true, json: true }) as DiscoveryRequest;
}
