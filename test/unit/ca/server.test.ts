import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import type { V1TokenReview } from '@kubernetes/client-node';
import { isWeftError } from '../../../src/errors/errors.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createSelfSignedCa, issueServingCertificate } from '../../../src/ca/authority.js';
import { TokenReviewAuthenticator } from '../../../src/ca/authenticator.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { ReloadableServingCredentials, caServerCredentials, startCaServer, type CaServer } from '../../../src/ca/server.js';
import { GrpcCaClient } from '../../../src/identity/ca-client.js';
import { createCsrPem, generateWorkloadKey } from '../../../src/identity/csr.js';
import { verifyChain } from '../../../src/identity/chain.js';
import { x509 } from '../../../src/identity/x509.js';
import { TableAuthenticator } from './table-authenticator.js';

async function statusOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isWeftError(e)) return { code: String(e.details.grpcStatus), message: e.message };
    throw e;
  }
  throw new Error('expected a gRPC error');
}

describe('CA gRPC server', () => {
  let server: CaServer;
  const clients: GrpcCaClient[] = [];
  const client = (token: string): GrpcCaClient => {
    const c = new GrpcCaClient({ address: server.address, token: async () => token });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const now = new Date();
    const ca = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    server = await startCaServer({
      issuer: new Issuer(ca),
      authenticator: new TableAuthenticator({ good: { namespace: 'shop', serviceAccount: 'cart' } }),
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
    });
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await server.close();
  });

  it('issues a leaf + chain + bundle for an authenticated caller', async () => {
    const key = await generateWorkloadKey();
    const res = await client('good').createCertificate(await createCsrPem(key), 3600);
    const v = verifyChain(res.certChain, res.trustBundle, new Date());
    expect(v.uris).toEqual(['spiffe://cluster.local/ns/shop/sa/cart']);
    expect(v.notAfter.getTime() - v.notBefore.getTime()).toBe(3600 * 1000);
    expect(new X509Certificate(res.certChain[0]!).checkPrivateKey(key.keyObject)).toBe(true);
    expect(server.stats.issued).toBeGreaterThanOrEqual(1);
  });

  it('UNAUTHENTICATED without metadata, with a malformed header, or with an unknown token', async () => {
    const csr = await createCsrPem(await generateWorkloadKey());
    expect((await statusOf(client('nope').createCertificate(csr, 0))).code).toBe('UNAUTHENTICATED');
    // Raw client: no authorization metadata at all, and a non-Bearer scheme.
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    const call = (md: grpc.Metadata): Promise<grpc.ServiceError> =>
      new Promise((resolve) => {
        raw.makeUnaryRequest('/weft.ca.v1.CertificateService/CreateCertificate', () => Buffer.alloc(0), (b: Buffer) => b, {}, md, (err) => resolve(err!));
      });
    const none = await call(new grpc.Metadata());
    expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(none.details).toMatch(/missing 'authorization: Bearer <token>'/);
    const basic = new grpc.Metadata();
    basic.set('authorization', 'Basic Zm9vOmJhcg==');
    const b = await call(basic);
    expect(b.code).toBe(grpc.status.UNAUTHENTICATED);
    raw.close();
    expect(server.stats.rejected.get('unauthenticated')).toBeGreaterThanOrEqual(3);
  });

  it('INVALID_ARGUMENT for a forged CSR, with a clear message', async () => {
    const der = Buffer.from(x509.PemConverter.decodeFirst(await createCsrPem(await generateWorkloadKey())));
    der[der.length - 2] ^= 0x40;
    const s = await statusOf(client('good').createCertificate(x509.PemConverter.encode(der, 'CERTIFICATE REQUEST'), 0));
    expect(s.code).toBe('INVALID_ARGUMENT');
    expect(s.message).toMatch(/signature does not verify/);
    expect(server.stats.rejected.get('csr_signature')).toBe(1);
  });

  it('PERMISSION_DENIED when the CSR asks for someone else\'s SPIFFE ID', async () => {
    const key = await generateWorkloadKey();
    const s = await statusOf(client('good').createCertificate(await createCsrPem(key, 'spiffe://cluster.local/ns/kube-system/sa/admin'), 0));
    expect(s.code).toBe('PERMISSION_DENIED');
  });

  it('INVALID_ARGUMENT for an oversized request and for garbage', async () => {
    expect((await statusOf(client('good').createCertificate('x'.repeat(9000), 0))).code).toBe('INVALID_ARGUMENT');
    expect((await statusOf(client('good').createCertificate('garbage', 0))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('CA gRPC server over TLS', () => {
  it('serves with a certificate from its own intermediate; clients verify it with the trust bundle', async () => {
    const now = new Date();
    const ca = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    const serving = await issueServingCertificate(ca, { now, dnsNames: ['weft-ca.weft-system.svc'], spiffeId: 'spiffe://cluster.local/ns/weft-system/sa/weft-controlplane' });
    const server = await startCaServer({
      issuer: new Issuer(ca),
      authenticator: new TableAuthenticator({ good: { namespace: 'shop', serviceAccount: 'cart' } }),
      port: 0,
      logger: silentLogger(),
      credentials: caServerCredentials(serving),
    });
    const other = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    const mk = (opts: { root?: string; name?: string }): GrpcCaClient =>
      new GrpcCaClient({ address: server.address, token: async () => 'good', deadlineMs: 3000, ...(opts.root ? { rootCertPem: opts.root } : {}), ...(opts.name ? { serverName: opts.name } : {}) });
    const good = mk({ root: ca.trustBundle.join(''), name: 'weft-ca.weft-system.svc' });
    const plaintext = mk({});
    const wrongRoot = mk({ root: other.trustBundle.join(''), name: 'weft-ca.weft-system.svc' });
    const wrongName = mk({ root: ca.trustBundle.join(''), name: 'evil.example.com' });
    try {
      const csr = await createCsrPem(await generateWorkloadKey());
      const res = await good.createCertificate(csr, 600);
      expect(verifyChain(res.certChain, res.trustBundle, new Date()).uris).toEqual(['spiffe://cluster.local/ns/shop/sa/cart']);
      for (const c of [plaintext, wrongRoot, wrongName]) {
        expect((await statusOf(c.createCertificate(csr, 600))).code).toBe('UNAVAILABLE');
      }
    } finally {
      [good, plaintext, wrongRoot, wrongName].forEach((c) => c.close());
      await server.close(0);
    }
  });
});

describe('CA serving certificate replaced while serving (root rotation)', () => {
  it('new handshakes get the new certificate; a client follows with setRoots', async () => {
    const now = new Date();
    const oldCa = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    const newCa = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    const name = 'weft-ca.weft-system.svc';
    const reloadable = new ReloadableServingCredentials(await issueServingCertificate(oldCa, { now, dnsNames: [name] }));
    const server = await startCaServer({
      issuer: new Issuer(oldCa),
      authenticator: new TableAuthenticator({ good: { namespace: 'shop', serviceAccount: 'cart' } }),
      port: 0, logger: silentLogger(), credentials: reloadable.credentials,
    });
    const mk = (root: string): GrpcCaClient => new GrpcCaClient({ address: server.address, token: async () => 'good', deadlineMs: 3000, rootCertPem: root, serverName: name });
    const oldOnly = mk(oldCa.trustBundle.join(''));
    const newOnly = mk(newCa.trustBundle.join(''));
    const follower = mk(oldCa.trustBundle.join(''));
    try {
      const csr = await createCsrPem(await generateWorkloadKey());
      await follower.createCertificate(csr, 600);
      expect((await statusOf(newOnly.createCertificate(csr, 600))).code).toBe('UNAVAILABLE');
      reloadable.set(await issueServingCertificate(newCa, { now, dnsNames: [name] }));
      newOnly.close();
      const fresh = mk(newCa.trustBundle.join(''));
      try {
        await fresh.createCertificate(csr, 600);
      } finally {
        fresh.close();
      }
      expect((await statusOf(oldOnly.createCertificate(csr, 600))).code).toBe('UNAVAILABLE');
      follower.setRoots(newCa.trustBundle.join(''));
      expect((await follower.createCertificate(csr, 600)).certChain.length).toBeGreaterThan(0);
    } finally {
      [oldOnly, follower].forEach((c) => c.close());
      await server.close(0);
    }
  });
});

describe('TokenReviewAuthenticator (API server stood in by a TokenReview table)', () => {
  class FakeAuthn {
    calls = 0;
    constructor(private readonly answer: (token: string) => V1TokenReview['status'] | Error) {}
    async createTokenReview(p: { body: V1TokenReview }): Promise<V1TokenReview> {
      this.calls++;
      const a = this.answer(p.body.spec.token ?? '');
      if (a instanceof Error) throw a;
      return { ...p.body, status: a };
    }
  }
  const jwt = (exp: number): string => `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;

  it('maps a ServiceAccount user to an identity and caches it until the TTL or token expiry', async () => {
    let now = 1_000_000;
    const authn = new FakeAuthn(() => ({ authenticated: true, audiences: ['weft-ca'], user: { username: 'system:serviceaccount:shop:cart', extra: { 'authentication.kubernetes.io/pod-name': ['cart-1'] } } }));
    const a = new TokenReviewAuthenticator({ authn: authn as never }, { cacheTtlMs: 10_000, clock: () => now });
    const token = jwt(now / 1000 + 5); // expires in 5 s, before the cache TTL
    expect(await a.authenticate(token)).toEqual({ namespace: 'shop', serviceAccount: 'cart', podName: 'cart-1' });
    await a.authenticate(token);
    expect(authn.calls).toBe(1);
    now += 6_000;
    await a.authenticate(token);
    expect(authn.calls).toBe(2);
    const other = jwt(now / 1000 + 3600);
    await Promise.all([a.authenticate(other), a.authenticate(other), a.authenticate(other)]);
    expect(authn.calls).toBe(3); // concurrent requests share one review
  });

  it('rejects unauthenticated, wrong-audience and non-ServiceAccount tokens; API failures are UNAVAILABLE and not cached', async () => {
    const answers: Record<string, V1TokenReview['status'] | Error> = {
      forged: { authenticated: false, error: 'invalid bearer token' },
      aud: { authenticated: true, audiences: [], user: { username: 'system:serviceaccount:a:b' } },
      user: { authenticated: true, audiences: ['weft-ca'], user: { username: 'alice' } },
      down: new Error('connect ECONNREFUSED'),
    };
    const authn = new FakeAuthn((t) => answers[t]!);
    const a = new TokenReviewAuthenticator({ authn: authn as never });
    await expect(a.authenticate('forged')).rejects.toMatchObject({ code: 'WEFT_E_UNAUTHENTICATED', message: expect.stringMatching(/invalid bearer token/) });
    await expect(a.authenticate('aud')).rejects.toMatchObject({ code: 'WEFT_E_UNAUTHENTICATED', message: expect.stringMatching(/not valid for audience weft-ca/) });
    await expect(a.authenticate('user')).rejects.toMatchObject({ code: 'WEFT_E_UNAUTHENTICATED', message: expect.stringMatching(/only ServiceAccount tokens/) });
    await expect(a.authenticate('down')).rejects.toMatchObject({ code: 'WEFT_E_UNAVAILABLE' });
    await expect(a.authenticate('down')).rejects.toMatchObject({ code: 'WEFT_E_UNAVAILABLE' });
    await expect(a.authenticate('')).rejects.toMatchObject({ code: 'WEFT_E_UNAUTHENTICATED' });
    const before = authn.calls;
    await expect(a.authenticate('forged')).rejects.toMatchObject({ code: 'WEFT_E_UNAUTHENTICATED' });
    expect(authn.calls).toBe(before); // negative result cached briefly
    expect(authn.calls).toBe(5); // forged, aud, user, down, down
  });
});
