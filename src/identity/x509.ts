// The single entry to @peculiar/x509 for the CA and the cert agent. It needs
// reflect-metadata loaded before it (its ASN.1 schema uses decorator metadata), and a
// WebCrypto provider: Node's own, set explicitly so nothing depends on a default.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The project compiles without the DOM lib. @peculiar/x509's declarations use their own
// view of the WebCrypto key type, which differs from node:crypto's only in the KeyUsage
// union (Node's adds the post-quantum usages); the objects are the same. We use theirs,
// and cast once here where Node's WebCrypto hands keys over.
export type CryptoKey = NonNullable<x509.X509Certificate['privateKey']>;
export interface CryptoKeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

// @peculiar/x509's declarations name the DOM `Crypto`; Node's webcrypto is that object.
x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

export { x509 };
export const subtle: webcrypto.SubtleCrypto = webcrypto.subtle;

export const ECDSA_P256_KEYGEN: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const ECDSA_SHA256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const RSA_PKCS1_SHA256: webcrypto.RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

/** Generates an ECDSA P-256 key pair; the private key is exportable only if asked. */
export async function generateP256(extractable: boolean): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(ECDSA_P256_KEYGEN, extractable, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

export async function importPkcs8(der: Uint8Array, alg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams, extractable: boolean): Promise<CryptoKey> {
  return (await subtle.importKey('pkcs8', der, alg, extractable, ['sign'])) as unknown as CryptoKey;
}

export async function exportPkcs8(key: CryptoKey): Promise<ArrayBuffer> {
  return subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
}
