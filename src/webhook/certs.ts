// The webhook's own serving certificate: a self-signed ECDSA P-256 CA and a serving leaf,
// both made with @peculiar/x509 over Node's WebCrypto (through src/identity/x509.ts, the one
// entry to that library). planRotation is pure (the clock's time is passed in); the
// CertManager in cert-manager.ts does the I/O.
import { X509Certificate as NodeX509, createPrivateKey, webcrypto } from 'node:crypto';
import { ECDSA_SHA256, exportPkcs8, generateP256, importPkcs8, x509, type CryptoKey } from '../identity/x509.js';

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

export interface CertInfo {
  notBefore: Date;
  notAfter: Date;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  isCA: boolean;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

async function exportKey(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await exportPkcs8(key));
}

async function importKey(keyPem: string): Promise<CryptoKey> {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return importPkcs8(der, { name: 'ECDSA', namedCurve: 'P-256' }, false);
}

function serial(): string {
  // Positive 128-bit serial: the top bit cleared so DER does not read it as negative.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] as number) & 0x7f;
  return Buffer.from(b).toString('hex');
}

/** Clock skew allowance: certificates are valid from a little before `now`. */
const BACKDATE_MS = 5 * 60 * 1000;

export async function createCA(now: Date, ttlMs: number, commonName = 'weft-webhook-ca'): Promise<KeyAndCert> {
  const keys = await generateP256(true);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}, O=weft`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + ttlMs),
    signingAlgorithm: ECDSA_SHA256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) };
}

export async function issueServingCert(
  ca: KeyAndCert,
  now: Date,
  ttlMs: number,
  dnsNames: readonly string[],
  ipAddresses: readonly string[],
): Promise<KeyAndCert> {
  const keys = await generateP256(true);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caNotAfter = caCert.notAfter.getTime();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dnsNames[0] ?? ipAddresses[0] ?? 'weft-webhook'}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    // A leaf never outlives its CA.
    notAfter: new Date(Math.min(now.getTime() + ttlMs, caNotAfter)),
    signingAlgorithm: ECDSA_SHA256,
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) };
}

/** Parses a PEM certificate; undefined when it is not one. */
export function certInfo(certPem: string): CertInfo | undefined {
  try {
    const c = new NodeX509(certPem);
    const san = c.subjectAltName ?? '';
    const parts = san.split(/,\s*/).filter(Boolean);
    return {
      notBefore: new Date(c.validFrom),
      notAfter: new Date(c.validTo),
      subject: c.subject,
      dnsNames: parts.filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4)),
      ipAddresses: parts.filter((p) => p.startsWith('IP Address:')).map((p) => p.slice(11)),
      isCA: c.ca,
    };
  } catch {
    return undefined;
  }
}

/** True when `leafPem` was signed by `caPem` and `keyPem` is the leaf's private key. */
export function leafMatches(leafPem: string, keyPem: string, caPem: string): boolean {
  try {
    const leaf = new NodeX509(leafPem);
    const ca = new NodeX509(caPem);
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return false;
    return leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((s) => (s.endsWith('\n') ? s : `${s}\n`)) ?? [];
}

export interface StoredCerts {
  ca?: KeyAndCert;
  leaf?: KeyAndCert;
  /** Every CA the API server should trust (current first). */
  bundle: string[];
}

export interface RotationPolicy {
  /** Renew when less than this fraction of the lifetime remains (e.g. 1/3). */
  renewBeforeFraction: number;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

export type RotationPlan =
  | { action: 'none' }
  | { action: 'leaf'; reason: string }
  | { action: 'ca'; reason: string };

function dueForRenewal(info: CertInfo, now: Date, fraction: number): boolean {
  const life = info.notAfter.getTime() - info.notBefore.getTime();
  return now.getTime() >= info.notAfter.getTime() - life * fraction;
}

/** When a stored certificate reaches its renewal point, as a Date (for scheduling and metrics). */
export function renewalTime(certPem: string, fraction: number): Date | undefined {
  const info = certInfo(certPem);
  if (!info) return undefined;
  const life = info.notAfter.getTime() - info.notBefore.getTime();
  return new Date(info.notAfter.getTime() - life * fraction);
}

/** Pure: what must be regenerated at time `now`. */
export function planRotation(stored: StoredCerts, now: Date, policy: RotationPolicy): RotationPlan {
  if (!stored.ca) return { action: 'ca', reason: 'no CA stored' };
  const ca = certInfo(stored.ca.certPem);
  if (!ca || !ca.isCA) return { action: 'ca', reason: 'stored CA is not a CA certificate' };
  if (dueForRenewal(ca, now, policy.renewBeforeFraction)) return { action: 'ca', reason: `CA expires ${ca.notAfter.toISOString()}` };
  if (!stored.leaf) return { action: 'leaf', reason: 'no serving certificate stored' };
  const leaf = certInfo(stored.leaf.certPem);
  if (!leaf) return { action: 'leaf', reason: 'stored serving certificate does not parse' };
  if (!leafMatches(stored.leaf.certPem, stored.leaf.keyPem, stored.ca.certPem)) {
    return { action: 'leaf', reason: 'serving certificate is not signed by the current CA or does not match its key' };
  }
  const missing = [
    ...policy.dnsNames.filter((d) => !leaf.dnsNames.includes(d)),
    ...policy.ipAddresses.filter((ip) => !leaf.ipAddresses.includes(ip)),
  ];
  if (missing.length) return { action: 'leaf', reason: `serving certificate lacks SANs ${missing.join(', ')}` };
  if (dueForRenewal(leaf, now, policy.renewBeforeFraction)) return { action: 'leaf', reason: `serving certificate expires ${leaf.notAfter.toISOString()}` };
  return { action: 'none' };
}

/** The bundle after a CA rotation: new CA first, then the old ones that are still valid (overlap). */
export function nextBundle(newCaPem: string, previous: readonly string[], now: Date, maxCAs = 3): string[] {
  const keep = previous.filter((p) => {
    const info = certInfo(p);
    return info !== undefined && info.notAfter.getTime() > now.getTime() && p.trim() !== newCaPem.trim();
  });
  return [newCaPem, ...keep].slice(0, maxCAs);
}
