// Workload key and CSR generation, in the pod. The private key is created non-extractable
// unless the caller needs PEM for a TLS context, and it never leaves the process.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { ECDSA_SHA256, exportPkcs8, generateP256, x509, type CryptoKey } from './x509.js';

export interface WorkloadKey {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** PKCS#8 PEM for node:tls. Stays in memory in this process. */
  readonly privateKeyPem: string;
  readonly keyObject: KeyObject;
}

export async function generateWorkloadKey(): Promise<WorkloadKey> {
  // Extractable only so node:tls can use it; it is exported to memory, never to the wire.
  const keys = await generateP256(true);
  const der = await exportPkcs8(keys.privateKey);
  const privateKeyPem = x509.PemConverter.encode(der, 'PRIVATE KEY');
  return { privateKey: keys.privateKey, publicKey: keys.publicKey, privateKeyPem, keyObject: createPrivateKey(privateKeyPem) };
}

/** A PKCS#10 request for the key; with a SPIFFE ID, it goes in the SAN as Istio's agent does. */
export async function createCsrPem(key: { privateKey: CryptoKey; publicKey: CryptoKey }, spiffeId?: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: ECDSA_SHA256,
    extensions: spiffeId ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])] : [],
  });
  return csr.toString('pem') + '\n';
}
