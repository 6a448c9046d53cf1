import { beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, webcrypto } from 'node:crypto';
import { spiffeId } from '../../../src/api/sidecar.js';
import { isWeftError, type WeftError } from '../../../src/errors/errors.js';
import { createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { MAX_CSR_BYTES } from '../../../src/ca/csr.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { createCsrPem, generateWorkloadKey } from '../../../src/identity/csr.js';
import { verifyChain } from '../../../src/identity/chain.js';
import { x509, type CryptoKeyPair } from '../../../src/identity/x509.js';

const NOW = new Date('2030-01-15T10:00:00.000Z');
const ID = { namespace: 'shop', serviceAccount: 'cart' };
const TD = 'cluster.local';
const SPIFFE = spiffeId(TD, 'shop', 'cart');

async function keyPair(alg: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

async function csrWith(opts: { keys?: CryptoKeyPair; sign?: webcrypto.EcdsaParams | webcrypto.Algorithm; extensions?: x509.Extension[]; name?: string }): Promise<string> {
  const keys = opts.keys ?? (await keyPair({ name: 'ECDSA', namedCurve: 'P-256' }));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: opts.sign ?? { name: 'ECDSA', hash: 'SHA-256' },
    extensions: opts.extensions ?? [],
    ...(opts.name ? { name: opts.name } : {}),
  });
  return csr.toString('pem');
}

