// Test-only TLS material: a throwaway ECDSA P-256 CA and a serving cert for 127.0.0.1.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto); // node's webcrypto implements the DOM Crypto interface
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface ServingMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A throwaway CA and a leaf it signed; `clientAuth` also lets the leaf act as a TLS client certificate. */
export async function makeServingMaterial(dnsNames: string[] = ['localhost'], ips: string[] = ['127.0.0.1'], opts: { clientAuth?: boolean } = {}): Promise<ServingMaterial> {
  const now = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=weft-test-ca', notBefore: now, notAfter, keys: caKeys, signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leafKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=weft-test-server', issuer: ca.subject, notBefore: now, notAfter,
    publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([...dnsNames.map((d) => ({ type: 'dns' as const, value: d })), ...ips.map((i) => ({ type: 'ip' as const, value: i }))]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, ...(opts.clientAuth ? [x509.ExtendedKeyUsage.clientAuth] : [])]),
    ],
  });
  return { caPem: ca.toString('pem'), certPem: leaf.toString('pem'), keyPem: await keyPem(leafKeys.privateKey) };
}
