// Private and public key helpers: PEM <-> WebCrypto keys, and what kind of key a
// SubjectPublicKeyInfo holds. Node's KeyObject parses every PEM flavour (PKCS#8, SEC1
// "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY"), so user-provided CA keys load as they are.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { WeftError } from '../errors/errors.js';
import { ECDSA_SHA256, RSA_PKCS1_SHA256, exportPkcs8, importPkcs8, x509, type CryptoKey } from '../identity/x509.js';

export type KeyKind = { type: 'ec'; curve: string } | { type: 'rsa'; bits: number } | { type: string };

/** What key a DER SubjectPublicKeyInfo holds, read by Node's own parser. */
export function describeSpki(spkiDer: ArrayBuffer | Uint8Array): KeyKind {
  const key = createPublicKey({ key: Buffer.from(spkiDer instanceof Uint8Array ? spkiDer : new Uint8Array(spkiDer)), format: 'der', type: 'spki' });
  return describeKeyObject(key);
}

function describeKeyObject(key: KeyObject): KeyKind {
  const t = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'ec') return { type: 'ec', curve: d.namedCurve ?? 'unknown' };
  if (t === 'rsa' || t === 'rsa-pss') return { type: 'rsa', bits: d.modulusLength ?? 0 };
  return { type: t };
}

/** P-256 is 'prime256v1' in OpenSSL's naming. */
export function isP256(k: KeyKind): boolean {
  return k.type === 'ec' && 'curve' in k && (k.curve === 'prime256v1' || k.curve === 'P-256');
}

/** The WebCrypto signing algorithm for a key of this kind. */
export function signingAlgorithmFor(k: KeyKind): typeof ECDSA_SHA256 | typeof RSA_PKCS1_SHA256 {
  if (isP256(k)) return ECDSA_SHA256;
  if (k.type === 'rsa') return RSA_PKCS1_SHA256;
  throw new WeftError('WEFT_E_INVALID_CONFIG', 'CA key must be ECDSA P-256 or RSA', { keyType: k.type });
}

/** Imports a signing key from any PEM private-key flavour. Extractable, so it can be stored back. */
export async function importPrivateKeyPem(pem: string): Promise<{ key: CryptoKey; kind: KeyKind }> {
  let ko: KeyObject;
  try {
    ko = createPrivateKey(pem);
  } catch (e) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'CA private key is not a readable PEM private key', {}, { cause: e });
  }
  const kind = describeKeyObject(ko);
  const pkcs8 = ko.export({ format: 'der', type: 'pkcs8' });
  const alg = isP256(kind) ? { name: 'ECDSA', namedCurve: 'P-256' } : kind.type === 'rsa' ? RSA_PKCS1_SHA256 : undefined;
  if (!alg) throw new WeftError('WEFT_E_INVALID_CONFIG', 'CA private key must be ECDSA P-256 or RSA', { keyType: kind.type });
  const key = await importPkcs8(pkcs8, alg, true);
  return { key, kind };
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await exportPkcs8(key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** The SPKI DER of the public half of a private key, to compare against a certificate. */
export function spkiOfPrivateKeyPem(pem: string): Buffer {
  return createPublicKey(createPrivateKey(pem)).export({ format: 'der', type: 'spki' });
}
