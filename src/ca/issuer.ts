// The pure issuer: CSR + authenticated identity + time -> a SPIFFE leaf certificate,
// its chain and the trust bundle. No I/O and no clock of its own; randomness only for
// serial numbers. The SAN comes from the identity, never from the CSR.
import { spiffeId, DEFAULT_TRUST_DOMAIN } from '../api/sidecar.js';
import { WeftError } from '../errors/errors.js';
import { admitCsr } from './csr.js';
import { signingAlgorithmFor } from './keys.js';
import { createLeafSigner, type LeafSigner } from './leaf.js';
import { toPem } from './der.js';
import type { CaMaterial } from './authority.js';

/** Who the caller is, as established by the authenticator (TokenReview). */
export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** From the token's pod binding, for logs only. */
  readonly podName?: string;
}

export interface IssuerOptions {
  trustDomain?: string;
  /** Used when the request names no TTL. MeshConfig's workload cert TTL, default 24h. */
  defaultTtlMs?: number;
  /** Longer requests are cut to this (Istio's max-workload-cert-ttl is 90 days). */
  maxTtlMs?: number;
  /** Shorter requests are raised to this. */
  minTtlMs?: number;
}

export interface SignRequest {
  csr: string | Uint8Array;
  identity: WorkloadIdentity;
  /** Requested validity; 0 or absent means the default. */
  ttlMs?: number;
}

export interface IssuedCertificate {
  readonly spiffeId: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly leafPem: string;
  /** Leaf first, then intermediates, then the issuing root last (Istio's cert_chain order). */
  readonly certChainPem: readonly string[];
  /** Every root a peer certificate may chain to. */
  readonly trustBundlePem: readonly string[];
}

const HOUR_MS = 60 * 60 * 1000;
export const DEFAULT_WORKLOAD_TTL_MS = 24 * HOUR_MS;
export const MAX_WORKLOAD_TTL_MS = 90 * 24 * HOUR_MS;
export const MIN_WORKLOAD_TTL_MS = 10 * 1000;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class Issuer {
  readonly trustDomain: string;
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly minTtlMs: number;
  private material: CaMaterial;
  private derived!: { chainTail: readonly string[]; bundle: readonly string[]; leaf: LeafSigner };

  constructor(material: CaMaterial, opts: IssuerOptions = {}) {
    this.trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.defaultTtlMs = opts.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    this.maxTtlMs = opts.maxTtlMs ?? MAX_WORKLOAD_TTL_MS;
    this.minTtlMs = opts.minTtlMs ?? MIN_WORKLOAD_TTL_MS;
    if (!(this.minTtlMs > 0 && this.minTtlMs <= this.defaultTtlMs && this.defaultTtlMs <= this.maxTtlMs)) {
      throw new WeftError('WEFT_E_INVALID_CONFIG', 'issuer TTLs must satisfy 0 < min <= default <= max', { ...opts });
    }
    this.material = material;
    this.use(material);
  }

  /** Swaps the CA material (new intermediate, new bundle) for every later signature. */
  use(material: CaMaterial): void {
    signingAlgorithmFor(material.signingKeyKind); // throws on an unusable key
    this.material = material;
    this.derived = {
      chainTail: Object.freeze([material.signingCert, ...material.intermediates, material.issuingRoot].map((c) => c.toString('pem') + '\n')),
      bundle: Object.freeze([...material.trustBundle]),
      leaf: createLeafSigner(material.signingCert, material.signingKey, material.signingKeyKind),
    };
  }

  get currentMaterial(): CaMaterial {
    return this.material;
  }

  trustBundle(): readonly string[] {
    return this.derived.bundle;
  }

  spiffeIdFor(identity: WorkloadIdentity): string {
    if (!DNS_LABEL.test(identity.namespace) || identity.namespace.length > 63) {
      throw new WeftError('WEFT_E_UNAUTHENTICATED', 'authenticated namespace is not a valid Kubernetes namespace name', { namespace: identity.namespace });
    }
    if (!SA_NAME.test(identity.serviceAccount) || identity.serviceAccount.length > 253) {
      throw new WeftError('WEFT_E_UNAUTHENTICATED', 'authenticated service account is not a valid Kubernetes name', { serviceAccount: identity.serviceAccount });
    }
    return spiffeId(this.trustDomain, identity.namespace, identity.serviceAccount);
  }

  /** The validity the CA will grant for a requested TTL (0 = default), in ms. */
  effectiveTtlMs(requestedMs: number | undefined): number {
    if (!requestedMs || requestedMs <= 0 || !Number.isFinite(requestedMs)) return this.defaultTtlMs;
    return Math.min(this.maxTtlMs, Math.max(this.minTtlMs, requestedMs));
  }

  async sign(req: SignRequest, now: Date): Promise<IssuedCertificate> {
    const id = this.spiffeIdFor(req.identity);
    const admitted = await admitCsr(req.csr, id);
    const m = this.material;
    // X.509 times have one-second resolution; round so notBefore is never in the future.
    const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
    if (m.signingCert.notAfter.getTime() <= notBefore.getTime()) {
      throw new WeftError('WEFT_E_UNAVAILABLE', 'the CA signing certificate has expired; rotate the intermediate', {
        notAfter: m.signingCert.notAfter.toISOString(),
      });
    }
    const wanted = notBefore.getTime() + this.effectiveTtlMs(req.ttlMs);
    const notAfter = new Date(Math.floor(Math.min(wanted, m.signingCert.notAfter.getTime()) / 1000) * 1000);
    const leaf = this.derived.leaf.sign({ spki: admitted.spki, uri: id, notBefore, notAfter });
    const leafPem = toPem(leaf.der);
    return {
      spiffeId: id,
      serialNumber: leaf.serialHex,
      notBefore,
      notAfter,
      leafPem,
      certChainPem: [leafPem, ...this.derived.chainTail],
      trustBundlePem: this.derived.bundle,
    };
  }
}
