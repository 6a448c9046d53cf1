// The CA as the control plane runs it: load or create the CA material from the mesh
// namespace, authenticate with TokenReview, serve gRPC over TLS with a certificate from its
// own intermediate, publish the trust bundle, and re-check the Secret periodically (an
// intermediate renewal, a replaced cacerts, a rotation stage written by the operator).
import { DEFAULT_TRUST_DOMAIN } from '../api/sidecar.js';
import { errorMessage } from '../errors/errors.js';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import { bundleHash, issueServingCertificate, type CaMaterial } from './authority.js';
import { TokenReviewAuthenticator } from './authenticator.js';
import { publishTrustBundle } from './bundle.js';
import { Issuer, type IssuerOptions } from './issuer.js';
import { caServerCredentials, startCaServer, type CaServer } from './server.js';
import { loadOrCreateCa } from './store.js';

export interface CaServiceOptions {
  clients: KubeClients;
  /** The mesh namespace holding cacerts / weft-ca-secret. */
  namespace: string;
  trustDomain?: string;
  port: number;
  host?: string;
  logger: Logger;
  issuer?: Omit<IssuerOptions, 'trustDomain'>;
  /** DNS names (and IPs) for the CA's serving certificate; `false` serves plaintext (loopback tests only). */
  tls: { dnsNames: string[]; ipAddresses?: string[] } | false;
  /** Namespaces to publish the trust bundle ConfigMap to, besides the mesh namespace. */
  bundleNamespaces?: () => Promise<readonly string[]>;
  /** How often to re-read the CA Secret and republish. Default 1 h. */
  recheckMs?: number;
  clock?: () => Date;
}

export interface CaService {
  readonly server: CaServer;
  readonly issuer: Issuer;
  /** PEM roots clients use to verify the CA (and each other). */
  trustBundle(): readonly string[];
  /** Re-reads the Secret and republishes now; resolves true when the material changed. */
  recheck(): Promise<boolean>;
  close(): Promise<void>;
}

export async function runCaService(opts: CaServiceOptions): Promise<CaService> {
  const clock = opts.clock ?? ((): Date => new Date());
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const log = opts.logger;
  const load = async (): Promise<CaMaterial> => (await loadOrCreateCa(opts.clients, { namespace: opts.namespace, trustDomain, now: clock(), logger: log })).material;
  const material = await load();
  const issuer = new Issuer(material, { ...opts.issuer, trustDomain });
  const authenticator = new TokenReviewAuthenticator(opts.clients, { logger: log });
  const credentials = opts.tls
    ? caServerCredentials(await issueServingCertificate(material, { now: clock(), dnsNames: opts.tls.dnsNames, ipAddresses: opts.tls.ipAddresses ?? [] }))
    : undefined;
  const server = await startCaServer({ issuer, authenticator, port: opts.port, host: opts.host ?? '127.0.0.1', logger: log, clock, ...(credentials ? { credentials } : {}) });

  const publish = async (): Promise<void> => {
    const namespaces = new Set([opts.namespace, ...((await opts.bundleNamespaces?.()) ?? [])]);
    for (const ns of namespaces) await publishTrustBundle(opts.clients, ns, issuer.trustBundle());
  };
  await publish();

  const recheck = async (): Promise<boolean> => {
    const before = issuer.currentMaterial;
    const next = await load();
    const changed = next.signingCert.serialNumber !== before.signingCert.serialNumber || bundleHash(next.trustBundle) !== bundleHash(before.trustBundle);
    if (changed) {
      issuer.use(next);
      log.info({ intermediateNotAfter: next.signingCert.notAfter.toISOString(), roots: next.trustBundle.length }, 'CA material reloaded');
    }
    await publish();
    return changed;
  };
  const timer = setInterval(() => {
    recheck().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'CA recheck failed; serving with the current material'));
  }, opts.recheckMs ?? 3600_000);
  timer.unref();

  return {
    server,
    issuer,
    trustBundle: () => issuer.trustBundle(),
    recheck,
    close: async () => {
      clearInterval(timer);
      await server.close();
    },
  };
}
