// The sidecar's PKCS#10 request is written by hand (src/identity/csr.ts); @peculiar/x509 reads
// it back here so the two stay in agreement on the structure.
import { describe, expect, it } from '@jest/globals';
import { createPublicKey } from 'node:crypto';
import { createCsrPem, generateWorkloadKey } from '../../../src/identity/csr.js';
import { x509 } from '../../../src/identity/x509.js';

const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/web';

describe('workload CSR', () => {
  it('is a self-signed P-256 request with the SPIFFE ID as its only SAN', async () => {
    const key = await generateWorkloadKey();
    const pem = await createCsrPem(key, SPIFFE);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n$/);
    const csr = new x509.Pkcs10CertificateRequest(pem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('');
    expect(csr.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect(csr.extensions).toHaveLength(1);
    const san = new x509.SubjectAlternativeNameExtension(csr.getExtension('2.5.29.17')!.rawData);
    expect(san.critical).toBe(false);
    expect(san.names.toJSON()).toEqual([{ type: 'url', value: SPIFFE }]);
    expect(Buffer.from(csr.publicKey.rawData)).toEqual(createPublicKey(key.keyObject).export({ type: 'spki', format: 'der' }));
  });

  it('carries no extensions without a SPIFFE ID', async () => {
    const csr = new x509.Pkcs10CertificateRequest(await createCsrPem(await generateWorkloadKey()));
    expect(await csr.verify()).toBe(true);
    expect(csr.extensions).toEqual([]);
  });

  it('gives node:tls a PKCS#8 PEM of the same key', async () => {
    const key = await generateWorkloadKey();
    expect(key.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(key.keyObject.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});
