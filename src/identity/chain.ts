// Certificate chain checks with Node's own X509Certificate, shared by the cert agent
// (which checks what the CA hands back before using it) and the CA's tests.
import { createHash, X509Certificate } from 'node:crypto';
import { WeftError } from '../errors/errors.js';

export interface VerifiedChain {
  readonly leaf: X509Certificate;
  /** URI SANs of the leaf. */
  readonly uris: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint (lowercase hex, no colons) of the root the chain ends at. */
  readonly rootFingerprint: string;
}

export function fingerprintOf(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

export function splitPemCerts(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
}

/** URI entries of a certificate's subjectAltName, as Node prints them ("URI:spiffe://..."). */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return san.split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

function bad(message: string, details: Record<string, unknown> = {}): WeftError {
  return new WeftError('WEFT_E_INVALID_INPUT', message, details);
}

/**
 * Verifies leaf -> intermediates -> a root in the bundle: issuer names, signatures, CA
 * flags and validity at `now`. `chain` is leaf first; a trailing root is allowed.
 */
export function verifyChain(chainPem: readonly string[], bundlePem: readonly string[], now: Date): VerifiedChain {
  if (chainPem.length === 0) throw bad('certificate chain is empty');
  const certs = chainPem.map((p) => new X509Certificate(p));
  const roots = bundlePem.map((p) => new X509Certificate(p));
  const t = now.getTime();
  const leaf = certs[0]!;
  if (leaf.ca) throw bad('leaf certificate is a CA');
  for (const c of certs) {
    if (c.validFromDate.getTime() > t || c.validToDate.getTime() <= t) {
      throw bad(`certificate ${c.subject || c.subjectAltName || c.serialNumber} is not valid at ${now.toISOString()}`);
    }
  }
  let child = leaf;
  for (const parent of certs.slice(1)) {
    const rootHit = roots.find((r) => fingerprintOf(r) === fingerprintOf(parent));
    if (rootHit) break;
    if (!parent.ca || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw bad(`chain is broken: ${child.subject || 'leaf'} is not signed by ${parent.subject}`);
    }
    child = parent;
  }
  const root = roots.find((r) => child.checkIssued(r) && child.verify(r.publicKey));
  if (!root) throw bad('chain does not end at a root in the trust bundle');
  if (root.validToDate.getTime() <= t) throw bad(`root ${root.subject} expired at ${root.validToDate.toISOString()}`);
  return { leaf, uris: uriSans(leaf), notBefore: leaf.validFromDate, notAfter: leaf.validToDate, rootFingerprint: fingerprintOf(root) };
}

/**
 * What a proxy reports back for root rotation: a hash of the roots it trusts and the root
 * its own certificate chains to. The CA's rotation state machine expects every proxy to
 * report the hash of the current stage before it moves on.
 */
export function identityStateHash(bundleFingerprints: readonly string[], issuingRootFingerprint: string): string {
  const fps = [...new Set(bundleFingerprints.map((f) => f.toLowerCase()))].sort();
  return createHash('sha256').update(`bundle:${fps.join(',')};issuer:${issuingRootFingerprint.toLowerCase()}`).digest('hex');
}

export function pemFingerprint(pem: string): string {
  return fingerprintOf(new X509Certificate(pem));
}