async function rejection(p: Promise<unknown>): Promise<WeftError> {
  try {
    await p;
  } catch (e) {
    if (isWeftError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection, got a certificate');
}

describe('Issuer', () => {
  let ca: CaMaterial;
  let issuer: Issuer;
  beforeAll(async () => {
    ca = await createSelfSignedCa({ now: NOW, trustDomain: TD });
    issuer = new Issuer(ca, { trustDomain: TD });
  });

  it('creates a 10-year P-256 root and an intermediate under it', () => {
    const root = new X509Certificate(ca.issuingRoot.toString('pem'));
    const inter = new X509Certificate(ca.signingCert.toString('pem'));
    expect(root.ca).toBe(true);
    expect(inter.ca).toBe(true);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(inter.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (root.validToDate.getTime() - NOW.getTime()) / (365 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.99);
    expect(inter.checkIssued(root)).toBe(true);
    expect(inter.verify(root.publicKey)).toBe(true);
    expect(inter.validToDate.getTime()).toBeLessThanOrEqual(root.validToDate.getTime());
  });

  it('signs a leaf whose only SAN is the SPIFFE ID of the authenticated identity', async () => {
    const key = await generateWorkloadKey();
    const out = await issuer.sign({ csr: await createCsrPem(key), identity: ID }, NOW);
    expect(out.spiffeId).toBe(SPIFFE);
    const leaf = new X509Certificate(out.leafPem);
    expect(leaf.subjectAltName).toBe(`URI:${SPIFFE}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkPrivateKey(key.keyObject)).toBe(true);
    expect(out.certChainPem).toHaveLength(3);
    expect(out.trustBundlePem).toEqual(ca.trustBundle);
  });

  it('takes the SAN from the identity, never the CSR: the CSR subject is ignored', async () => {
    const pem = await csrWith({ name: 'CN=admin, O=system:masters' });
    const out = await issuer.sign({ csr: pem, identity: { namespace: 'other', serviceAccount: 'default' } }, NOW);
    const leaf = new X509Certificate(out.leafPem);
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.subjectAltName).toBe(`URI:${spiffeId(TD, 'other', 'default')}`);
  });

  it('accepts a CSR that already carries the caller\'s own SPIFFE ID (as Istio agents send)', async () => {
    const key = await generateWorkloadKey();
    const out = await issuer.sign({ csr: await createCsrPem(key, SPIFFE), identity: ID }, NOW);
    expect(new X509Certificate(out.leafPem).subjectAltName).toBe(`URI:${SPIFFE}`);
  });

  it('builds a chain that Node\'s X509Certificate verifies up to the root', async () => {
    const key = await generateWorkloadKey();
    const out = await issuer.sign({ csr: await createCsrPem(key), identity: ID }, NOW);
    const v = verifyChain(out.certChainPem, out.trustBundlePem, new Date(NOW.getTime() + 1000));
    expect(v.uris).toEqual([SPIFFE]);
    const [leaf, inter, root] = out.certChainPem.map((p) => new X509Certificate(p));
    expect(leaf!.checkIssued(inter!)).toBe(true);
    expect(leaf!.verify(inter!.publicKey)).toBe(true);
    expect(inter!.verify(root!.publicKey)).toBe(true);
    expect(leaf!.verify(root!.publicKey)).toBe(false);
    expect(leaf!.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
  });

  it('encodes leaves that @peculiar/x509 reads back with every extension as intended', async () => {
    const out = await issuer.sign({ csr: await csrWith({}), identity: ID }, NOW);
    const leaf = new x509.X509Certificate(out.leafPem);
    expect(leaf.subject).toBe('');
    expect(leaf.issuer).toBe(ca.signingCert.subject);
    expect(leaf.serialNumber).toBe(out.serialNumber);
    expect(leaf.notBefore.toISOString()).toBe(NOW.toISOString());
    const bc = leaf.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.ca, bc.critical]).toEqual([false, true]);
    const ku = leaf.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.critical).toBe(true);
    expect(san.names.toJSON()).toEqual([{ type: 'url', value: SPIFFE }]);
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(ca.signingCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(await leaf.verify({ publicKey: ca.signingCert.publicKey, signatureOnly: true })).toBe(true);
  });

  it('applies TTL from the injected clock: default 24h, clamped to min and max, never past the intermediate', async () => {
    const csr = await csrWith({});
    const d = await issuer.sign({ csr, identity: ID }, NOW);
    expect(d.notBefore.toISOString()).toBe(NOW.toISOString());
    expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(24 * 3600 * 1000);
    const short = await issuer.sign({ csr, identity: ID, ttlMs: 120_000 }, NOW);
    expect(short.notAfter.getTime() - short.notBefore.getTime()).toBe(120_000);
    const tiny = await issuer.sign({ csr, identity: ID, ttlMs: 1 }, NOW);
    expect(tiny.notAfter.getTime() - tiny.notBefore.getTime()).toBe(10_000);
    const huge = await issuer.sign({ csr, identity: ID, ttlMs: 10 * 365 * 24 * 3600 * 1000 }, NOW);
    expect(huge.notAfter.getTime() - huge.notBefore.getTime()).toBe(90 * 24 * 3600 * 1000);
    const lateNow = new Date(ca.signingCert.notAfter.getTime() - 3600 * 1000);
    const capped = await issuer.sign({ csr, identity: ID }, lateNow);
    expect(capped.notAfter.getTime()).toBe(ca.signingCert.notAfter.getTime());
    const leaf = new X509Certificate(capped.leafPem);
    expect(leaf.validToDate.getTime()).toBe(ca.signingCert.notAfter.getTime());
  });

  it('refuses to sign once the intermediate has expired', async () => {
    const after = new Date(ca.signingCert.notAfter.getTime() + 1000);
    const e = await rejection(issuer.sign({ csr: await csrWith({}), identity: ID }, after));
    expect(e.code).toBe('WEFT_E_UNAVAILABLE');
    expect(e.message).toMatch(/expired/);
  });

  describe('rejections', () => {
    it('forged CSR: signature bytes tampered', async () => {
      const der = Buffer.from(x509.PemConverter.decodeFirst(await csrWith({})));
      der[der.length - 1] ^= 0x01;
      const e = await rejection(issuer.sign({ csr: x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), identity: ID }, NOW));
      expect(e.code).toBe('WEFT_E_INVALID_INPUT');
      expect(e.details.reason).toBe('csr_signature');
      expect(e.message).toMatch(/signature does not verify/);
    });

    it('forged CSR: public key swapped for someone else\'s (proof of possession fails)', async () => {
      const a = await keyPair({ name: 'ECDSA', namedCurve: 'P-256' });
      const b = await keyPair({ name: 'ECDSA', namedCurve: 'P-256' });
      const der = Buffer.from(x509.PemConverter.decodeFirst(await csrWith({ keys: a })));
      const spkiA = Buffer.from(await webcrypto.subtle.exportKey('spki', a.publicKey as unknown as webcrypto.CryptoKey));
      const spkiB = Buffer.from(await webcrypto.subtle.exportKey('spki', b.publicKey as unknown as webcrypto.CryptoKey));
      const at = der.indexOf(spkiA);
      expect(at).toBeGreaterThan(0);
      spkiB.copy(der, at);
      const e = await rejection(issuer.sign({ csr: x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), identity: ID }, NOW));
      expect(e.details.reason).toBe('csr_signature');
    });

    it('forged CSR: subject changed after signing', async () => {
      const der = Buffer.from(x509.PemConverter.decodeFirst(await csrWith({ name: 'CN=aaaa' })));
      const at = der.indexOf(Buffer.from('aaaa'));
      der.write('zzzz', at);
      const e = await rejection(issuer.sign({ csr: x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), identity: ID }, NOW));
      expect(e.details.reason).toBe('csr_signature');
    });

    it('mutated CSRs (500 random byte flips and truncations) are refused with a typed error, never a crash', async () => {
      const good = Buffer.from(x509.PemConverter.decodeFirst(await createCsrPem(await generateWorkloadKey(), SPIFFE)));
      let seed = 42;
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const reasons = new Set<string>();
      for (let i = 0; i < 500; i++) {
        const bad = Buffer.from(good);
        if (i % 5 === 0) {
          const cut = bad.subarray(0, rnd(bad.length));
          bad.fill(0);
          cut.copy(bad);
        } else {
          bad[rnd(bad.length)] ^= 1 << rnd(8);
        }
        const der = i % 5 === 0 ? bad.subarray(0, rnd(good.length)) : bad;
        try {
          await issuer.sign({ csr: x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), identity: ID }, NOW);
          reasons.add('signed'); // a flip inside ignored bytes (e.g. the unused subject) that still verifies
        } catch (e) {
          expect(isWeftError(e)).toBe(true);
          reasons.add(String((e as WeftError).details.reason));
        }
      }
      expect([...reasons].every((r) => ['csr_malformed', 'csr_signature', 'csr_key_type', 'csr_weak_signature', 'csr_extra_san', 'csr_identity_mismatch', 'csr_is_ca', 'signed'].includes(r))).toBe(true);
      expect(reasons.has('csr_signature')).toBe(true);
      expect(reasons.has('csr_malformed')).toBe(true);
    });

    it('garbage that is not a CSR', async () => {
      const e = await rejection(issuer.sign({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n', identity: ID }, NOW));
      expect(e.code).toBe('WEFT_E_INVALID_INPUT');
      expect(e.details.reason).toBe('csr_malformed');
      const empty = await rejection(issuer.sign({ csr: '', identity: ID }, NOW));
      expect(empty.details.reason).toBe('csr_malformed');
    });

    it('oversized CSR (a real, validly signed one with many SANs)', async () => {
      const names = Array.from({ length: 200 }, (_, i) => ({ type: 'dns' as const, value: `host-${i}.very-long-subdomain-name.example.com` }));
      const pem = await csrWith({ extensions: [new x509.SubjectAlternativeNameExtension(names)] });
      expect(pem.length).toBeGreaterThan(MAX_CSR_BYTES);
      const e = await rejection(issuer.sign({ csr: pem, identity: ID }, NOW));
      expect(e.details.reason).toBe('csr_too_large');
      expect(e.message).toMatch(/limit is 8192/);
    });

    it('extra SANs: a DNS name next to the SPIFFE ID', async () => {
      const pem = await csrWith({ extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: SPIFFE }, { type: 'dns', value: 'evil.example.com' }])] });
      const e = await rejection(issuer.sign({ csr: pem, identity: ID }, NOW));
      expect(e.code).toBe('WEFT_E_INVALID_INPUT');
      expect(e.details.reason).toBe('csr_extra_san');
      expect(e.message).toContain('dns:evil.example.com');
    });

    it('extra SANs: an IP address or email only', async () => {
      for (const n of [{ type: 'ip' as const, value: '127.0.0.1' }, { type: 'email' as const, value: 'a@b.c' }]) {
        const pem = await csrWith({ extensions: [new x509.SubjectAlternativeNameExtension([n])] });
        const e = await rejection(issuer.sign({ csr: pem, identity: ID }, NOW));
        expect(e.details.reason).toBe('csr_extra_san');
      }
    });

    it('a different identity in the CSR SAN is a permission error', async () => {
      const other = spiffeId(TD, 'kube-system', 'admin');
      const pem = await csrWith({ extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: other }])] });
      const e = await rejection(issuer.sign({ csr: pem, identity: ID }, NOW));
      expect(e.code).toBe('WEFT_E_PERMISSION_DENIED');
      expect(e.details.reason).toBe('csr_identity_mismatch');
      expect(e.message).toContain(other);
    });

    it('isCA requests: basicConstraints cA=true, or keyCertSign usage', async () => {
      const bc = await csrWith({ extensions: [new x509.BasicConstraintsExtension(true, 0, true)] });
      const e1 = await rejection(issuer.sign({ csr: bc, identity: ID }, NOW));
      expect(e1.details.reason).toBe('csr_is_ca');
      expect(e1.message).toMatch(/never CAs/);
      const ku = await csrWith({ extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)] });
      const e2 = await rejection(issuer.sign({ csr: ku, identity: ID }, NOW));
      expect(e2.details.reason).toBe('csr_is_ca');
      const notCa = await csrWith({ extensions: [new x509.BasicConstraintsExtension(false)] });
      await expect(issuer.sign({ csr: notCa, identity: ID }, NOW)).resolves.toBeDefined();
    });

    it('key types: P-384 and RSA-1024 are refused, RSA-2048 is accepted', async () => {
      const p384 = await csrWith({ keys: await keyPair({ name: 'ECDSA', namedCurve: 'P-384' }), sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams });
      const e1 = await rejection(issuer.sign({ csr: p384, identity: ID }, NOW));
      expect(e1.details.reason).toBe('csr_key_type');
      expect(e1.message).toMatch(/secp384r1/);
      const rsa = (bits: number): webcrypto.RsaHashedKeyGenParams => ({ name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' });
      const small = await csrWith({ keys: await keyPair(rsa(1024)), sign: { name: 'RSASSA-PKCS1-v1_5' } });
      const e2 = await rejection(issuer.sign({ csr: small, identity: ID }, NOW));
      expect(e2.details.reason).toBe('csr_key_type');
      expect(e2.message).toMatch(/1024 bits/);
      const ok = await csrWith({ keys: await keyPair(rsa(2048)), sign: { name: 'RSASSA-PKCS1-v1_5' } });
      const out = await issuer.sign({ csr: ok, identity: ID }, NOW);
      expect(new X509Certificate(out.leafPem).publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    });

    it('key types: Ed25519 is refused', async () => {
      const ed = await csrWith({ keys: await keyPair({ name: 'Ed25519' }), sign: { name: 'Ed25519' } });
      const e = await rejection(issuer.sign({ csr: ed, identity: ID }, NOW));
      expect(e.details.reason).toBe('csr_key_type');
      expect(e.message).toMatch(/ed25519/);
    });

    it('an identity that is not a valid Kubernetes name never becomes a SPIFFE ID', async () => {
      const e = await rejection(issuer.sign({ csr: await csrWith({}), identity: { namespace: 'a/b', serviceAccount: 'x' } }, NOW));
      expect(e.code).toBe('WEFT_E_UNAUTHENTICATED');
    });
  });
});
