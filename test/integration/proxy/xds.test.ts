import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition, encodeAny, TYPE_URLS, type AdsStream, type DiscoveryRequest, type EnvoyResource } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { XdsClient, backoffDelayMs } from '../../../src/proxy/xds-client.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, request, type Backend } from './helpers.js';

/** A tiny state-of-the-world ADS server with fixed resources, for the client under test. */
class TinyAds {
  server = new grpc.Server();
  requests: DiscoveryRequest[] = [];
  private streams = new Set<AdsStream>();
  private nonce = 0;
  version = 1;
  constructor(public resources: Map<string, EnvoyResource[]>) {
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: AdsStream) => {
        this.streams.add(call);
        const sent = new Map<string, number>();
        call.on('data', (req: DiscoveryRequest) => {
          this.requests.push(req);
          const t = req.type_url ?? '';
          if (sent.get(t) !== this.version) { sent.set(t, this.version); this.sendType(call, t); }
        });
        (call as unknown as { sent: Map<string, number> }).sent = sent;
        call.on('error', () => this.streams.delete(call));
        call.on('end', () => { this.streams.delete(call); call.end(); });
      },
    });
  }
  private sendType(call: AdsStream, t: string): void {
    const rs = this.resources.get(t);
    if (!rs) return;
    call.write({ version_info: String(this.version), type_url: t, nonce: String(++this.nonce), resources: rs.map((r) => encodeAny(t, r)) });
  }
  push(t: string, rs: EnvoyResource[]): void {
    this.version++;
    this.resources.set(t, rs);
    for (const s of this.streams) { (s as unknown as { sent: Map<string, number> }).sent.set(t, this.version); this.sendType(s, t); }
  }
  async start(port: number): Promise<void> {
    await new Promise<void>((res, rej) => this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  }
  stop(): void { this.server.forceShutdown(); }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let backend: Backend;
let ads: TinyAds;
let adsPort: number, listenPort: number;
let proxy: Proxy;
let client: XdsClient;

function goodRoutes(cluster: string): EnvoyResource[] {
  return [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster } }]) as EnvoyResource];
}

beforeAll(async () => {
  backend = await httpBackend('b');
  adsPort = await freePort();
  listenPort = await freePort();
  ads = new TinyAds(new Map<string, EnvoyResource[]>([
    [TYPE_URLS.listener, [httpListener('l', listenPort, 'r') as EnvoyResource]],
    [TYPE_URLS.route, goodRoutes('c')],
    [TYPE_URLS.cluster, [edsCluster('c') as EnvoyResource]],
    [TYPE_URLS.endpoint, [cla('c', [backend.port]) as EnvoyResource]],
  ]));
  await ads.start(adsPort);
  proxy = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1' });
  client = new XdsClient({
    address: `127.0.0.1:${adsPort}`, node: { id: 'sidecar~127.0.0.1~p.ns~ns.svc.cluster.local' }, logger: silentLogger(),
    onConfig: (cfg) => proxy.apply(cfg), backoff: { initialMs: 100, maxMs: 400 },
  });
  client.start();
});

afterAll(async () => {
  client.close();
  ads.stop();
  await proxy.close();
  await backend.close();
});

