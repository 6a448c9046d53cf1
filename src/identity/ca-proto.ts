// Loads src/api/proto/ca.proto for both ends of the CSR service (the CA server in
// src/ca and the cert agent's client here). The .proto ships beside the compiled code's
// source tree: dist/src/identity -> ../../../src/api/proto.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const CA_SERVICE_NAME = 'weft.ca.v1.CertificateService';
export const CA_METHOD_PATH = `/${CA_SERVICE_NAME}/CreateCertificate`;

export interface CertificateRequest {
  csr: string;
  /** Seconds. proto-loader's `longs: Number` turns the int64 into a number. */
  validity_duration: number;
}

export interface CertificateResponse {
  cert_chain: string[];
  trust_bundle: string[];
}

export function caProtoPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../../src/api/proto/ca.proto'), // dist/src/identity
    path.resolve(here, '../api/proto/ca.proto'), // src/identity
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`ca.proto not found; looked in ${candidates.join(', ')}`);
  return found;
}

export interface CaServiceDefinition {
  service: grpc.ServiceDefinition;
  client: grpc.ServiceClientConstructor;
}

let cached: CaServiceDefinition | undefined;

export function caServiceDefinition(): CaServiceDefinition {
  if (!cached) {
    const def = protoLoader.loadSync(caProtoPath(), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { weft: { ca: { v1: { CertificateService: grpc.ServiceClientConstructor } } } };
    const ctor = pkg.weft.ca.v1.CertificateService;
    cached = { service: ctor.service, client: ctor };
  }
  return cached;
}
