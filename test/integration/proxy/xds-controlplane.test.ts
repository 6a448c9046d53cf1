// The proxy's xDS client against the control plane's real ADS server (src/xds), with
// make-before-break snapshots: a route switch under load loses no request.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URLS, type EnvoyResource } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { AdsServer } from '../../../src/xds/server.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, request, type Backend } from './helpers.js';

const NODE = 'sidecar~127.0.0.1~app-1.demo~demo.svc.cluster.local';
let a: Backend, b: Backend;
let grpcServer: grpc.Server;
let ads: AdsServer;
const cache = new SnapshotCache();
let proxy: Proxy;
let client: XdsClient;
let port: number;
let adsPort: number;

function snapshot(label: string, cluster: string): ReturnType<typeof makeSnapshot> {
  return makeSnapshot(label, {
    listeners: [httpListener('l', port, 'r') as EnvoyResource],
    routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster } }]) as EnvoyResource],
    clusters: [edsCluster('a') as EnvoyResource, edsCluster('b') as EnvoyResource],
    endpoints: [cla('a', [a.port]) as EnvoyResource, cla('b', [b.port]) as EnvoyResource],
  });
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  a = await httpBackend('a');
  b = await httpBackend('b');
  port = await freePort();
  grpcServer = new grpc.Server();
  ads = new AdsServer({ cache, logger: silentLogger() });
  ads.register(grpcServer);
  adsPort = await new Promise<number>((res, rej) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  cache.setSnapshot(NODE, snapshot('v1', 'a'));
  proxy = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1' });
  client = new XdsClient({ address: `127.0.0.1:${adsPort}`, node: { id: NODE }, logger: silentLogger(), onConfig: (cfg) => proxy.apply(cfg) });
  client.start();
});

afterAll(async () => {
  client.close();
  grpcServer.forceShutdown();
  await proxy.close();
  await a.close();
  await b.close();
});

describe('xDS client against the control plane ADS server', () => {
  it('gets LDS/RDS/CDS/EDS and ACKs every type', async () => {
    await until(() => proxy.listenerPort('l') !== undefined && proxy.config.endpoints.has('a') && proxy.config.routes.has('r'));
    expect((await request(port, '/')).headers['x-backend']).toBe('a');
    await until(() => {
      const types = ads.status()[0]?.types ?? [];
      return [TYPE_URLS.listener, TYPE_URLS.route, TYPE_URLS.cluster, TYPE_URLS.endpoint].every((t) => {
        const s = types.find((x) => x.typeUrl === t);
        return s !== undefined && s.ackedVersion !== undefined && s.ackedVersion === s.sentVersion;
      });
    });
  });

  it('switches route a -> b under load with zero failed requests', async () => {
    let failed = 0;
    let total = 0;
    let stop = false;
    const seen = new Set<string>();
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop && total < 5000) {
        const r = await request(port, '/');
        total++;
        if (r.status !== 200) failed++; else seen.add(String(r.headers['x-backend']));
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    cache.setSnapshot(NODE, snapshot('v2', 'b'));
    await until(() => seen.has('b'));
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(loops);
    expect(failed).toBe(0);
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('is served again by a restarted ADS server (a new stream starts without the old nonces)', async () => {
    grpcServer.forceShutdown();
    await until(() => !client.connected);
    grpcServer = new grpc.Server();
    ads = new AdsServer({ cache, logger: silentLogger() });
    ads.register(grpcServer);
    await new Promise<number>((res, rej) => grpcServer.bindAsync(`127.0.0.1:${adsPort}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    await until(() => client.connected, 15_000);
    cache.setSnapshot(NODE, snapshot('v3', 'a'));
    await until(() => [...proxy.config.routes.values()].some((r) => JSON.stringify(r).includes('"a"')), 10_000);
    expect((await request(port, '/')).headers['x-backend']).toBe('a');
    await until(() => (ads.status()[0]?.types ?? []).every((t) => t.ackedVersion !== undefined && t.ackedVersion === t.sentVersion));
  });
});
