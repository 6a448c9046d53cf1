// The ADS service definition for @grpc/grpc-js, shared by the server (src/xds) and the
// proxy's xDS client (src/proxy). Responses may be passed as pre-encoded bytes.
import * as grpc from '@grpc/grpc-js';
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';
import {
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
  type PreEncodedResponse,
} from './codec.js';
import type { DiscoveryRequest, DiscoveryResponse } from './types.js';
import { messageType } from './protos.js';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_METHOD_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;

/**
 * A response already behind its gRPC message prefix (encodeGrpcFramedDiscoveryResponse), shared
 * by every stream it is written to: the server then writes these very bytes, with no per-stream
 * copy (see sendPreFramedAsIs).
 */
export class GrpcFramedResponse {
  constructor(readonly bytes: Buffer) {
    if (bytes.length < 5 || bytes[0] !== 0 || bytes.readUInt32BE(1) !== bytes.length - 5) throw new Error('GrpcFramedResponse: bytes must start with an uncompressed gRPC message prefix of their length');
  }
}

/** What the server writes: bytes made by encodeDiscoveryResponse, or a plain response. */
export type OutgoingDiscoveryResponse = Buffer | GrpcFramedResponse | PreEncodedResponse | DiscoveryResponse;

function serializeResponse(r: OutgoingDiscoveryResponse): Buffer {
  if (Buffer.isBuffer(r)) return r;
  if (r instanceof GrpcFramedResponse) return r.bytes.subarray(5); // grpc-js adds the prefix back (a copy)
  if ('framedResources' in r) return encodeDiscoveryResponse(r);
  const type = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  return Buffer.from(type.encode(type.fromObject(r)).finish());
}

export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    originalName: 'streamAggregatedResources',
    requestSerialize: (r: DiscoveryRequest): Buffer => encodeDiscoveryRequest(r),
    requestDeserialize: (b: Buffer): DiscoveryRequest => decodeDiscoveryRequest(b),
    responseSerialize: serializeResponse,
    responseDeserialize: (b: Buffer): DiscoveryResponse => decodeDiscoveryResponse(b),
  },
} satisfies grpc.ServiceDefinition;

/**
 * grpc-js frames every outgoing message into a fresh buffer (prefix + a copy of the message).
 * For a 0.5 MB RouteConfiguration pushed to 1,000 streams that is 0.5 GB allocated, copied and
 * queued per push. This lets a GrpcFramedResponse through as is, so all streams queue the same
 * bytes. Without the hook (another grpc-js version) serializeResponse above is the fallback.
 */
function sendPreFramedAsIs(): boolean {
  const proto = (BaseServerInterceptingCall as unknown as { prototype?: Record<string, unknown> }).prototype;
  const original = proto?.['serializeMessage'];
  if (!proto || typeof original !== 'function') return false;
  if ((original as { weftPreFramed?: boolean }).weftPreFramed) return true;
  const patched = function (this: unknown, value: unknown): Buffer {
    return value instanceof GrpcFramedResponse ? value.bytes : (original as (v: unknown) => Buffer).call(this, value);
  };
  (patched as { weftPreFramed?: boolean }).weftPreFramed = true;
  proto['serializeMessage'] = patched;
  return true;
}
export const preFramedWritesAsIs = sendPreFramedAsIs();

export type AdsStream = grpc.ServerDuplexStream<DiscoveryRequest, OutgoingDiscoveryResponse>;
export type AdsClientStream = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** A client for ADS: `new AdsClient(addr, creds).StreamAggregatedResources()`. */
export interface AdsClient extends grpc.Client {
  StreamAggregatedResources(metadata?: grpc.Metadata, options?: grpc.CallOptions): AdsClientStream;
}

export const AdsClient = grpc.makeGenericClientConstructor(adsServiceDefinition, ADS_SERVICE_NAME) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => AdsClient;
