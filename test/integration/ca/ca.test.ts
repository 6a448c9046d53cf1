// The CA against the real API server: real ServiceAccount tokens from TokenRequest,
// checked by the real TokenReview, a real gRPC server on 127.0.0.1, real CSRs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { webcrypto } from 'node:crypto';
import { CA_TOKEN_AUDIENCE, spiffeId } from '../../../src/api/sidecar.js';
import { isWeftError } from '../../../src/errors/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { bundleHash, caFromSecret, createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { TokenReviewAuthenticator } from '../../../src/ca/authenticator.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { startCaServer, type CaServer } from '../../../src/ca/server.js';
import { loadOrCreateCa, readSecret, writeCaSecret } from '../../../src/ca/store.js';
import { GrpcCaClient } from '../../../src/identity/ca-client.js';
import { createCsrPem, generateWorkloadKey } from '../../../src/identity/csr.js';
import { verifyChain } from '../../../src/identity/chain.js';
import { x509, type CryptoKeyPair } from '../../../src/identity/x509.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';

const TD = 'cluster.local';

async function tokenFor(ns: TestNamespace, sa: string, audience: string): Promise<string> {
  const tr = await ns.clients.core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: ns.name,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return token;
}

async function grpcStatus(p: Promise<unknown>): Promise<{ status: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isWeftError(e) && typeof e.details.grpcStatus === 'string') return { status: e.details.grpcStatus, message: e.message };
    throw e;
  }
  throw new Error('expected the CA to reject the request');
}

async function csrWith(extensions: x509.Extension[], keys?: CryptoKeyPair): Promise<string> {
  const k = keys ?? ((await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as CryptoKeyPair);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys: k, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions });
  return csr.toString('pem');
}

