// Loads the CSR service for both ends (the CA server in src/ca and the cert agent's client
// here). src/api/proto/ca.proto is the source of truth and is used when it is on disk
// (a checkout: dist/src/identity -> ../../../src/api/proto). An image that ships only
// dist/ falls back to CA_PROTO_JSON below, the same definition as a protobufjs JSON
// descriptor; a unit test keeps the two identical.
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

/** ca.proto as a protobufjs JSON descriptor. */
export const CA_PROTO_JSON = {
  nested: {
    weft: {
      nested: {
        ca: {
          nested: {
            v1: {
              nested: {
                CertificateRequest: { fields: { csr: { type: 'string', id: 1 }, validity_duration: { type: 'int64', id: 3 } } },
                CertificateResponse: {
                  fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 }, trust_bundle: { rule: 'repeated', type: 'string', id: 2 } },
                },
                CertificateService: { methods: { CreateCertificate: { requestType: 'CertificateRequest', responseType: 'CertificateResponse' } } },
              },
            },
          },
        },
      },
    },
  },
} as const;

/** Path of ca.proto when the source tree is present, else undefined. */
export function caProtoPath(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../../src/api/proto/ca.proto'), // dist/src/identity
    path.resolve(here, '../api/proto/ca.proto'), // src/identity
  ];
  return candidates.find((p) => existsSync(p));
}

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/** The package definition from the .proto file, or from the embedded JSON when `source` says so or the file is absent. */
export function loadCaPackage(source: 'auto' | 'file' | 'json' = 'auto'): protoLoader.PackageDefinition {
  const file = source === 'json' ? undefined : caProtoPath();
  if (file) return protoLoader.loadSync(file, LOADER_OPTIONS);
  if (source === 'file') throw new Error('ca.proto is not on disk');
  return protoLoader.fromJSON(CA_PROTO_JSON as unknown as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS); // a plain INamespace literal
}

export interface CaServiceDefinition {
  service: grpc.ServiceDefinition;
  client: grpc.ServiceClientConstructor;
}

let cached: CaServiceDefinition | undefined;

export function caServiceDefinition(): CaServiceDefinition {
  if (!cached) {
    const def = loadCaPackage();
    const pkg = grpc.loadPackageDefinition(def) as unknown as { weft: { ca: { v1: { CertificateService: grpc.ServiceClientConstructor } } } };
    const ctor = pkg.weft.ca.v1.CertificateService;
    cached = { service: ctor.service, client: ctor };
  }
  return cached;
}
