// The ADS service definition for @grpc/grpc-js, shared by the server (src/xds) and the
// proxy's xDS client (src/proxy). Responses may be passed as pre-encoded bytes.
import * as grpc from '@grpc/grpc-js';
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

/** What the server writes: bytes made by encodeDiscoveryResponse, or a plain response. */
export type OutgoingDiscoveryResponse = Buffer | PreEncodedResponse | DiscoveryResponse;

function serializeResponse(r: OutgoingDiscoveryResponse): Buffer {
  if (Buffer.isBuffer(r)) return r;
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
