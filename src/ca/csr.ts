// CSR admission: everything the CA checks in a certificate signing request before it
// signs. The CSR contributes exactly one thing to the certificate, its public key, and
// only after its self-signature proves the caller holds the private key. Its subject and
// requested extensions are never copied; they are read only to refuse requests that ask
// for more than a workload identity.
// Parsing is a small DER walk (./der.ts) and the signature check is Node's crypto.verify:
// this runs for every certificate, and a general ASN.1 library costs more than the
// signature itself.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { WeftError, type WeftErrorCode } from '../errors/errors.js';
import * as der from './der.js';
import { isP256, type KeyKind } from './keys.js';

/** PEM characters. An RSA-4096 CSR with a SAN is under 2 KiB; 8 KiB leaves room and no more. */
export const MAX_CSR_BYTES = 8 * 1024;
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 8192;

export type CsrRejectReason =
  | 'csr_too_large'
  | 'csr_malformed'
  | 'csr_key_type'
  | 'csr_signature'
  | 'csr_weak_signature'
  | 'csr_extra_san'
  | 'csr_identity_mismatch'
  | 'csr_is_ca';

export const OID = Object.freeze({
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
});

export function csrRejection(reason: CsrRejectReason, message: string, details: Record<string, unknown> = {}): WeftError {
  const code: WeftErrorCode = reason === 'csr_identity_mismatch' ? 'WEFT_E_PERMISSION_DENIED' : 'WEFT_E_INVALID_INPUT';
  return new WeftError(code, message, { reason, ...details });
}

export interface AdmittedCsr {
  /** DER SubjectPublicKeyInfo, copied into the certificate as is. */
  readonly spki: Uint8Array;
  readonly keyKind: KeyKind;
}

const SIGNATURE_HASH: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'SHA-256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
  '1.2.840.113549.1.1.11': 'SHA-256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
  '1.2.840.10045.4.1': 'SHA-1', // ecdsa-with-SHA1
  '1.2.840.113549.1.1.5': 'SHA-1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.4': 'MD5',
};
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

interface ParsedCsr {
  cri: Buffer;
  spki: Buffer;
  sigAlgOid: string;
  signature: Buffer;
  /** Requested extensions: OID and DER value. */
  extensions: { id: string; value: Buffer }[];
}

function decodeInput(csr: string | Uint8Array): Buffer {
  if (typeof csr !== 'string') return Buffer.from(csr);
  const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(csr);
  const b64 = (m ? m[1]! : csr).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new der.DerError('not base64');
  return Buffer.from(b64, 'base64');
}

function parseCsr(buf: Buffer): ParsedCsr {
  const top = der.expect(der.read(buf), der.TAG.SEQUENCE, 'CertificationRequest');
  if (top.end !== buf.length) throw new der.DerError('trailing bytes after the request');
  const [criNode, algNode, sigNode, ...extra] = der.children(top);
  if (extra.length > 0) throw new der.DerError('unexpected fields in CertificationRequest');
  const cri = der.expect(criNode, der.TAG.SEQUENCE, 'certificationRequestInfo');
  const [version, subject, spki, attrs] = der.children(cri);
  der.expect(version, der.TAG.INTEGER, 'version');
  der.expect(subject, der.TAG.SEQUENCE, 'subject');
  der.expect(spki, der.TAG.SEQUENCE, 'subjectPKInfo');
  const sigAlgOid = der.readOid(der.children(der.expect(algNode, der.TAG.SEQUENCE, 'signatureAlgorithm'))[0]!);
  const bits = der.content(der.expect(sigNode, der.TAG.BIT_STRING, 'signature'));
  if (bits.length < 2 || bits[0] !== 0) throw new der.DerError('signature BIT STRING');
  const extensions: ParsedCsr['extensions'] = [];
  if (attrs) {
    if (attrs.tag !== 0xa0) throw new der.DerError('attributes');
    for (const attr of der.children(attrs)) {
      const [typeNode, values] = der.children(der.expect(attr, der.TAG.SEQUENCE, 'attribute'));
      if (der.readOid(typeNode!) !== EXTENSION_REQUEST) continue;
      for (const exts of der.children(der.expect(values, der.TAG.SET, 'attribute values'))) {
        for (const ext of der.children(der.expect(exts, der.TAG.SEQUENCE, 'extensions'))) {
          const parts = der.children(der.expect(ext, der.TAG.SEQUENCE, 'extension'));
          const id = der.readOid(parts[0]!);
          const value = der.content(der.expect(parts[parts.length - 1], der.TAG.OCTET_STRING, 'extnValue'));
          extensions.push({ id, value });
        }
      }
    }
  }
  return { cri: der.raw(cri), spki: der.raw(spki), sigAlgOid, signature: bits.subarray(1), extensions };
}

