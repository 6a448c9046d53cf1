// The CA as the control plane runs it: load or create the CA material from the mesh
// namespace, authenticate with TokenReview, serve gRPC over TLS with a certificate from its
// own intermediate, publish the trust bundle, and re-check the Secret periodically (an
// intermediate renewal, a replaced cacerts). With `rotation` set it also runs the root
// rotation driver (rotation-driver.ts) and hands the trust bundle to the xDS server as ROOTCA.
import { DEFAULT_TRUST_DOMAIN } from '../api/sidecar.js';
import { errorMessage } from '../errors/errors.js';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import { bundleHash, fingerprint, issueServingCertificate, orderBundle, type CaMaterial } from './authority.js';
import { TokenReviewAuthenticator } from './authenticator.js';
import { publishTrustBundle } from './bundle.js';
import { Issuer, type IssuerOptions } from './issuer.js';
import { RotationDriver, type RootCaView } from './rotation-driver.js';
import { ReloadableServingCredentials, startCaServer, type CaServer } from './server.js';
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
  /** Receives the trust bundle, issuing root first, at start and on every change (the xDS server's ROOTCA). */
  onTrustBundle?: (bundlePem: readonly string[]) => void;
  /** Runs the root rotation driver, which reads the proxies' ROOTCA ACKs from `proxies`. */
  rotation?: { proxies: RootCaView; tickMs: number };
}

export interface CaService {
  readonly server: CaServer;
  readonly issuer: Issuer;
  /** PEM roots clients use to verify the CA (and each other). */
  trustBundle(): readonly string[];
  /** Re-reads the Secret and republishes now; resolves true when the material changed. */
  recheck(): Promise<boolean>;
  /** Serves new CA material: issuer, the CA's own serving certificate, trust bundle sinks. */
  applyMaterial(material: CaMaterial): Promise<void>;
  readonly rotation: RotationDriver | undefined;
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
  const issueServing = async (m: CaMaterial): Promise<{ keyPem: string; certChainPem: string } | undefined> =>
    opts.tls ? issueServingCertificate(m, { now: clock(), dnsNames: opts.tls.dnsNames, ipAddresses: opts.tls.ipAddresses ?? [] }) : undefined;
  const first = await issueServing(material);
  const credentials = first ? new ReloadableServingCredentials(first) : undefined;
  const publish = async (): Promise<void> => {
    const namespaces = new Set([opts.namespace, ...((await opts.bundleNamespaces?.()) ?? [])]);
    for (const ns of namespaces) await publishTrustBundle(opts.clients, ns, issuer.trustBundle());
  };
  const applyMaterial = async (next: CaMaterial): Promise<void> => {
    const before = issuer.currentMaterial;
    issuer.use(next);
    // The CA's own certificate follows the signer, so proxies that retire the old root can still verify it.
    if (credentials && next.signingCert.serialNumber !== before.signingCert.serialNumber) {
      const s = await issueServing(next);
      if (s) credentials.set(s);
    }
    opts.onTrustBundle?.(orderBundle(next));
    await publish();
  };

  const rotation = opts.rotation
    ? new RotationDriver({
      clients: opts.clients, namespace: opts.namespace, trustDomain, logger: log.child({ component: 'rotation' }), proxies: opts.rotation.proxies,
      apply: applyMaterial, clock,
    })
    : undefined;
  rotation?.servingIdle(fingerprint(material.issuingRoot.toString('pem')));
  // A restart mid-rotation serves the stage the Secret records before anything else is
  // served: never the main keys' bundle alone, which would undo a stage proxies already hold.
  const resumed = (await rotation?.resume()) ?? false;
  if (!resumed) {
    opts.onTrustBundle?.(orderBundle(material));
    await publish();
  }
  const server = await startCaServer({ issuer, authenticator, port: opts.port, host: opts.host ?? '127.0.0.1', logger: log, clock, ...(credentials ? { credentials: credentials.credentials } : {}) });

  const recheck = async (): Promise<boolean> => {
    // During a root rotation the driver decides what is served.
    if (rotation?.rotating) return false;
    const before = issuer.currentMaterial;
    const next = await load();
    const changed = next.signingCert.serialNumber !== before.signingCert.serialNumber || bundleHash(next.trustBundle) !== bundleHash(before.trustBundle);
    if (changed) {
      await applyMaterial(next);
      log.info({ intermediateNotAfter: next.signingCert.notAfter.toISOString(), roots: next.trustBundle.length }, 'CA material reloaded');
    } else {
      await publish();
    }
    return changed;
  };
  const timer = setInterval(() => {
    recheck().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'CA recheck failed; serving with the current material'));
  }, opts.recheckMs ?? 3600_000);
  timer.unref();
  rotation?.start(opts.rotation!.tickMs);

  return {
    server,
    issuer,
    trustBundle: () => issuer.trustBundle(),
    recheck,
    applyMaterial,
    rotation,
    close: async () => {
      clearInterval(timer);
      await rotation?.stop();
      await server.close();
    },
  };
}
