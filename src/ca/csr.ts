// CSR admission: everything the CA checks in a certificate signing request before it
// signs. The CSR contributes exactly one thing to the certificate, its public key, and
// only after its self-signature proves the caller holds the private key. Its subject and
// requested extensions are never copied; they are read only to refuse requests that ask
// for more than a workload identity.
import { WeftError, type WeftErrorCode } from '../errors/errors.js';
import { describeSpki, isP256, type KeyKind } from './keys.js';
import { x509 } from '../identity/x509.js';

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
  readonly publicKey: x509.PublicKey;
  readonly keyKind: KeyKind;
}

/**
 * Parses and checks a PEM (or base64 DER) PKCS#10 request for the given SPIFFE ID.
 * Order matters: size before parsing, key type before the signature (an unsupported key
 * cannot be verified), the signature before any content is trusted.
 */
export async function admitCsr(csr: string | Uint8Array, expectedSpiffeId: string): Promise<AdmittedCsr> {
  const size = typeof csr === 'string' ? Buffer.byteLength(csr, 'utf8') : csr.byteLength;
  if (size > MAX_CSR_BYTES) {
    throw csrRejection('csr_too_large', `CSR is ${size} bytes; the limit is ${MAX_CSR_BYTES}`, { size });
  }
  if (size === 0) throw csrRejection('csr_malformed', 'CSR is empty');
  let req: x509.Pkcs10CertificateRequest;
  try {
    req = new x509.Pkcs10CertificateRequest(typeof csr === 'string' ? csr.trim() : new Uint8Array(csr));
  } catch {
    throw csrRejection('csr_malformed', 'CSR is not a PEM or DER PKCS#10 certificate request');
  }

  let keyKind: KeyKind;
  try {
    keyKind = describeSpki(req.publicKey.rawData);
  } catch {
    throw csrRejection('csr_malformed', 'CSR public key cannot be read');
  }
  if (!isP256(keyKind) && keyKind.type !== 'rsa') {
    const what = 'curve' in keyKind ? `${keyKind.type} ${keyKind.curve}` : keyKind.type;
    throw csrRejection('csr_key_type', `CSR key type ${what} is not accepted; use ECDSA P-256 or RSA >= ${MIN_RSA_BITS} bits`, { keyType: what });
  }
  if (keyKind.type === 'rsa' && 'bits' in keyKind && (keyKind.bits < MIN_RSA_BITS || keyKind.bits > MAX_RSA_BITS)) {
    throw csrRejection('csr_key_type', `CSR RSA key is ${keyKind.bits} bits; accepted sizes are ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`, { keyType: 'rsa', bits: keyKind.bits });
  }

  let hashName: string;
  try {
    hashName = req.signatureAlgorithm.hash?.name ?? '';
  } catch {
    hashName = '';
  }
  if (!/^SHA-(256|384|512)$/.test(hashName)) {
    throw csrRejection('csr_weak_signature', `CSR is signed with ${hashName || 'an unsupported algorithm'}; use SHA-256 or stronger`, { hash: hashName });
  }
  let verified: boolean;
  try {
    verified = await req.verify();
  } catch {
    verified = false;
  }
  if (!verified) {
    throw csrRejection('csr_signature', 'CSR signature does not verify against its own public key (tampered or forged request)');
  }

  checkRequestedExtensions(req, expectedSpiffeId);
  return { publicKey: req.publicKey, keyKind };
}

function checkRequestedExtensions(req: x509.Pkcs10CertificateRequest, expectedSpiffeId: string): void {
  let exts: x509.Extension[];
  try {
    exts = req.extensions;
  } catch {
    throw csrRejection('csr_malformed', 'CSR extension request cannot be parsed');
  }
  for (const ext of exts) {
    if (ext.type === OID.basicConstraints) {
      const bc = new x509.BasicConstraintsExtension(ext.rawData);
      if (bc.ca) throw csrRejection('csr_is_ca', 'CSR requests a CA certificate (basicConstraints cA=true); workload certificates are never CAs');
    } else if (ext.type === OID.keyUsage) {
      const ku = new x509.KeyUsagesExtension(ext.rawData);
      if (ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) {
        throw csrRejection('csr_is_ca', 'CSR requests keyCertSign/cRLSign key usage; workload certificates are never CAs');
      }
    } else if (ext.type === OID.subjectAltName) {
      checkSans(ext, expectedSpiffeId);
    }
  }
}

/** The only SAN a CSR may carry is the caller's own SPIFFE ID (Istio's agent puts it there). */
function checkSans(ext: x509.Extension, expectedSpiffeId: string): void {
  let names: { type: string; value: string }[];
  try {
    names = new x509.SubjectAlternativeNameExtension(ext.rawData).names.items.map((n) => ({ type: n.type, value: n.value }));
  } catch {
    // otherName, x400Address and the like: nothing a workload needs.
    throw csrRejection('csr_extra_san', 'CSR requests a SAN type the CA does not issue; only the caller\'s SPIFFE URI is allowed');
  }
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
