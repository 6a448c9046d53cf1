// A full three-stage root rotation while two workloads keep talking mTLS: real tokens,
// real TokenReview, the real gRPC CA, real cert agents and TLS sockets. The stage machine
// only moves on when both agents report the stage's hash; requests never stop.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CA_TOKEN_AUDIENCE } from '../../../src/api/sidecar.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createSelfSignedCa, fingerprint, type CaMaterial } from '../../../src/ca/authority.js';
import { TokenReviewAuthenticator } from '../../../src/ca/authenticator.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { advanceRotation, initialRotationState, materialForStage, planFor, startRotation, type RotationState } from '../../../src/ca/rotation.js';
import { startCaServer, type CaServer } from '../../../src/ca/server.js';
import { GrpcCaClient } from '../../../src/identity/ca-client.js';
import { CertAgent } from '../../../src/identity/cert-agent.js';
import { pemFingerprint } from '../../../src/identity/chain.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';

describe('root rotation under continuous mTLS (real API server)', () => {
  let ns: TestNamespace;
  let oldCa: CaMaterial;
  let newCa: CaMaterial;
  let issuer: Issuer;
  let server: CaServer;
  const clients: GrpcCaClient[] = [];
  const agents: CertAgent[] = [];

  async function agentFor(sa: string): Promise<CertAgent> {
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    const tr = await ns.clients.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns.name,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [CA_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
    });
    const token = tr.status!.token!;
    const client = new GrpcCaClient({ address: server.address, token: async () => token });
    clients.push(client);
    const agent = new CertAgent({ ca: client, namespace: ns.name, serviceAccount: sa, ttlSeconds: 3600, logger: silentLogger() });
    agents.push(agent);
    return agent;
  }

  beforeAll(async () => {
    ns = await createTestNamespace('weft-ca-rotate');
    oldCa = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    newCa = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    issuer = new Issuer(oldCa);
    server = await startCaServer({ issuer, authenticator: new TokenReviewAuthenticator(ns.clients), port: 0, logger: silentLogger() });
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    clients.forEach((c) => c.close());
    await server?.close(0);
    await ns?.cleanup();
  });

  it('adds the new root, switches the issuer, retires the old root: 0 failed requests, 0 restarts', async () => {
    const backend = await agentFor('backend');
    const frontend = await agentFor('frontend');
    await Promise.all([backend.start(), frontend.start()]);

    const srv = tls.createServer({ ...backend.tlsOptions()!, requestCert: true, rejectUnauthorized: true }, (sock) => sock.end('ok'));
    const swap = (): void => srv.setSecureContext(backend.tlsOptions()!);
    backend.on('rotated', swap);
    backend.on('bundleChanged', swap);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;

    // Continuous traffic in the background, bounded in time and count.
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const traffic = (async (): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!stop && Date.now() < deadline && ok + failures.length < 20_000) {
        try {
          const body = await new Promise<string>((resolve, reject) => {
            const s = tls.connect({ host: '127.0.0.1', port, ...frontend.tlsOptions()!, checkServerIdentity: (_h, c) => (c.subjectaltname === `URI:${backend.spiffeId}` ? undefined : new Error('wrong peer')) });
            let b = '';
            s.setEncoding('utf8');
            s.on('data', (d: string) => (b += d));
            s.once('end', () => resolve(b));
            s.once('error', reject);
            s.setTimeout(3000, () => s.destroy(new Error('timeout')));
          });
          if (body === 'ok') ok++;
          else failures.push(`body ${body}`);
        } catch (e) {
          failures.push(String(e));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
    const observed = (): Set<string> => new Set([backend, frontend].map((a) => a.current()!.stateHash));

    let s: RotationState = initialRotationState(fingerprint(oldCa.issuingRoot.toString('pem')), Date.now());
    expect(observed()).toEqual(new Set([planFor(s).expectedHash]));
    s = startRotation(s, fingerprint(newCa.issuingRoot.toString('pem')), Date.now());
    const stages: string[] = [];
    while (s.stage !== 'idle') {
      stages.push(s.stage);
      const material = materialForStage(s, oldCa, newCa);
      issuer.use(material);
      // Proxies catch up one at a time, with traffic flowing in between.
      for (const agent of [backend, frontend]) {
        expect(advanceRotation(s, observed(), Date.now()).advanced).toBe(false);
        if (s.stage === 'switch-issuer') await agent.renewNow();
        else agent.updateTrustBundle(material.trustBundle);
        await pause();
      }
      const r = advanceRotation(s, observed(), Date.now());
      expect(r.lagging).toEqual([]);
      expect(r.advanced).toBe(true);
      s = r.state;
    }
    await pause();
    stop = true;
    await traffic;
    await new Promise<void>((r) => srv.close(() => r()));

    expect(stages).toEqual(['add-root', 'switch-issuer', 'remove-old-root']);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    const newFp = fingerprint(newCa.issuingRoot.toString('pem'));
    for (const a of [backend, frontend]) {
      expect(a.current()!.trustBundlePem.map(pemFingerprint)).toEqual([newFp]);
    }
  }, 120_000);
});