describe('CA with TokenReview (real API server)', () => {
  let ns: TestNamespace;
  let ca: CaMaterial;
  let server: CaServer;
  let authenticator: TokenReviewAuthenticator;
  let goodToken: string;
  const clients: GrpcCaClient[] = [];
  const dial = (token: string): GrpcCaClient => {
    const c = new GrpcCaClient({ address: server.address, token: async () => token });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ns = await createTestNamespace('weft-ca');
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'workload' } } });
    const loaded = await loadOrCreateCa(ns.clients, { namespace: ns.name, trustDomain: TD, now: new Date() });
    expect(loaded.created).toBe(true);
    ca = loaded.material;
    authenticator = new TokenReviewAuthenticator(ns.clients, { audience: CA_TOKEN_AUDIENCE });
    server = await startCaServer({ issuer: new Issuer(ca, { trustDomain: TD }), authenticator, port: 0, host: '127.0.0.1', logger: silentLogger() });
    goodToken = await tokenFor(ns, 'workload', CA_TOKEN_AUDIENCE);
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await server?.close();
    await ns?.cleanup();
  });

  it('a real ServiceAccount token gets a certificate with exactly its SPIFFE ID', async () => {
    const key = await generateWorkloadKey();
    const res = await dial(goodToken).createCertificate(await createCsrPem(key), 3600);
    const v = verifyChain(res.certChain, res.trustBundle, new Date());
    expect(v.uris).toEqual([spiffeId(TD, ns.name, 'workload')]);
    expect(v.leaf.subjectAltName).toBe(`URI:${spiffeId(TD, ns.name, 'workload')}`);
    expect(v.leaf.checkPrivateKey(key.keyObject)).toBe(true);
    expect(res.certChain).toHaveLength(3);
    expect(bundleHash(res.trustBundle)).toBe(bundleHash(ca.trustBundle));
    // The second request reuses the cached TokenReview.
    const reviews = authenticator.reviews;
    await dial(goodToken).createCertificate(await createCsrPem(key), 0);
    expect(authenticator.reviews).toBe(reviews);
  });

  it('a token for another audience is UNAUTHENTICATED', async () => {
    const other = await tokenFor(ns, 'workload', 'https://kubernetes.default.svc.cluster.local');
    const s = await grpcStatus(dial(other).createCertificate(await createCsrPem(await generateWorkloadKey()), 0));
    expect(s.status).toBe('UNAUTHENTICATED');
    expect(s.message).toMatch(/audience weft-ca/);
  });

  it('garbage and forged tokens are UNAUTHENTICATED', async () => {
    const csr = await createCsrPem(await generateWorkloadKey());
    expect((await grpcStatus(dial('not-a-jwt').createCertificate(csr, 0))).status).toBe('UNAUTHENTICATED');
    // Same signature, payload rewritten to claim another ServiceAccount.
    const [h, p, sig] = goodToken.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown> & { sub: string };
    claims.sub = `system:serviceaccount:kube-system:admin`;
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    const s = await grpcStatus(dial(forged).createCertificate(csr, 0));
    expect(s.status).toBe('UNAUTHENTICATED');
    // Signature bytes altered.
    const flipped = `${h}.${p}.${sig!.slice(0, -4)}${sig!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect((await grpcStatus(dial(flipped).createCertificate(csr, 0))).status).toBe('UNAUTHENTICATED');
  });

  it('a token whose ServiceAccount was deleted is UNAUTHENTICATED (a revoked token, like an expired one)', async () => {
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'doomed' } } });
    const token = await tokenFor(ns, 'doomed', CA_TOKEN_AUDIENCE);
    await ns.clients.core.deleteNamespacedServiceAccount({ name: 'doomed', namespace: ns.name });
    const s = await grpcStatus(dial(token).createCertificate(await createCsrPem(await generateWorkloadKey()), 0));
    expect(s.status).toBe('UNAUTHENTICATED');
    expect(s.message).toMatch(/token rejected by TokenReview/);
  });

  it('every CSR abuse case is rejected with the right status', async () => {
    const me = spiffeId(TD, ns.name, 'workload');
    const forgedDer = Buffer.from(x509.PemConverter.decodeFirst(await createCsrPem(await generateWorkloadKey())));
    forgedDer[forgedDer.length - 1] ^= 0x01;
    const p384 = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    const cases: [string, Promise<string>, string, RegExp][] = [
      ['forged signature', Promise.resolve(x509.PemConverter.encode(forgedDer, 'CERTIFICATE REQUEST')), 'INVALID_ARGUMENT', /signature does not verify/],
      ['extra SAN', csrWith([new x509.SubjectAlternativeNameExtension([{ type: 'url', value: me }, { type: 'dns', value: 'bank.example.com' }])]), 'INVALID_ARGUMENT', /extra SANs/],
      ['isCA', csrWith([new x509.BasicConstraintsExtension(true, undefined, true)]), 'INVALID_ARGUMENT', /CA certificate/],
      ['P-384 key', csrWith([], p384), 'INVALID_ARGUMENT', /key type/],
      ['oversized', csrWith([new x509.SubjectAlternativeNameExtension(Array.from({ length: 300 }, (_, i) => ({ type: 'dns' as const, value: `n${i}.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example` })))]), 'INVALID_ARGUMENT', /limit is 8192/],
      ['another identity', csrWith([new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId(TD, 'kube-system', 'admin') }])]), 'PERMISSION_DENIED', /but the caller is/],
    ];
    for (const [name, csr, status, msg] of cases) {
      const s = await grpcStatus(dial(goodToken).createCertificate(await csr, 0));
      expect({ name, status: s.status }).toEqual({ name, status });
      expect(s.message).toMatch(msg);
    }
  });

  it('the CA material survives a round trip through a Secret in the namespace', async () => {
    const s = await readSecret(ns.clients, ns.name, 'weft-ca-secret');
    expect(s).toBeDefined();
    const back = await caFromSecret(s!, new Date());
    expect(back.signingCert.toString('pem')).toBe(ca.signingCert.toString('pem'));
    expect(bundleHash(back.trustBundle)).toBe(bundleHash(ca.trustBundle));
    // A second start loads the stored CA instead of minting a new one.
    const again = await loadOrCreateCa(ns.clients, { namespace: ns.name, trustDomain: TD, now: new Date() });
    expect(again.created).toBe(false);
    expect(again.material.issuingRoot.toString('pem')).toBe(ca.issuingRoot.toString('pem'));
    // And it signs certificates that chain to the same root.
    const out = await new Issuer(back, { trustDomain: TD }).sign({ csr: await createCsrPem(await generateWorkloadKey()), identity: { namespace: ns.name, serviceAccount: 'workload' } }, new Date());
    expect(verifyChain(out.certChainPem, ca.trustBundle, new Date()).uris).toEqual([spiffeId(TD, ns.name, 'workload')]);
  });

  it('renews an ageing self-signed intermediate in the Secret, under the same root', async () => {
    const DAY = 86400_000;
    const aged = await createSelfSignedCa({ now: new Date(Date.now() - 300 * DAY), trustDomain: TD });
    expect(await writeCaSecret(ns.clients, aged, ns.name, 'aged-ca')).toBe('created');
    const oldLeaf = await new Issuer(aged, { trustDomain: TD }).sign({ csr: await createCsrPem(await generateWorkloadKey()), identity: { namespace: ns.name, serviceAccount: 'workload' } }, new Date());
    const loaded = await loadOrCreateCa(ns.clients, { namespace: ns.name, trustDomain: TD, now: new Date(), selfSignedSecretName: 'aged-ca' });
    expect(loaded.material.signingCert.serialNumber).not.toBe(aged.signingCert.serialNumber);
    expect(loaded.material.signingCert.notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * DAY);
    expect(loaded.material.issuingRoot.toString('pem')).toBe(aged.issuingRoot.toString('pem'));
    // Stored: the next start reads the renewed intermediate and does not renew again.
    const again = await loadOrCreateCa(ns.clients, { namespace: ns.name, trustDomain: TD, now: new Date(), selfSignedSecretName: 'aged-ca' });
    expect(again.material.signingCert.serialNumber).toBe(loaded.material.signingCert.serialNumber);
    // Old and new leaves verify against the same, unchanged bundle.
    const newLeaf = await new Issuer(again.material, { trustDomain: TD }).sign({ csr: await createCsrPem(await generateWorkloadKey()), identity: { namespace: ns.name, serviceAccount: 'workload' } }, new Date());
    for (const leaf of [oldLeaf, newLeaf]) expect(() => verifyChain(leaf.certChainPem, aged.trustBundle, new Date())).not.toThrow();
  });

  it('keeps the Secret\'s annotations and other keys (a rotation\'s state and next-* keys) when it renews the intermediate', async () => {
    const DAY = 86400_000;
    const aged = await createSelfSignedCa({ now: new Date(Date.now() - 300 * DAY), trustDomain: TD });
    expect(await writeCaSecret(ns.clients, aged, ns.name, 'aged-ca-rot')).toBe('created');
    const s = await ns.clients.core.readNamespacedSecret({ name: 'aged-ca-rot', namespace: ns.name });
    s.metadata = { ...s.metadata, annotations: { 'rotation.weft.dev/request': 'r1', 'rotation.weft.dev/state': '{"kept":true}' } };
    s.data = { ...s.data, 'next-root-cert.pem': Buffer.from('kept').toString('base64') };
    await ns.clients.core.replaceNamespacedSecret({ name: 'aged-ca-rot', namespace: ns.name, body: s });
    const loaded = await loadOrCreateCa(ns.clients, { namespace: ns.name, trustDomain: TD, now: new Date(), selfSignedSecretName: 'aged-ca-rot' });
    expect(loaded.material.signingCert.serialNumber).not.toBe(aged.signingCert.serialNumber);
    const after = await ns.clients.core.readNamespacedSecret({ name: 'aged-ca-rot', namespace: ns.name });
    expect(after.metadata?.annotations).toEqual({ 'rotation.weft.dev/request': 'r1', 'rotation.weft.dev/state': '{"kept":true}' });
    expect(after.data?.['next-root-cert.pem']).toBe(Buffer.from('kept').toString('base64'));
    expect((await caFromSecret(after as never, new Date())).signingCert.serialNumber).toBe(loaded.material.signingCert.serialNumber);
  });
});
