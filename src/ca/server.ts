// The CSR service on @grpc/grpc-js: bearer token from metadata -> Authenticator ->
// Issuer -> cert_chain + trust_bundle. Typed errors become gRPC statuses here and only
// here. The server knows nothing about Kubernetes; the Authenticator does.
import * as grpc from '@grpc/grpc-js';
import { WeftError, errorMessage, isWeftError, type WeftErrorCode } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { caServiceDefinition, type CertificateRequest, type CertificateResponse } from '../identity/ca-proto.js';
import type { Authenticator } from './authenticator.js';
import type { Issuer } from './issuer.js';

const STATUS_FOR: Record<WeftErrorCode, grpc.status> = {
  WEFT_E_INVALID_INPUT: grpc.status.INVALID_ARGUMENT,
  WEFT_E_INVALID_CONFIG: grpc.status.FAILED_PRECONDITION,
  WEFT_E_NOT_FOUND: grpc.status.NOT_FOUND,
  WEFT_E_CONFLICT: grpc.status.ABORTED,
  WEFT_E_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  WEFT_E_PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  WEFT_E_UNAVAILABLE: grpc.status.UNAVAILABLE,
  WEFT_E_TERMINAL: grpc.status.FAILED_PRECONDITION,
  WEFT_E_INTERNAL: grpc.status.INTERNAL,
};

export function grpcStatusFor(e: unknown): { code: grpc.status; details: string } {
  if (isWeftError(e)) return { code: STATUS_FOR[e.code], details: e.message };
  return { code: grpc.status.INTERNAL, details: 'internal error in the CA' };
}

/** Counters for the metrics endpoint: certificates issued and rejections by reason. */
export class CaStats {
  issued = 0;
  readonly rejected = new Map<string, number>();
  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }
  snapshot(): { issued: number; rejected: Record<string, number> } {
    return { issued: this.issued, rejected: Object.fromEntries(this.rejected) };
  }
}

export interface CaServerOptions {
  issuer: Issuer;
  authenticator: Authenticator;
  /** 0 picks a free port. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  logger: Logger;
  /** Serving credentials; insecure when absent (tests on loopback, or TLS terminated in front). */
  credentials?: grpc.ServerCredentials;
  clock?: () => Date;
  stats?: CaStats;
}