/** SubjectPublicKeyInfo header of every uncompressed P-256 key: id-ecPublicKey, prime256v1, BIT STRING. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

function keyKindOf(key: KeyObject, spki: Buffer): KeyKind {
  // The common case without asking OpenSSL for key details (a measurable share of the cost).
  if (spki.length === 91 && spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) return { type: 'ec', curve: 'prime256v1' };
  const t = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'ec') return { type: 'ec', curve: d.namedCurve ?? 'unknown' };
  if (t === 'rsa' || t === 'rsa-pss') return { type: 'rsa', bits: d.modulusLength ?? 0 };
  return { type: t };
}

/**
 * Parses and checks a PEM (or DER) PKCS#10 request for the given SPIFFE ID.
 * Order matters: size before parsing, key type before the signature (an unsupported key
 * cannot be verified), the signature before any content is trusted.
 */
export async function admitCsr(csr: string | Uint8Array, expectedSpiffeId: string): Promise<AdmittedCsr> {
  const size = typeof csr === 'string' ? Buffer.byteLength(csr, 'utf8') : csr.byteLength;
  if (size > MAX_CSR_BYTES) {
    throw csrRejection('csr_too_large', `CSR is ${size} bytes; the limit is ${MAX_CSR_BYTES}`, { size });
  }
  if (size === 0) throw csrRejection('csr_malformed', 'CSR is empty');
  let req: ParsedCsr;
  try {
    req = parseCsr(decodeInput(csr));
  } catch {
    throw csrRejection('csr_malformed', 'CSR is not a PEM or DER PKCS#10 certificate request');
  }

  let key: KeyObject;
  try {
    key = createPublicKey({ key: req.spki, format: 'der', type: 'spki' });
  } catch {
    throw csrRejection('csr_key_type', 'CSR public key is of a type that cannot be read; use ECDSA P-256 or RSA');
  }
  const keyKind = keyKindOf(key, req.spki);
  if (!isP256(keyKind) && keyKind.type !== 'rsa') {
    const what = 'curve' in keyKind ? `${keyKind.type} ${keyKind.curve}` : keyKind.type;
    throw csrRejection('csr_key_type', `CSR key type ${what} is not accepted; use ECDSA P-256 or RSA >= ${MIN_RSA_BITS} bits`, { keyType: what });
  }
  if (keyKind.type === 'rsa' && 'bits' in keyKind && (keyKind.bits < MIN_RSA_BITS || keyKind.bits > MAX_RSA_BITS)) {
    throw csrRejection('csr_key_type', `CSR RSA key is ${keyKind.bits} bits; accepted sizes are ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`, { keyType: 'rsa', bits: keyKind.bits });
  }

  const hashName = SIGNATURE_HASH[req.sigAlgOid] ?? '';
  if (!/^SHA-(256|384|512)$/.test(hashName)) {
    throw csrRejection('csr_weak_signature', `CSR is signed with ${hashName || `an unsupported algorithm (${req.sigAlgOid})`}; use SHA-256 or stronger`, { hash: hashName, algorithm: req.sigAlgOid });
  }
  const ecSig = req.sigAlgOid.startsWith('1.2.840.10045.');
  if (ecSig !== (keyKind.type === 'ec')) {
    throw csrRejection('csr_signature', 'CSR signature algorithm does not match its key type (tampered or forged request)');
  }
  let verified: boolean;
  try {
    // DER-encoded ECDSA signatures are Node's default; passing the KeyObject bare skips option parsing.
    verified = verify(hashName.replace('-', '').toLowerCase(), req.cri, key, req.signature);
  } catch {
    verified = false;
  }
  if (!verified) {
    throw csrRejection('csr_signature', 'CSR signature does not verify against its own public key (tampered or forged request)');
  }

  checkRequestedExtensions(req.extensions, expectedSpiffeId);
  return { spki: new Uint8Array(req.spki), keyKind };
}

