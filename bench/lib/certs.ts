// Throwaway ECDSA P-256 mesh identities for the two-hop mTLS scenario: one root, a server
// and a client leaf with SPIFFE URI SANs (the server's also carries a DNS name for the nginx anchor). Made fresh each run, never written to disk.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface BenchTlsMaterial {
  certChainPem: string;
  keyPem: string;
  rootsPem: string;
}

import { CLIENT_ID, SERVER_DNS, SERVER_ID } from './mesh-ids.js';

export { CLIENT_ID, SERVER_DNS, SERVER_ID };

export async function makeMeshCerts(now = new Date()): Promise<{ server: BenchTlsMaterial; client: BenchTlsMaterial }> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + 3600_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=weft-bench-root', notBefore, notAfter, signingAlgorithm: alg, keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leaf = async (id: string, serial: string, dns?: string): Promise<BenchTlsMaterial> => {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial, subject: 'O=weft-bench', issuer: ca.subject, notBefore, notAfter, signingAlgorithm: alg,
      publicKey: keys.publicKey, signingKey: caKeys.privateKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }, ...(dns ? [{ type: 'dns' as const, value: dns }] : [])], true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    const pk = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64').replace(/(.{64})/g, '$1\n');
    return { certChainPem: cert.toString('pem'), keyPem: `-----BEGIN PRIVATE KEY-----\n${pk.trim()}\n-----END PRIVATE KEY-----\n`, rootsPem: ca.toString('pem') };
  };
  return { server: await leaf(SERVER_ID, '02', SERVER_DNS), client: await leaf(CLIENT_ID, '03') };
}
