// The proxy's workload identity: the cert agent, the TLS identity new connections use, and
// the CA client, kept in step with the mesh trust bundle that arrives over SDS (ROOTCA).
//
// A new bundle is applied in this order, and only then is the ROOTCA version ACKed:
//   1. the agent trusts it;
//   2. if the bundle's first root is not the root our certificate chains to, the issuer has
//      switched: renew, retrying with the agent's backoff until a certificate under that
//      root arrives (no ACK meanwhile); then the bundle must trust our certificate, else NACK;
//   3. the TLS identity swaps its context for new connections (established ones keep theirs);
//   4. the CA client trusts the bundle, so it can still verify the CA once the old root retires.
import { WeftError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { CertAgent, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions, type WorkloadCertificate } from '../identity/cert-agent.js';
import { GrpcCaClient, type TokenSource } from '../identity/ca-client.js';
import { pemFingerprint } from '../identity/chain.js';
import { TlsIdentity, type TlsMaterial } from './tls.js';

export interface WorkloadIdentityOptions {
  caAddress: string;
  token: TokenSource;
  /** PEM roots to verify the CA (the mounted trust bundle); plaintext when absent (loopback only). */
  rootCertPem?: string;
  /** Name the CA's certificate is checked against, when it differs from the host. */
  caServerName?: string;
  namespace: string;
  serviceAccount: string;
  trustDomain?: string;
  ttlSeconds?: number;
  backoff?: Partial<BackoffOptions>;
  logger: Logger;
}

export interface WorkloadIdentity {
  readonly agent: CertAgent;
  readonly identity: TlsIdentity;
  readonly ca: GrpcCaClient;
  /** Applies a ROOTCA bundle (see the steps above); resolves when it may be ACKed. */
  applyTrustBundle(bundlePem: readonly string[], superseded: () => boolean): Promise<void>;
  stop(): void;
}

function materialOf(c: WorkloadCertificate): TlsMaterial {
  return { certChainPem: c.certChainPem.join(''), keyPem: c.privateKeyPem, rootsPem: c.trustBundlePem.join('') };
}

/** Starts the cert agent and resolves with the first certificate in place. */
export async function startWorkloadIdentity(opts: WorkloadIdentityOptions): Promise<WorkloadIdentity> {
  const ca = new GrpcCaClient({
    address: opts.caAddress, token: opts.token,
    ...(opts.rootCertPem ? { rootCertPem: opts.rootCertPem } : {}),
    ...(opts.caServerName ? { serverName: opts.caServerName } : {}),
  });
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...opts.backoff };
  const agent = new CertAgent({
    ca, namespace: opts.namespace, serviceAccount: opts.serviceAccount, logger: opts.logger, backoff,
    ...(opts.trustDomain ? { trustDomain: opts.trustDomain } : {}),
    ...(opts.ttlSeconds ? { ttlSeconds: opts.ttlSeconds } : {}),
  });
  let identity: TlsIdentity;
  try {
    identity = new TlsIdentity(materialOf(await agent.start()));
  } catch (e) {
    agent.stop();
    ca.close();
    throw e;
  }
  const refresh = (): void => {
    const c = agent.current();
    if (c) identity.update(materialOf(c));
  };
  agent.on('rotated', refresh);
  agent.on('bundleChanged', refresh);
  let stopped = false;

  const applyTrustBundle = async (bundlePem: readonly string[], superseded: () => boolean): Promise<void> => {
    const first = pemFingerprint(bundlePem[0]!);
    if (!agent.current()) throw new WeftError('WEFT_E_UNAVAILABLE', 'no valid workload certificate to check the new trust bundle against');
    tryTrust(bundlePem); // fails while our certificate chains to a root the bundle retires; checked again below
    for (let attempt = 0; agent.current()?.rootFingerprint !== first; attempt++) {
      if (superseded() || stopped) return;
      await agent.renewNow();
      if (agent.current()?.rootFingerprint === first) break;
      const delay = backoffDelay(attempt, backoff, Math.random());
      opts.logger.warn({ attempt: attempt + 1, retryInMs: delay, wantRoot: first.slice(0, 16) }, 'no certificate under the trust bundle\'s issuing root yet; retrying before ACK');
      await new Promise((r) => setTimeout(r, delay).unref());
    }
    if (superseded() || stopped) return;
    // Again after a renewal: the CA's response may list the same roots in another order.
    const trusted = tryTrust(bundlePem);
    if (trusted) throw new WeftError('WEFT_E_INVALID_INPUT', `ROOTCA does not trust this proxy's own certificate: ${trusted.message}`, {}, { cause: trusted });
    refresh();
    ca.setRoots(bundlePem.join(''));
  };

  /** Makes the agent trust the bundle; the error when its own certificate would not verify. */
  const tryTrust = (bundlePem: readonly string[]): Error | undefined => {
    try {
      agent.updateTrustBundle(bundlePem);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  };

  return {
    agent, identity, ca, applyTrustBundle,
    stop: () => {
      stopped = true;
      agent.stop();
      ca.close();
    },
  };
}