export interface CaServer {
  readonly port: number;
  /** host:port to dial. */
  readonly address: string;
  readonly stats: CaStats;
  /** Stops accepting calls; in-flight calls get `graceMs` (default 5 s) before a forced shutdown. */
  close(graceMs?: number): Promise<void>;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** Seconds; anything beyond is refused rather than silently wrapped. */
const MAX_VALIDITY_SECONDS = 10 * 365 * 24 * 3600;

export function bearerToken(md: grpc.Metadata): string {
  const values = md.get('authorization');
  if (values.length === 0) throw new WeftError('WEFT_E_UNAUTHENTICATED', "missing 'authorization: Bearer <token>' metadata");
  if (values.length > 1) throw new WeftError('WEFT_E_UNAUTHENTICATED', "more than one 'authorization' metadata value");
  const m = BEARER.exec(String(values[0]));
  if (!m) throw new WeftError('WEFT_E_UNAUTHENTICATED', "'authorization' metadata must be 'Bearer <token>'");
  return m[1]!;
}

function rejectionReason(e: unknown): string {
  if (isWeftError(e)) {
    const r = e.details.reason;
    if (typeof r === 'string') return r;
    if (e.code === 'WEFT_E_UNAUTHENTICATED') return 'unauthenticated';
    return e.code.replace(/^WEFT_E_/, '').toLowerCase();
  }
  return 'internal';
}

export function createCaHandler(opts: Omit<CaServerOptions, 'port' | 'host' | 'credentials'> & { stats: CaStats }): grpc.handleUnaryCall<CertificateRequest, CertificateResponse> {
  const clock = opts.clock ?? ((): Date => new Date());
  const log = opts.logger;
  return (call, callback) => {
    const handle = async (): Promise<CertificateResponse> => {
      const token = bearerToken(call.metadata);
      const identity = await opts.authenticator.authenticate(token);
      const secs = Number(call.request.validity_duration ?? 0);
      if (!Number.isFinite(secs) || secs < 0 || secs > MAX_VALIDITY_SECONDS) {
        throw new WeftError('WEFT_E_INVALID_INPUT', `validity_duration must be between 0 and ${MAX_VALIDITY_SECONDS} seconds`, { reason: 'bad_validity' });
      }
      const issued = await opts.issuer.sign({ csr: call.request.csr ?? '', identity, ttlMs: secs * 1000 }, clock());
      opts.stats.issued++;
      log.debug({ spiffeId: issued.spiffeId, serial: issued.serialNumber, notAfter: issued.notAfter.toISOString(), pod: identity.podName }, 'certificate issued');
      return { cert_chain: [...issued.certChainPem], trust_bundle: [...issued.trustBundlePem] };
    };
    handle().then(
      (res) => callback(null, res),
      (e: unknown) => {
        const { code, details } = grpcStatusFor(e);
        const reason = rejectionReason(e);
        opts.stats.reject(reason);
        if (code === grpc.status.INTERNAL) log.error({ err: errorMessage(e), peer: call.getPeer() }, 'certificate request failed');
        else log.info({ reason, code: grpc.status[code], message: details, peer: call.getPeer() }, 'certificate request rejected');
        callback({ code, details });
      },
    );
  };
}

/** Starts the CA's gRPC server and resolves once it is listening. */
export async function startCaServer(opts: CaServerOptions): Promise<CaServer> {
  const host = opts.host ?? '127.0.0.1';
  const stats = opts.stats ?? new CaStats();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 });
  server.addService(caServiceDefinition().service, { CreateCertificate: createCaHandler({ ...opts, stats }) });
  const bindHost = host.includes(':') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bindHost}:${opts.port}`, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  opts.logger.info({ host, port }, 'CA gRPC server listening');
  return {
    port,
    address: `${bindHost}:${port}`,
    stats,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        if (graceMs <= 0) {
          server.forceShutdown();
          resolve();
          return;
        }
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        t.unref();
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/** gRPC server credentials from a serving certificate (see issueServingCertificate). No client certs: callers authenticate with tokens. */
export function caServerCredentials(serving: { keyPem: string; certChainPem: string }): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.certChainPem) }], false);
}

/**
 * Serving credentials whose certificate can be replaced while the server runs (a root
 * rotation re-issues the CA's own certificate under the new intermediate). New handshakes
 * use the latest certificate; established connections keep theirs.
 */
export class ReloadableServingCredentials implements grpc.experimental.CertificateProvider {
  private latest: grpc.experimental.IdentityCertificateUpdate;
  private readonly listeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  readonly credentials: grpc.ServerCredentials;

  constructor(serving: { keyPem: string; certChainPem: string }) {
    this.latest = ReloadableServingCredentials.update(serving);
    // grpc-js passes its first argument on as the identity provider (the parameter names are swapped).
    this.credentials = grpc.experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  private static update(s: { keyPem: string; certChainPem: string }): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(s.certChainPem), privateKey: Buffer.from(s.keyPem) };
  }

  set(serving: { keyPem: string; certChainPem: string }): void {
    this.latest = ReloadableServingCredentials.update(serving);
    for (const l of this.listeners) l(this.latest);
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.listeners.add(listener);
    // Later than the registration: grpc-js adds its own watcher only after this returns.
    setImmediate(() => {
      if (this.listeners.has(listener)) listener(this.latest);
    });
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.listeners.delete(listener);
  }

  addCaCertificateListener(): void {
    // No client certificates: callers authenticate with tokens.
  }

  removeCaCertificateListener(): void {
    // See addCaCertificateListener.
  }
}
