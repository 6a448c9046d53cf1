// The cert agent in real time against the CA with the real TokenReview: short-lived
// certificates rotate under continuous mTLS traffic with no failed request, and a CA
// outage past the renewal point is ridden out on the current certificate.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CA_TOKEN_AUDIENCE } from '../../../src/api/sidecar.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { TokenReviewAuthenticator } from '../../../src/ca/authenticator.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { startCaServer, type CaServer } from '../../../src/ca/server.js';
import { GrpcCaClient, fileTokenSource } from '../../../src/identity/ca-client.js';
import { CertAgent } from '../../../src/identity/cert-agent.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';

const TTL_SECONDS = 12; // renew every ~6 s: five rotations in well under a minute

describe('cert agent with TokenReview (real API server, real time)', () => {
  let ns: TestNamespace;
  let ca: CaMaterial;
  let server: CaServer | undefined;
  let port = 0;
  let dir: string;
  let authenticator: TokenReviewAuthenticator;
  const agents: CertAgent[] = [];
  const clients: GrpcCaClient[] = [];

  async function startCa(): Promise<void> {
    server = await startCaServer({ issuer: new Issuer(ca, { minTtlMs: 10_000 }), authenticator, port, host: '127.0.0.1', logger: silentLogger() });
    port = server.port;
  }

  async function agentFor(sa: string): Promise<CertAgent> {
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    const tr = await ns.clients.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: ns.name,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [CA_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
    });
    const file = path.join(dir, `${sa}.token`); // as the projected volume would hold it
    await writeFile(file, tr.status!.token!, { mode: 0o600 });
    const client = new GrpcCaClient({
      address: `127.0.0.1:${port}`,
      token: fileTokenSource(file),
      deadlineMs: 3000,
      channelOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 500 },
    });
    clients.push(client);
    const agent = new CertAgent({ ca: client, namespace: ns.name, serviceAccount: sa, ttlSeconds: TTL_SECONDS, backoff: { initialMs: 200, maxMs: 1000 }, logger: silentLogger() });
    agents.push(agent);
    return agent;
  }

  beforeAll(async () => {
    ns = await createTestNamespace('weft-ca-agent');
    dir = await mkdtemp(path.join(tmpdir(), 'weft-ca-agent-'));
    ca = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    authenticator = new TokenReviewAuthenticator(ns.clients, { cacheTtlMs: 5_000 });
    await startCa();
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    clients.forEach((c) => c.close());
    await server?.close(0);
    await rm(dir, { recursive: true, force: true });
    await ns?.cleanup();
  });

  it('rotates five times under continuous mTLS requests with zero failures', async () => {
    const serverAgent = await agentFor('backend');
    const clientAgent = await agentFor('frontend');
    await Promise.all([serverAgent.start(), clientAgent.start()]);
    const expectPeer = (id: string) => (_h: string, cert: tls.PeerCertificate): Error | undefined =>
      cert.subjectaltname === `URI:${id}` ? undefined : new Error(`peer is ${cert.subjectaltname}, want ${id}`);

    const srv = tls.createServer({ ...serverAgent.tlsOptions()!, requestCert: true, rejectUnauthorized: true }, (sock) => {
      const peer = sock.getPeerX509Certificate();
      sock.end(`hello ${peer?.subjectAltName ?? 'nobody'}`);
    });
    serverAgent.on('rotated', () => srv.setSecureContext(serverAgent.tlsOptions()!));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const srvPort = (srv.address() as AddressInfo).port;

    const request = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: srvPort, ...clientAgent.tlsOptions()!, checkServerIdentity: expectPeer(serverAgent.spiffeId) });
        let body = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (body += d));
        s.once('end', () => resolve(body));
        s.once('error', reject);
        s.setTimeout(3000, () => s.destroy(new Error('timeout')));
      });

    let serverRotations = 0;
    let clientRotations = 0;
    serverAgent.on('rotated', () => serverRotations++);
    clientAgent.on('rotated', () => clientRotations++);
    let ok = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 75_000; // bounded in time and count
    while ((serverRotations < 5 || clientRotations < 5) && Date.now() < deadline && ok + failures.length < 5000) {
      try {
        const body = await request();
        if (body === `hello URI:${clientAgent.spiffeId}`) ok++;
        else failures.push(`unexpected body ${body}`);
      } catch (e) {
        failures.push(String(e));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise<void>((r) => srv.close(() => r()));
    expect(failures).toEqual([]);
    expect(serverRotations).toBeGreaterThanOrEqual(5);
    expect(clientRotations).toBeGreaterThanOrEqual(5);
    expect(ok).toBeGreaterThan(50);
  }, 120_000);

  it('rides out a CA outage past the renewal point and renews once the CA is back', async () => {
    const agent = await agentFor('batch');
    const first = await agent.start();
    const failures: string[] = [];
    agent.on('renewFailed', (e) => failures.push(e.code));
    await server!.close(0);
    server = undefined;
    // Wait past the renewal point (about 6 s in), still serving the first certificate.
    await new Promise((r) => setTimeout(r, Math.max(0, first.renewAt.getTime() - Date.now()) + 1500));
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((c) => c === 'WEFT_E_UNAVAILABLE')).toBe(true);
    expect(agent.current()?.serialNumber).toBe(first.serialNumber);
    const rotated = new Promise<string>((resolve) => agent.once('rotated', (c) => resolve(c.serialNumber)));
    await startCa();
    const serial = await rotated;
    expect(serial).not.toBe(first.serialNumber);
    expect(agent.current()!.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
  }, 60_000);
});
