// The cert agent's side of the CSR service. A fresh token is read for every call
// (projected tokens rotate on disk), sent as `authorization: Bearer <token>`, and gRPC
// statuses come back as typed errors: UNAVAILABLE and DEADLINE_EXCEEDED are retryable.
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { WeftError, type WeftErrorCode } from '../errors/errors.js';
import { caServiceDefinition, type CertificateRequest, type CertificateResponse } from './ca-proto.js';

export interface CaCertificateResponse {
  readonly certChain: readonly string[];
  readonly trustBundle: readonly string[];
}

/** What the cert agent needs from a CA. */
export interface CaClient {
  createCertificate(csrPem: string, validitySeconds: number): Promise<CaCertificateResponse>;
  close(): void;
}

export type TokenSource = () => Promise<string>;

export function fileTokenSource(path: string): TokenSource {
  return async () => (await readFile(path, 'utf8')).trim();
}

export interface GrpcCaClientOptions {
  /** host:port */
  address: string;
  token: TokenSource;
  /** PEM roots to verify the CA's serving cert; plaintext when absent (loopback only). */
  rootCertPem?: string;
  /** Name the CA's certificate is checked against, when it differs from the host. */
  serverName?: string;
  deadlineMs?: number;
  /** Extra gRPC channel options (reconnect backoff and the like). */
  channelOptions?: grpc.ChannelOptions;
}

const CODE_FOR: Partial<Record<grpc.status, WeftErrorCode>> = {
  [grpc.status.UNAUTHENTICATED]: 'WEFT_E_UNAUTHENTICATED',
  [grpc.status.PERMISSION_DENIED]: 'WEFT_E_PERMISSION_DENIED',
  [grpc.status.INVALID_ARGUMENT]: 'WEFT_E_INVALID_INPUT',
  [grpc.status.FAILED_PRECONDITION]: 'WEFT_E_INVALID_CONFIG',
  [grpc.status.UNAVAILABLE]: 'WEFT_E_UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'WEFT_E_UNAVAILABLE',
  [grpc.status.RESOURCE_EXHAUSTED]: 'WEFT_E_UNAVAILABLE',
  [grpc.status.ABORTED]: 'WEFT_E_UNAVAILABLE',
  [grpc.status.NOT_FOUND]: 'WEFT_E_NOT_FOUND',
};

export function errorFromStatus(e: grpc.ServiceError): WeftError {
  const code = CODE_FOR[e.code] ?? 'WEFT_E_INTERNAL';
  return new WeftError(code, `CA: ${grpc.status[e.code]}: ${e.details}`, { grpcCode: e.code, grpcStatus: grpc.status[e.code] }, { cause: e });
}

export class GrpcCaClient implements CaClient {
  private client: grpc.Client & {
    CreateCertificate(req: CertificateRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<CertificateResponse>): grpc.ClientUnaryCall;
  };
  private readonly deadlineMs: number;

  constructor(private readonly opts: GrpcCaClientOptions) {
    this.client = GrpcCaClient.dial(opts, opts.rootCertPem);
    this.deadlineMs = opts.deadlineMs ?? 10_000;
  }

  private static dial(opts: GrpcCaClientOptions, rootCertPem: string | undefined): GrpcCaClient['client'] {
    const creds = rootCertPem ? grpc.credentials.createSsl(Buffer.from(rootCertPem)) : grpc.credentials.createInsecure();
    const channelOpts: grpc.ChannelOptions = { ...opts.channelOptions, ...(opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName } : {}) };
    const Ctor = caServiceDefinition().client;
    return new Ctor(opts.address, creds, channelOpts) as unknown as GrpcCaClient['client']; // proto-loader's generated client is untyped
  }

  /**
   * Trusts new roots for the CA's serving certificate (root rotation): later calls use a
   * fresh channel; calls in flight finish on the old one. A plaintext client stays plaintext.
   */
  setRoots(rootCertPem: string): void {
    if (!this.opts.rootCertPem) return;
    const old = this.client;
    this.client = GrpcCaClient.dial(this.opts, rootCertPem);
    old.close();
  }

  async createCertificate(csrPem: string, validitySeconds: number): Promise<CaCertificateResponse> {
    let token: string;
    try {
      token = await this.opts.token();
    } catch (e) {
      throw new WeftError('WEFT_E_UNAVAILABLE', 'cannot read the ServiceAccount token for the CA', {}, { cause: e });
    }
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const res = await new Promise<CertificateResponse>((resolve, reject) => {
      this.client.CreateCertificate(
        { csr: csrPem, validity_duration: Math.max(0, Math.round(validitySeconds)) },
        md,
        { deadline: Date.now() + this.deadlineMs },
        (err, value) => (err ? reject(errorFromStatus(err)) : resolve(value!)),
      );
    });
    return { certChain: res.cert_chain ?? [], trustBundle: res.trust_bundle ?? [] };
  }

  close(): void {
    this.client.close();
  }
}
