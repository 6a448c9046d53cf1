// CA material: the signing (intermediate) certificate and key, the chain up to the
// issuing root, and the trust bundle. Created self-signed (ECDSA P-256 root, 10 years,
// plus an intermediate), or loaded from a Secret in Istio's `cacerts` layout:
//
//   ca-cert.pem     the signing CA certificate (the intermediate)
//   ca-key.pem      its private key (PKCS#8, SEC1 or PKCS#1 PEM)
//   cert-chain.pem  ca-cert, any further intermediates, and the root (as Istio's docs build it)
//   root-cert.pem   the trusted root(s); during a root rotation it holds both
//   root-key.pem    Weft's own addition for a self-signed CA, so it can re-sign intermediates
//
// Everything here is pure apart from randomness: the clock comes in as `now`.
import { createHash, X509Certificate as NodeX509 } from 'node:crypto';
import { WeftError } from '../errors/errors.js';
import { exportPrivateKeyPem, importPrivateKeyPem, signingAlgorithmFor, spkiOfPrivateKeyPem, type KeyKind } from './keys.js';
import { ECDSA_SHA256, generateP256, x509, type CryptoKey } from '../identity/x509.js';

export const CA_SECRET_KEYS = Object.freeze({
  caCert: 'ca-cert.pem',
  caKey: 'ca-key.pem',
  certChain: 'cert-chain.pem',
  rootCert: 'root-cert.pem',
  rootKey: 'root-key.pem',
});

/** Istio's names: a self-signed CA lives in istio-ca-secret; a user's own CA in cacerts. */
export const SELF_SIGNED_CA_SECRET = 'weft-ca-secret';
export const PLUGGED_CA_SECRET = 'cacerts';

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ROOT_TTL_MS = 3650 * DAY_MS;
export const DEFAULT_INTERMEDIATE_TTL_MS = 365 * DAY_MS;
/** Backdating CA certificates covers clock skew between the CA and the verifiers. */
const CA_BACKDATE_MS = 60 * 60 * 1000;

export interface CaMaterial {
  readonly source: 'self-signed' | 'plugged-in';
  /** The certificate that signs leaves (ca-cert.pem). */
  readonly signingCert: x509.X509Certificate;
  readonly signingKey: CryptoKey;
  readonly signingKeyKind: KeyKind;
  /** Certificates between the signing cert and the root, nearest first (usually none). */
  readonly intermediates: readonly x509.X509Certificate[];
  /** The root the signing cert chains to. */
  readonly issuingRoot: x509.X509Certificate;
  /** Every trusted root, PEM, issuing root included. */
  readonly trustBundle: readonly string[];
  /** Only for a self-signed CA: the issuing root's key. */
  readonly rootKey?: CryptoKey;
}

/** The Secret shape, compatible with @kubernetes/client-node's V1Secret. */
export interface SecretLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface SelfSignedOptions {
  now: Date;
  /** Goes into the certificates' O=, as Istio puts the trust domain there. */
  trustDomain: string;
  rootTtlMs?: number;
  intermediateTtlMs?: number;
}

function rootName(trustDomain: string, now: Date): string {
  return `O=${escapeRdn(trustDomain)}, CN=Weft Root CA ${now.toISOString().slice(0, 10)}`;
}

function escapeRdn(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1');
}

export async function createRoot(opts: SelfSignedOptions): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await generateP256(true);
  const notBefore = new Date(opts.now.getTime() - CA_BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: rootName(opts.trustDomain, opts.now),
    notBefore,
    notAfter: new Date(opts.now.getTime() + (opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS)),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

/** Signs a new intermediate (pathLen 0) under the given root; notAfter never exceeds the root's. */
export async function createIntermediate(
  root: { cert: x509.X509Certificate; key: CryptoKey },
  opts: SelfSignedOptions,
): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = await generateP256(true);
  const wanted = opts.now.getTime() + (opts.intermediateTtlMs ?? DEFAULT_INTERMEDIATE_TTL_MS);
  const notAfter = new Date(Math.min(wanted, root.cert.notAfter.getTime()));
  const ski = root.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `O=${escapeRdn(opts.trustDomain)}, CN=Weft Intermediate CA ${opts.now.toISOString().slice(0, 10)}`,
    issuer: root.cert.subjectName,
    notBefore: new Date(opts.now.getTime() - CA_BACKDATE_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: root.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : []),
    ],
  });
  return { cert, key: keys.privateKey };
}