function checkRequestedExtensions(exts: ParsedCsr['extensions'], expectedSpiffeId: string): void {
  for (const ext of exts) {
    try {
      if (ext.id === OID.basicConstraints) {
        const parts = der.children(der.expect(der.read(ext.value), der.TAG.SEQUENCE, 'basicConstraints'));
        const ca = parts[0]?.tag === der.TAG.BOOLEAN && der.content(parts[0])[0] !== 0;
        if (ca) throw csrRejection('csr_is_ca', 'CSR requests a CA certificate (basicConstraints cA=true); workload certificates are never CAs');
      } else if (ext.id === OID.keyUsage) {
        const bits = der.content(der.expect(der.read(ext.value), der.TAG.BIT_STRING, 'keyUsage'));
        // keyCertSign is bit 5 and cRLSign bit 6 of the first byte (0x04, 0x02).
        if ((bits[1] ?? 0) & 0x06) throw csrRejection('csr_is_ca', 'CSR requests keyCertSign/cRLSign key usage; workload certificates are never CAs');
      } else if (ext.id === OID.subjectAltName) {
        checkSans(ext.value, expectedSpiffeId);
      }
    } catch (e) {
      if (e instanceof der.DerError) throw csrRejection('csr_malformed', `CSR requested extension ${ext.id} cannot be parsed`);
      throw e;
    }
  }
}

const NAME_TYPES: Record<number, string> = { 0x81: 'email', 0x82: 'dns', 0x86: 'url', 0x87: 'ip' };

function describeName(n: der.Node): { type: string; value: string } {
  const type = NAME_TYPES[n.tag] ?? `tag-0x${n.tag.toString(16)}`;
  const c = der.content(n);
  if (type === 'ip') return { type, value: c.length === 4 ? [...c].join('.') : c.toString('hex') };
  if (type === 'email' || type === 'dns' || type === 'url') return { type, value: c.toString('latin1') };
  return { type, value: '(unsupported name type)' };
}

/** The only SAN a CSR may carry is the caller's own SPIFFE ID (Istio's agent puts it there). */
function checkSans(value: Buffer, expectedSpiffeId: string): void {
  const names = der.children(der.expect(der.read(value), der.TAG.SEQUENCE, 'subjectAltName')).map(describeName);
  const uris = names.filter((n) => n.type === 'url');
  const others = names.filter((n) => n.type !== 'url');
  if (others.length > 0 || uris.length > 1) {
    const extra = [...others, ...uris.filter((u) => u.value !== expectedSpiffeId)].map((n) => `${n.type}:${n.value}`);
    throw csrRejection('csr_extra_san', `CSR requests extra SANs (${extra.join(', ')}); the only SAN issued is ${expectedSpiffeId}`, { extra });
  }
  if (uris.length === 1 && uris[0]!.value !== expectedSpiffeId) {
    throw csrRejection('csr_identity_mismatch', `CSR asks for ${uris[0]!.value} but the caller is ${expectedSpiffeId}`, {
      requested: uris[0]!.value,
      identity: expectedSpiffeId,
    });
  }
}
