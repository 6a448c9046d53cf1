// The proxy's certificate agent. It makes a fresh P-256 key in-process for every
// certificate (the key never leaves the pod), sends a CSR with the pod's token, checks
// what comes back, and renews at 50% of the lifetime ± jitter (Istio renews at 50%,
// Linkerd at 70%). When the CA is unreachable it retries with exponential backoff and
// keeps the current certificate until it expires; it never hands out an expired one and
// has no plaintext fallback. Each new certificate is announced ('rotated') so TLS
// servers can swap their secure context for new connections; existing connections keep
// the context they were made with.
import { EventEmitter } from 'node:events';
import { createSecureContext, type SecureContext } from 'node:tls';
import { spiffeId as makeSpiffeId, DEFAULT_TRUST_DOMAIN } from '../api/sidecar.js';
import { WeftError, errorMessage, isWeftError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import type { CaClient } from './ca-client.js';
import { identityStateHash, pemFingerprint, verifyChain } from './chain.js';
import { createCsrPem, generateWorkloadKey } from './csr.js';

/** Time and timers, injected so tests are deterministic. */
export interface AgentClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface WorkloadCertificate {
  readonly spiffeId: string;
  readonly privateKeyPem: string;
  /** Leaf first, then intermediates; the root is left out (peers have it in their bundle). */
  readonly certChainPem: readonly string[];
  readonly trustBundlePem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
  /** When the agent plans to replace it. */
  readonly renewAt: Date;
  /** What this proxy reports for root rotation (see identityStateHash). */
  readonly stateHash: string;
  /** Fingerprint of the root the certificate chains to (lowercase hex). */
  readonly rootFingerprint: string;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
}

export interface CertAgentOptions {
  ca: CaClient;
  namespace: string;
  serviceAccount: string;
  trustDomain?: string;
  /** Requested lifetime; 0 lets the CA choose (MeshConfig's TTL, default 24h). */
  ttlSeconds?: number;
  /** Fraction of the lifetime after which to renew. Default 0.5. */
  renewFraction?: number;
  /** Renewal lands uniformly within ± this fraction of the lifetime around renewFraction. Default 0.1. */
  jitterFraction?: number;
  backoff?: Partial<BackoffOptions>;
  clock?: AgentClock;
  /** Uniform in [0, 1). */
  random?: () => number;
  logger?: Logger;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000, multiplier: 2 };

/**
 * When to renew a certificate: notBefore + lifetime × (fraction ± jitter). Pure.
 * `u` is a uniform sample in [0, 1); the result is clamped inside (notBefore, notAfter).
 */
export function renewalTime(notBefore: number, notAfter: number, fraction: number, jitterFraction: number, u: number): number {
  const life = notAfter - notBefore;
  const f = fraction + (2 * u - 1) * jitterFraction;
  const clamped = Math.min(0.95, Math.max(0.05, f));
  return notBefore + Math.round(life * clamped);
}

/** Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter". Pure. */
export function backoffDelay(attempt: number, b: BackoffOptions, u: number): number {
  const ceiling = Math.min(b.maxMs, b.initialMs * Math.pow(b.multiplier, attempt));
  return Math.round(ceiling / 2 + (ceiling / 2) * u);
}

export interface CertAgentEvents {
  rotated: [current: WorkloadCertificate, previous: WorkloadCertificate | undefined];
  renewFailed: [error: WeftError, attempt: number, retryInMs: number];
  expired: [previous: WorkloadCertificate];
  bundleChanged: [bundle: readonly string[]];
}

export class CertAgent extends EventEmitter<CertAgentEvents> {
  readonly spiffeId: string;
  private readonly clock: AgentClock;
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private readonly renewFraction: number;
  private readonly jitter: number;
  private cert: WorkloadCertificate | undefined;
  private renewTimer: unknown;
  private expiryTimer: unknown;
  private attempt = 0;
  private running = false;
  private inflight: Promise<void> | undefined;
  private firstWaiters: { resolve: (c: WorkloadCertificate) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly opts: CertAgentOptions) {
    super();
    this.spiffeId = makeSpiffeId(opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, opts.namespace, opts.serviceAccount);
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.renewFraction = opts.renewFraction ?? 0.5;
    this.jitter = opts.jitterFraction ?? 0.1;
    if (!(this.renewFraction > 0 && this.renewFraction < 1) || !(this.jitter >= 0 && this.jitter < Math.min(this.renewFraction, 1 - this.renewFraction))) {
      throw new WeftError('WEFT_E_INVALID_CONFIG', 'cert agent needs 0 < renewFraction ± jitterFraction < 1', { renewFraction: this.renewFraction, jitterFraction: this.jitter });
    }
  }

  /** Starts fetching; resolves with the first certificate (retrying until then), rejects if stopped first. */
  start(): Promise<WorkloadCertificate> {
    if (!this.running) {
      this.running = true;
      this.opts.logger?.info({ spiffeId: this.spiffeId }, 'cert agent starting; waiting for the first certificate');
      void this.attemptRenewal();
    }
    return this.ready();
  }

  /** The first (or current) valid certificate. */
  ready(): Promise<WorkloadCertificate> {
    const c = this.current();
    if (c) return Promise.resolve(c);
    return new Promise((resolve, reject) => this.firstWaiters.push({ resolve, reject }));
  }

  stop(): void {
    this.running = false;
    if (this.renewTimer !== undefined) this.clock.clearTimeout(this.renewTimer);
    if (this.expiryTimer !== undefined) this.clock.clearTimeout(this.expiryTimer);
    this.renewTimer = this.expiryTimer = undefined;
    const waiters = this.firstWaiters.splice(0);
    waiters.forEach((w) => w.reject(new WeftError('WEFT_E_UNAVAILABLE', 'cert agent stopped before a certificate was issued')));
  }

  /** The certificate to serve with, or undefined when there is none that is still valid. */
  current(): WorkloadCertificate | undefined {
    if (!this.cert) return undefined;
    return this.cert.notAfter.getTime() > this.clock.now() ? this.cert : undefined;
  }

  /** Node TLS options for the current certificate (mTLS: present the chain, trust the bundle). */
  tlsOptions(): { key: string; cert: string; ca: string[] } | undefined {
    const c = this.current();
    if (!c) return undefined;
    return { key: c.privateKeyPem, cert: c.certChainPem.join(''), ca: [...c.trustBundlePem] };
  }

  secureContext(): SecureContext | undefined {
    const o = this.tlsOptions();
    return o ? createSecureContext(o) : undefined;
  }

  /** Renews now (root rotation asks for this), whatever the schedule says. */
  async renewNow(): Promise<void> {
    if (this.renewTimer !== undefined) this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    await this.attemptRenewal();
  }

  /**
   * A trust bundle delivered out of band (the mounted ConfigMap, or xDS) during a root
   * rotation. The certificate stays; only the roots change.
   */
  updateTrustBundle(bundlePem: readonly string[]): void {
    const c = this.cert;
    if (!c || bundlePem.length === 0) return;
    const same = c.trustBundlePem.length === bundlePem.length && c.trustBundlePem.every((p, i) => pemFingerprint(p) === pemFingerprint(bundlePem[i]!));
    if (same) return;
    const issuer = verifyChain(c.certChainPem, bundlePem, new Date(this.clock.now())); // the new bundle must still trust our own cert
    this.cert = { ...c, trustBundlePem: [...bundlePem], stateHash: identityStateHash(bundlePem.map(pemFingerprint), issuer.rootFingerprint) };
    this.emit('bundleChanged', this.cert.trustBundlePem);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.renewTimer !== undefined) this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = this.clock.setTimeout(() => {
      this.renewTimer = undefined;
      void this.attemptRenewal();
    }, Math.max(0, delayMs));
  }

  private attemptRenewal(): Promise<void> {
    if (!this.inflight) this.inflight = this.renewOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async renewOnce(): Promise<void> {
    try {
      const next = await this.fetch();
      if (!this.running) return;
      const prev = this.cert;
      this.cert = next;
      this.attempt = 0;
      this.armExpiry(next);
      this.schedule(next.renewAt.getTime() - this.clock.now());
      this.opts.logger?.info({ spiffeId: next.spiffeId, serial: next.serialNumber, notAfter: next.notAfter.toISOString(), renewAt: next.renewAt.toISOString() }, 'workload certificate issued');
      this.firstWaiters.splice(0).forEach((w) => w.resolve(next));
      this.emit('rotated', next, prev);
    } catch (e) {
      if (!this.running) return;
      const err = isWeftError(e) ? e : new WeftError('WEFT_E_INTERNAL', errorMessage(e), {}, { cause: e });
      const delay = backoffDelay(this.attempt, this.backoff, this.random());
      const attempt = ++this.attempt;
      const valid = this.current();
      this.opts.logger?.warn(
        { err: err.message, code: err.code, attempt, retryInMs: delay, servingUntil: valid?.notAfter.toISOString() ?? null },
        valid ? 'certificate renewal failed; still serving the current certificate' : 'no workload certificate yet; waiting for the CA (no plaintext fallback)',
      );
      this.emit('renewFailed', err, attempt, delay);
      this.schedule(delay);
    }
  }

  private armExpiry(c: WorkloadCertificate): void {
    if (this.expiryTimer !== undefined) this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = this.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      if (this.cert === c) {
        this.opts.logger?.error({ spiffeId: c.spiffeId, notAfter: c.notAfter.toISOString() }, 'workload certificate expired without renewal; refusing mTLS until the CA answers');
        this.emit('expired', c);
      }
    }, c.notAfter.getTime() - this.clock.now());
  }

  private async fetch(): Promise<WorkloadCertificate> {
    const key = await generateWorkloadKey();
    const csr = await createCsrPem(key, this.spiffeId);
    const res = await this.opts.ca.createCertificate(csr, this.opts.ttlSeconds ?? 0);
    const now = new Date(this.clock.now());
    let v: ReturnType<typeof verifyChain>;
    try {
      v = verifyChain(res.certChain, res.trustBundle, now);
    } catch (e) {
      throw new WeftError('WEFT_E_INVALID_INPUT', `CA returned a certificate that does not verify: ${errorMessage(e)}`, {}, { cause: e });
    }
    if (v.uris.length !== 1 || v.uris[0] !== this.spiffeId) {
      throw new WeftError('WEFT_E_INVALID_INPUT', `CA returned a certificate for ${v.uris.join(', ') || 'no SPIFFE ID'}, expected ${this.spiffeId}`);
    }
    if (!v.leaf.checkPrivateKey(key.keyObject)) throw new WeftError('WEFT_E_INVALID_INPUT', 'CA returned a certificate for a different key');
    const bundleFps = new Set(res.trustBundle.map(pemFingerprint));
    const chain = res.certChain.filter((p, i) => i === 0 || !bundleFps.has(pemFingerprint(p)));
    const renewAt = renewalTime(v.notBefore.getTime(), v.notAfter.getTime(), this.renewFraction, this.jitter, this.random());
    return {
      spiffeId: this.spiffeId,
      privateKeyPem: key.privateKeyPem,
      certChainPem: chain,
      trustBundlePem: [...res.trustBundle],
      notBefore: v.notBefore,
      notAfter: v.notAfter,
      serialNumber: v.leaf.serialNumber,
      // Never in the past, even if the CA's clock and ours disagree.
      renewAt: new Date(Math.max(renewAt, now.getTime())),
      stateHash: identityStateHash([...bundleFps], v.rootFingerprint),
      rootFingerprint: v.rootFingerprint,
    };
  }
}

/** Prometheus lines for the proxy's admin port: seconds until the workload certificate expires. */
export function workloadCertMetricsText(cert: WorkloadCertificate | undefined, nowMs: number): string {
  const v = cert ? ((cert.notAfter.getTime() - nowMs) / 1000).toFixed(0) : '0';
  return [
    '# HELP weft_workload_cert_expiry_seconds Seconds until the workload certificate expires (0 when there is none).',
    '# TYPE weft_workload_cert_expiry_seconds gauge',
    `weft_workload_cert_expiry_seconds ${v}`,
    '',
  ].join('\n');
}