/** A fresh self-signed CA: a P-256 root (10 years by default) and an intermediate under it. */
export async function createSelfSignedCa(opts: SelfSignedOptions): Promise<CaMaterial> {
  const root = await createRoot(opts);
  const inter = await createIntermediate(root, opts);
  return {
    source: 'self-signed',
    signingCert: inter.cert,
    signingKey: inter.key,
    signingKeyKind: { type: 'ec', curve: 'prime256v1' },
    intermediates: [],
    issuingRoot: root.cert,
    trustBundle: [root.cert.toString('pem')],
    rootKey: root.key,
  };
}

/** Stage 1 and 3 of a root rotation need these: the same signer with a different bundle. */
export function withTrustBundle(m: CaMaterial, bundle: readonly string[]): CaMaterial {
  const issuing = fingerprint(m.issuingRoot.toString('pem'));
  if (!bundle.some((p) => fingerprint(p) === issuing)) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'the trust bundle must contain the root that issues certificates', { issuingRoot: issuing });
  }
  return { ...m, trustBundle: [...bundle] };
}

/** The SHA-256 fingerprint (hex) of one PEM certificate. */
export function fingerprint(pem: string): string {
  return new NodeX509(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** A stable hash of a set of roots, independent of order and PEM formatting. */
export function bundleHash(bundle: readonly string[]): string {
  const fps = [...new Set(bundle.map(fingerprint))].sort();
  return createHash('sha256').update(fps.join('\n')).digest('hex');
}

export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
}

// ---- Secret round trip --------------------------------------------------------------

export async function caToSecret(m: CaMaterial, name: string, namespace: string): Promise<SecretLike> {
  const pem = (c: x509.X509Certificate): string => c.toString('pem') + '\n';
  const data: Record<string, string> = {
    [CA_SECRET_KEYS.caCert]: pem(m.signingCert),
    [CA_SECRET_KEYS.caKey]: await exportPrivateKeyPem(m.signingKey),
    [CA_SECRET_KEYS.certChain]: [m.signingCert, ...m.intermediates, m.issuingRoot].map(pem).join(''),
    // Issuing root first: tools that read only the first PEM still get the right one.
    [CA_SECRET_KEYS.rootCert]: orderBundle(m).map((p) => p.trim() + '\n').join(''),
  };
  if (m.rootKey) data[CA_SECRET_KEYS.rootKey] = await exportPrivateKeyPem(m.rootKey);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/ca-source': m.source } },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  };
}

/** The trust bundle with the issuing root first (ROOTCA and root-cert.pem order). */
export function orderBundle(m: CaMaterial): string[] {
  const issuing = fingerprint(m.issuingRoot.toString('pem'));
  const first = m.trustBundle.filter((p) => fingerprint(p) === issuing);
  return [...first, ...m.trustBundle.filter((p) => fingerprint(p) !== issuing)];
}

function secretField(s: SecretLike, key: string): string | undefined {
  const plain = s.stringData?.[key];
  if (plain !== undefined && plain !== '') return plain;
  const b64 = s.data?.[key];
  if (b64 === undefined || b64 === '') return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

function configError(message: string, details: Record<string, unknown> = {}, cause?: unknown): WeftError {
  return new WeftError('WEFT_E_INVALID_CONFIG', message, details, cause === undefined ? undefined : { cause });
}

/**
 * Loads and checks CA material from a Secret: the key matches ca-cert.pem, ca-cert.pem is a
 * CA, the chain verifies up to a root in root-cert.pem, and nothing has expired at `now`.
 */
export async function caFromSecret(s: SecretLike, now: Date): Promise<CaMaterial> {
  const where = { secret: `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}` };
  const caCertPem = secretField(s, CA_SECRET_KEYS.caCert);
  const caKeyPem = secretField(s, CA_SECRET_KEYS.caKey);
  const rootPem = secretField(s, CA_SECRET_KEYS.rootCert);
  const missing = [
    [CA_SECRET_KEYS.caCert, caCertPem],
    [CA_SECRET_KEYS.caKey, caKeyPem],
    [CA_SECRET_KEYS.rootCert, rootPem],
  ].filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0 || !caCertPem || !caKeyPem || !rootPem) {
    throw configError(`CA Secret is missing ${missing.join(', ')}`, { ...where, missing });
  }
  const caCerts = splitPem(caCertPem);
  if (caCerts.length !== 1) throw configError(`${CA_SECRET_KEYS.caCert} must hold exactly one certificate, found ${caCerts.length}`, where);
  const caNode = parseNode(caCerts[0]!, CA_SECRET_KEYS.caCert);
  if (!caNode.ca) throw configError(`${CA_SECRET_KEYS.caCert} is not a CA certificate (basicConstraints cA is false)`, where);
  checkValidity(caNode, CA_SECRET_KEYS.caCert, now);

  let keyMatches: boolean;
  try {
    keyMatches = spkiOfPrivateKeyPem(caKeyPem).equals(caNode.publicKey.export({ format: 'der', type: 'spki' }));
  } catch (e) {
    throw configError(`${CA_SECRET_KEYS.caKey} is not a readable PEM private key`, where, e);
  }
  if (!keyMatches) throw configError(`${CA_SECRET_KEYS.caKey} does not match the public key of ${CA_SECRET_KEYS.caCert}`, where);
  const { key: signingKey, kind: signingKeyKind } = await importPrivateKeyPem(caKeyPem);

  const roots = splitPem(rootPem);
  if (roots.length === 0) throw configError(`${CA_SECRET_KEYS.rootCert} holds no certificate`, where);
  const rootNodes = roots.map((p) => parseNode(p, CA_SECRET_KEYS.rootCert));
  const rootFps = new Set(rootNodes.map((n) => n.fingerprint256));

  // cert-chain.pem as Istio documents it is ca-cert + intermediates + root; accept it with
  // or without either end, and keep only what lies strictly between.
  const chainPems = splitPem(secretField(s, CA_SECRET_KEYS.certChain) ?? '');
  const between = chainPems
    .map((p) => ({ p, n: parseNode(p, CA_SECRET_KEYS.certChain) }))
    .filter(({ n }) => n.fingerprint256 !== caNode.fingerprint256 && !rootFps.has(n.fingerprint256));

  // Walk the path signature by signature.
  let child = caNode;
  for (const { n } of between) {
    if (!child.checkIssued(n) || !child.verify(n.publicKey)) {
      throw configError(`${CA_SECRET_KEYS.certChain} is out of order or broken: ${child.subject} is not signed by ${n.subject}`, where);
    }
    checkValidity(n, CA_SECRET_KEYS.certChain, now);
    child = n;
  }
  const issuingIdx = rootNodes.findIndex((r) => (child.fingerprint256 === r.fingerprint256) || (child.checkIssued(r) && child.verify(r.publicKey)));
  if (issuingIdx < 0) {
    throw configError(`${CA_SECRET_KEYS.caCert} does not chain to any root in ${CA_SECRET_KEYS.rootCert}`, { ...where, lastInChain: child.subject });
  }
  const issuingNode = rootNodes[issuingIdx]!;
  checkValidity(issuingNode, CA_SECRET_KEYS.rootCert, now);

  const rootKeyPem = secretField(s, CA_SECRET_KEYS.rootKey);
  let rootKey: CryptoKey | undefined;
  if (rootKeyPem) {
    if (!spkiOfPrivateKeyPem(rootKeyPem).equals(issuingNode.publicKey.export({ format: 'der', type: 'spki' }))) {
      throw configError(`${CA_SECRET_KEYS.rootKey} does not match the issuing root certificate`, where);
    }
    rootKey = (await importPrivateKeyPem(rootKeyPem)).key;
  }
  return {
    source: rootKey ? 'self-signed' : 'plugged-in',
    signingCert: new x509.X509Certificate(caCerts[0]!),
    signingKey,
    signingKeyKind,
    intermediates: between.map(({ p }) => new x509.X509Certificate(p)),
    issuingRoot: new x509.X509Certificate(roots[issuingIdx]!),
    trustBundle: roots,
    ...(rootKey ? { rootKey } : {}),
  };
}

function parseNode(pem: string, field: string): NodeX509 {
  try {
    return new NodeX509(pem);
  } catch (e) {
    throw configError(`${field} holds a certificate that does not parse`, { field }, e);
  }
}

function checkValidity(n: NodeX509, field: string, now: Date): void {
  if (n.validToDate.getTime() <= now.getTime()) {
    throw configError(`${field}: certificate ${n.subject} expired at ${n.validToDate.toISOString()}`, { field });
  }
  if (n.validFromDate.getTime() > now.getTime()) {
    throw configError(`${field}: certificate ${n.subject} is not valid before ${n.validFromDate.toISOString()}`, { field });
  }
}

export interface ServingCertificate {
  readonly keyPem: string;
  /** Leaf, then intermediates; the root is in the trust bundle clients already hold. */
  readonly certChainPem: string;
  readonly notAfter: Date;
}

/**
 * A TLS serving certificate for the CA's own gRPC port, signed by the current intermediate,
 * so proxies verify the CA with the same trust bundle they use for peers and tokens never
 * cross the network in plaintext.
 */
export async function issueServingCertificate(
  m: CaMaterial,
  opts: { now: Date; dnsNames: readonly string[]; ipAddresses?: readonly string[]; spiffeId?: string; ttlMs?: number },
): Promise<ServingCertificate> {
  if (opts.dnsNames.length === 0 && (opts.ipAddresses ?? []).length === 0) {
    throw new WeftError('WEFT_E_INVALID_INPUT', 'a serving certificate needs at least one DNS name or IP address');
  }
  const keys = await generateP256(true);
  const notAfter = new Date(Math.min(opts.now.getTime() + (opts.ttlMs ?? 30 * DAY_MS), m.signingCert.notAfter.getTime()));
  const ski = m.signingCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const names = [
    ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.spiffeId ? [{ type: 'url' as const, value: opts.spiffeId }] : []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    subject: '',
    issuer: m.signingCert.subjectName,
    notBefore: new Date(opts.now.getTime() - 60_000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: m.signingKey,
    signingAlgorithm: signingAlgorithmFor(m.signingKeyKind),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names, true),
      ...(ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : []),
    ],
  });
  const chain = [cert, m.signingCert, ...m.intermediates].map((c) => c.toString('pem') + '\n').join('');
  return { keyPem: await exportPrivateKeyPem(keys.privateKey), certChainPem: chain, notAfter };
}

/**
 * A self-signed CA's intermediate is renewed when this fraction of its lifetime remains
 * (a third: about four months of a one-year intermediate), long before leaves would have
 * to be cut short. A plugged-in CA has no root key here; its owner renews it.
 */
export const INTERMEDIATE_RENEW_REMAINING = 1 / 3;

export function intermediateRenewalDue(m: CaMaterial, now: Date, remaining = INTERMEDIATE_RENEW_REMAINING): boolean {
  const nb = m.signingCert.notBefore.getTime();
  const na = m.signingCert.notAfter.getTime();
  return na - now.getTime() <= (na - nb) * remaining;
}

/** Signs a fresh intermediate under the same root. Leaves issued before keep verifying: same root. */
export async function renewIntermediate(m: CaMaterial, opts: SelfSignedOptions): Promise<CaMaterial> {
  if (!m.rootKey) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'cannot renew the intermediate of a plugged-in CA (no root key); replace the cacerts Secret');
  }
  const inter = await createIntermediate({ cert: m.issuingRoot, key: m.rootKey }, opts);
  return { ...m, signingCert: inter.cert, signingKey: inter.key, signingKeyKind: { type: 'ec', curve: 'prime256v1' }, intermediates: [] };
}
