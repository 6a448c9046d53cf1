// Workload key and CSR generation, in the pod. The private key never leaves the process.
// The PKCS#10 request has one fixed shape, so it is written with the CA's small DER writer
// and node:crypto rather than @peculiar/x509: that library (with reflect-metadata and its
// ASN.1 schemas) is ~20 MB of RSS in every sidecar, which only needs this one structure.
import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as der from '../ca/der.js';

export interface WorkloadKey {
  /** PKCS#8 PEM for node:tls. Stays in memory in this process. */
  readonly privateKeyPem: string;
  readonly keyObject: KeyObject;
  /** DER SubjectPublicKeyInfo of the key. */
  readonly spki: Buffer;
}

const generateEcKeyPair = promisify(generateKeyPair);
const OIDS = Object.freeze({
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
});

/** An ECDSA P-256 key pair, as Istio's agent makes by default. */
export async function generateWorkloadKey(): Promise<WorkloadKey> {
  const { privateKey, publicKey } = await generateEcKeyPair('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    keyObject: privateKey,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/** A PKCS#10 request for the key (empty subject); with a SPIFFE ID, it goes in the SAN as Istio's agent does. */
export async function createCsrPem(key: Pick<WorkloadKey, 'keyObject' | 'spki'>, spiffeId?: string): Promise<string> {
  const attributes = spiffeId
    ? der.seq(der.oid(OIDS.extensionRequest), der.tlv(der.TAG.SET, der.seq(
      der.extension(OIDS.subjectAltName, false, der.seq(der.tlv(0x86, Buffer.from(spiffeId, 'ascii')))))))
    : Buffer.alloc(0);
  const info = der.seq(der.smallInt(0), der.seq(), key.spki, der.ctx(0, attributes, true));
  const sigAlg = der.seq(der.oid(OIDS.ecdsaWithSha256));
  const signature = sign('sha256', info, key.keyObject); // DER-encoded ECDSA signature, as PKCS#10 wants
  return der.toPem(der.seq(info, sigAlg, der.bitString(signature)), 'CERTIFICATE REQUEST');
}