describe('xDS client against a local ADS server', () => {
  it('subscribes LDS+CDS, follows to RDS+EDS, ACKs and serves', async () => {
    await until(() => proxy.listenerPort('l') !== undefined && proxy.config.endpoints.has('c') && proxy.config.routes.has('r'));
    expect((await request(listenPort, '/x')).status).toBe(200);
    const types = new Set(ads.requests.map((r) => r.type_url));
    expect(types).toEqual(new Set([TYPE_URLS.listener, TYPE_URLS.cluster, TYPE_URLS.route, TYPE_URLS.endpoint]));
    expect(ads.requests[0]!.node?.id).toContain('sidecar~');
    const acks = ads.requests.filter((r) => r.response_nonce && !r.error_detail);
    expect(acks.length).toBeGreaterThanOrEqual(4);
    expect(ads.requests.find((r) => r.type_url === TYPE_URLS.route)?.resource_names).toEqual(['r']);
  });

  it('NACKs a bad RouteConfiguration with a useful error and keeps the last good one', async () => {
    const badVersion = ads.version + 1;
    ads.push(TYPE_URLS.route, [routeConfig('r', [{ match: { safe_regex: { regex: '([' } }, route: { cluster: 'c' } }]) as EnvoyResource]);
    await until(() => ads.requests.some((r) => r.type_url === TYPE_URLS.route && r.error_detail?.message));
    const nack = ads.requests.find((r) => r.type_url === TYPE_URLS.route && r.error_detail?.message)!;
    expect(nack.error_detail!.message).toContain('invalid regex');
    expect(nack.version_info).not.toBe(String(badVersion)); // the last good version, not the rejected one
    expect(client.lastNack.get(TYPE_URLS.route)?.version).toBe(String(badVersion));
    expect((await request(listenPort, '/x')).status).toBe(200);
  });

  it('applies a good update after a NACK', async () => {
    ads.push(TYPE_URLS.route, goodRoutes('c'));
    await until(() => !client.lastNack.has(TYPE_URLS.route));
    expect((await request(listenPort, '/x')).status).toBe(200);
  });

  it('warms a new cluster: routes switch to it only once its endpoints arrive (no 503 UH window)', async () => {
    const b2 = await httpBackend('b2');
    try {
      ads.push(TYPE_URLS.cluster, [edsCluster('c') as EnvoyResource, edsCluster('c2') as EnvoyResource]);
      await until(() => ads.requests.some((r) => r.type_url === TYPE_URLS.endpoint && (r.resource_names ?? []).includes('c2')));
      ads.push(TYPE_URLS.route, goodRoutes('c2')); // the route arrives before c2's EDS, as it can from a real server
      const routeVersion = String(ads.version);
      await until(() => ads.requests.some((r) => r.type_url === TYPE_URLS.route && r.version_info === routeVersion)); // ACKed
      const held = await Promise.all(Array.from({ length: 20 }, () => request(listenPort, '/warm')));
      expect(held.map((r) => `${r.status} ${String(r.headers['x-backend'])}`)).toEqual(Array(20).fill('200 b'));
      ads.push(TYPE_URLS.endpoint, [cla('c', [backend.port]) as EnvoyResource, cla('c2', [b2.port]) as EnvoyResource]);
      await until(() => proxy.config.endpoints.has('c2'));
      expect((await request(listenPort, '/warm')).headers['x-backend']).toBe('b2');
    } finally {
      ads.push(TYPE_URLS.route, goodRoutes('c'));
      for (let i = 0; i < 100 && (await request(listenPort, '/back')).headers['x-backend'] !== 'b'; i++) await new Promise((r) => setTimeout(r, 20));
      await b2.close();
    }
  });

  it('keeps serving while the control plane is down, then reconnects', async () => {
    ads.stop();
    await until(() => !client.connected);
    let failed = 0;
    for (let i = 0; i < 100; i++) if ((await request(listenPort, `/down${i}`)).status !== 200) failed++;
    expect(failed).toBe(0);
    const before = ads.requests.length;
    ads = Object.assign(new TinyAds(ads.resources), {});
    await ads.start(adsPort);
    await until(() => client.connected && ads.requests.length > 0, 10_000);
    expect(ads.requests.length).toBeGreaterThan(0);
    expect(before).toBeGreaterThan(0);
    // The reconnect announces the versions it already has.
    expect(ads.requests.find((r) => r.type_url === TYPE_URLS.listener)?.version_info).not.toBe('');
  });
});

describe('backoff', () => {
  it('is jittered exponential from 0.5 s up to 30 s', () => {
    expect(backoffDelayMs(0, 0)).toBe(250);
    expect(backoffDelayMs(0, 0.999)).toBeLessThanOrEqual(500);
    expect(backoffDelayMs(3, 1)).toBe(4000);
    expect(backoffDelayMs(20, 1)).toBe(30_000);
    expect(backoffDelayMs(20, 0)).toBe(15_000);
  });
});
