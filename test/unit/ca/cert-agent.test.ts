// The cert agent against the real gRPC CA server on 127.0.0.1, with a manual clock shared
// by the CA and the agent, so renewal, backoff and expiry are exact.
import { afterEach, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { Issuer } from '../../../src/ca/issuer.js';
import { startCaServer, type CaServer } from '../../../src/ca/server.js';
import { GrpcCaClient } from '../../../src/identity/ca-client.js';
import { CertAgent, backoffDelay, renewalTime, DEFAULT_BACKOFF, type WorkloadCertificate } from '../../../src/identity/cert-agent.js';
import { uriSans } from '../../../src/identity/chain.js';
import { FakeClock } from './fake-clock.js';
import { TableAuthenticator } from './table-authenticator.js';

const HOUR = 3600_000;

describe('renewal and backoff math (pure)', () => {
  it('renews at 50% of the lifetime, within ±10% jitter', () => {
    const nb = 1_000_000;
    const na = nb + 24 * HOUR;
    expect(renewalTime(nb, na, 0.5, 0.1, 0.5)).toBe(nb + 12 * HOUR);
    expect(renewalTime(nb, na, 0.5, 0.1, 0)).toBe(nb + Math.round(24 * HOUR * 0.4));
    expect(renewalTime(nb, na, 0.5, 0.1, 0.999999)).toBeLessThanOrEqual(nb + Math.round(24 * HOUR * 0.6));
    for (let i = 0; i < 1000; i++) {
      const r = renewalTime(nb, na, 0.5, 0.1, i / 1000);
      expect(r).toBeGreaterThanOrEqual(nb + 24 * HOUR * 0.4);
      expect(r).toBeLessThan(nb + 24 * HOUR * 0.6 + 1);
    }
    // Linkerd's 70% works the same way.
    expect(renewalTime(0, 100_000, 0.7, 0, 0.3)).toBe(70_000);
  });

  it('backs off exponentially with jitter, capped', () => {
    const b = DEFAULT_BACKOFF;
    expect(backoffDelay(0, b, 1)).toBe(1000);
    expect(backoffDelay(0, b, 0)).toBe(500);
    expect(backoffDelay(3, b, 1)).toBe(8000);
    expect(backoffDelay(30, b, 1)).toBe(60_000);
    expect(backoffDelay(30, b, 0)).toBe(30_000);
  });
});

describe('CertAgent with the real gRPC CA', () => {
  let ca: CaMaterial;
  let server: CaServer | undefined;
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await server?.close(0);
    server = undefined;
  });

  async function setup(opts: { ttlSeconds: number; random?: () => number; identity?: { namespace: string; serviceAccount: string }; startOffsetMs?: number }): Promise<{ clock: FakeClock; agent: CertAgent; client: GrpcCaClient }> {
    const start = Math.floor((Date.now() + (opts.startOffsetMs ?? 0)) / 1000) * 1000;
    const clock = new FakeClock(start);
    ca ??= await createSelfSignedCa({ now: new Date(start - HOUR), trustDomain: 'cluster.local' });
    server = await startCaServer({
      issuer: new Issuer(ca),
      authenticator: new TableAuthenticator({ tok: opts.identity ?? { namespace: 'shop', serviceAccount: 'cart' } }),
      port: 0,
      logger: silentLogger(),
      clock: () => new Date(clock.now()),
    });
    const client = new GrpcCaClient({ address: server.address, token: async () => 'tok', channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 200 } });
    const agent = new CertAgent({ ca: client, namespace: 'shop', serviceAccount: 'cart', ttlSeconds: opts.ttlSeconds, clock, random: opts.random ?? (() => 0.5), logger: silentLogger() });
    cleanups.push(() => client.close(), () => agent.stop());
    return { clock, agent, client };
  }

  /** Fires whatever timer is due at `to` and waits for the agent's outcome. */
  async function step(clock: FakeClock, agent: CertAgent, to: number): Promise<'rotated' | 'renewFailed' | 'expired'> {
    let onRotated = (): void => undefined;
    let onFailed = (): void => undefined;
    let onExpired = (): void => undefined;
    const outcome = new Promise<'rotated' | 'renewFailed' | 'expired'>((resolve) => {
      onRotated = (): void => resolve('rotated');
      onFailed = (): void => resolve('renewFailed');
      onExpired = (): void => resolve('expired');
      agent.once('rotated', onRotated);
      agent.once('renewFailed', onFailed);
      agent.once('expired', onExpired);
    });
    clock.advanceTo(to);
    const r = await outcome;
    agent.off('rotated', onRotated);
    agent.off('renewFailed', onFailed);
    agent.off('expired', onExpired);
    return r;
  }

  it('gets a certificate with a key made in-process and renews exactly at the scheduled point', async () => {
    const { clock, agent } = await setup({ ttlSeconds: 120 });
    const rotations: [WorkloadCertificate, WorkloadCertificate | undefined][] = [];
    agent.on('rotated', (c, p) => rotations.push([c, p]));
    const first = await agent.start();
    expect(first.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/cart');
    expect(uriSans(new X509Certificate(first.certChainPem[0]!))).toEqual([first.spiffeId]);
    expect(new X509Certificate(first.certChainPem[0]!).checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(first.privateKeyPem)))).toBe(true);
    expect(first.certChainPem).toHaveLength(2); // leaf + intermediate; the root is in the bundle
    expect(first.notAfter.getTime() - first.notBefore.getTime()).toBe(120_000);
    expect(first.renewAt.getTime()).toBe(first.notBefore.getTime() + 60_000);
    expect(rotations[0]![1]).toBeUndefined();

    const issued = server!.stats.issued;
    clock.advanceTo(first.renewAt.getTime() - 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(server!.stats.issued).toBe(issued); // not yet

    expect(await step(clock, agent, first.renewAt.getTime())).toBe('rotated');
    const second = agent.current()!;
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(second.privateKeyPem).not.toBe(first.privateKeyPem); // a new key every time
    expect(rotations[1]![1]).toBe(first);

    // Five more rotations at 50% each, as a 2-minute TTL workload would see in 5 minutes.
    for (let i = 0; i < 5; i++) {
      const c = agent.current()!;
      expect(await step(clock, agent, c.renewAt.getTime())).toBe('rotated');
    }
    expect(rotations).toHaveLength(7);
  });

  it('jitter moves the renewal point inside the 40%..60% window', async () => {
    const { agent } = await setup({ ttlSeconds: 1000, random: () => 0 });
    const c = await agent.start();
    expect(c.renewAt.getTime() - c.notBefore.getTime()).toBe(400_000);
  });

  it('keeps serving the current cert while the CA is down, backs off, reports expiry, and recovers', async () => {
    const { clock, agent } = await setup({ ttlSeconds: 120, random: () => 1 });
    const first = await agent.start();
    const port = server!.port;
    await server!.close(0);
    server = undefined;

    const failures: number[] = [];
    agent.on('renewFailed', (_e, attempt, delay) => failures.push(delay));
    let expired = 0;
    agent.on('expired', () => expired++);

    expect(await step(clock, agent, first.renewAt.getTime())).toBe('renewFailed');
    expect(agent.current()).toBe(first); // still serving
    expect(agent.tlsOptions()?.cert).toContain('BEGIN CERTIFICATE');
    // Follow the retries: 1 s, 2 s, 4 s, ... (random() = 1 takes the full ceiling).
    while (clock.now() < first.notAfter.getTime() + 30_000) {
      const next = clock.nextAt()!;
      expect(['renewFailed', 'expired']).toContain(await step(clock, agent, next));
    }
    expect(failures.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(Math.max(...failures)).toBeLessThanOrEqual(60_000);
    expect(expired).toBe(1);
    expect(agent.current()).toBeUndefined(); // never an expired cert
    expect(agent.tlsOptions()).toBeUndefined();

    // The CA comes back on the same address; the next retries get through.
    server = await startCaServer({ issuer: new Issuer(ca), authenticator: new TableAuthenticator({ tok: { namespace: 'shop', serviceAccount: 'cart' } }), port, logger: silentLogger(), clock: () => new Date(clock.now()) });
    let outcome = 'renewFailed';
    for (let i = 0; i < 40 && outcome !== 'rotated'; i++) {
      await new Promise((r) => setTimeout(r, 100)); // real time for the channel to reconnect
      outcome = await step(clock, agent, clock.nextAt()!);
    }
    expect(outcome).toBe('rotated');
    expect(agent.current()!.notAfter.getTime()).toBeGreaterThan(clock.now());
  });

  it('waits (no fallback) when the first certificate cannot be had, and stop() ends the wait', async () => {
    const { clock, agent } = await setup({ ttlSeconds: 120, identity: { namespace: 'other', serviceAccount: 'x' } });
    const failed = new Promise<string>((resolve) => agent.once('renewFailed', (e) => resolve(`${e.code}: ${e.message}`)));
    const ready = agent.start();
    clock.advance(0);
    // The CA refuses: our CSR names our SPIFFE ID but the token says another identity.
    expect(await failed).toMatch(/WEFT_E_PERMISSION_DENIED: CA: PERMISSION_DENIED/);
    expect(agent.current()).toBeUndefined();
    agent.stop();
    await expect(ready).rejects.toMatchObject({ code: 'WEFT_E_UNAVAILABLE' });
  });

  it('rotation swaps the TLS context for new connections without dropping existing ones', async () => {
    // Node's TLS checks validity against the real clock: start the manual clock early enough
    // that the renewed certificate (issued at 50% of a 2 h lifetime) is already valid.
    const { clock, agent } = await setup({ ttlSeconds: 7200, startOffsetMs: -61 * 60_000 });
    const first = await agent.start();
    const srv = tls.createServer({ ...agent.tlsOptions()!, requestCert: true, rejectUnauthorized: true }, (sock) => sock.pipe(sock));
    agent.on('rotated', () => srv.setSecureContext(agent.tlsOptions()!));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    const port = (srv.address() as AddressInfo).port;
    const connect = (): Promise<tls.TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ...agent.tlsOptions()!, checkServerIdentity: (_h, cert) => (cert.subjectaltname === `URI:${agent.spiffeId}` ? undefined : new Error('wrong peer')) });
        s.once('secureConnect', () => resolve(s));
        s.once('error', reject);
      });
    const echo = (s: tls.TLSSocket, msg: string): Promise<string> =>
      new Promise((resolve) => {
        s.once('data', (d: Buffer) => resolve(d.toString()));
        s.write(msg);
      });

    const old = await connect();
    cleanups.push(() => old.destroy());
    expect(old.getPeerX509Certificate()!.serialNumber.toLowerCase()).toBe(first.serialNumber.toLowerCase());
    expect(await echo(old, 'before')).toBe('before');

    expect(await step(clock, agent, first.renewAt.getTime())).toBe('rotated');
    const second = agent.current()!;
    expect(await echo(old, 'after')).toBe('after'); // the existing connection is untouched
    const fresh = await connect();
    cleanups.push(() => fresh.destroy());
    expect(fresh.getPeerX509Certificate()!.serialNumber.toLowerCase()).toBe(second.serialNumber.toLowerCase());
    expect(await echo(fresh, 'new')).toBe('new');
  });
});
