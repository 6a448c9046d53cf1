// Istio's "Egress Gateways" task on loopback: the control plane's real translation (ServiceEntry
// through the registry's conversion, Gateway, DestinationRule, VirtualService bound to
// [istio-egressgateway, mesh]) served over ADS to two real proxies, a sidecar and a gateway.
// The "external" host is a loopback server (a STATIC ServiceEntry endpoint): nothing leaves 127/8.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { parseAllDocuments } from 'yaml';
import { silentLogger } from '../../../src/log/logger.js';
import { AdsServer } from '../../../src/xds/server.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { buildResources } from '../../../src/xds/translate/index.js';
import { emptyModel, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import { fromServiceEntry } from '../../../src/xds/registry/convert.js';
import type { DestinationRule, Gateway, ServiceEntry, VirtualService } from '../../../src/api/istio/types.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import type { ProxyConfig } from '../../../src/proxy/config/model.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import { freePort, httpBackend, request, type Backend } from './helpers.js';

const SIDECAR_NODE = 'sidecar~127.0.0.1~sleep-1.default~default.svc.cluster.local';
const GATEWAY_NODE = 'router~127.0.0.2~istio-egressgateway-1.istio-system~istio-system.svc.cluster.local';
/** The gateway proxy binds here, the sidecar on 127.0.0.1: both listen on the same port number. */
const GATEWAY_IP = '127.0.0.2';

/** The task's YAML; PORT is the mesh port (80 in the task), BACKEND the loopback "external" server. */
function taskYaml(port: number, backendPort: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: cnn, namespace: default }
spec:
  hosts: [edition.cnn.com]
  ports: [{ number: ${port}, name: http-port, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1, ports: { http-port: ${backendPort} } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: istio-egressgateway, namespace: default }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: ${port}, name: http, protocol: HTTP }, hosts: [edition.cnn.com] }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: egressgateway-for-cnn, namespace: default }
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets: [{ name: cnn }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: direct-cnn-through-egress-gateway, namespace: default }
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{ gateways: [mesh], port: ${port} }]
    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: { number: ${port} } }, weight: 100 }]
  - match: [{ gateways: [istio-egressgateway], port: ${port} }]
    route: [{ destination: { host: edition.cnn.com, port: { number: ${port} } }, weight: 100 }]
`;
}

function meshModel(port: number, backendPort: number, policy: 'ALLOW_ANY' | 'REGISTRY_ONLY'): MeshModel {
  const m = emptyModel();
  m.outboundTrafficPolicy = policy;
  const docs = parseAllDocuments(taskYaml(port, backendPort)).map((d) => d.toJS() as { kind: string });
  for (const d of docs) {
    if (d.kind === 'ServiceEntry') {
      m.serviceEntries.push(d as unknown as ServiceEntry);
      const r = fromServiceEntry(d as unknown as ServiceEntry, []);
      m.services.push(...r.services);
      m.endpoints.push(...r.endpoints);
    } else if (d.kind === 'Gateway') m.gateways.push(d as unknown as Gateway);
    else if (d.kind === 'DestinationRule') m.destinationRules.push(d as unknown as DestinationRule);
    else m.virtualServices.push(d as unknown as VirtualService);
  }
  // The egress gateway's Service and its one pod, as the registry sees them.
  const host = 'istio-egressgateway.istio-system.svc.cluster.local';
  m.services.push({ hostname: host, name: 'istio-egressgateway', namespace: 'istio-system', addresses: [], ports: [{ name: 'http2', port, protocol: 'HTTP2' }] });
  m.endpoints.push({
    hostname: host, portName: 'http2', address: GATEWAY_IP, port, labels: { istio: 'egressgateway' }, healthy: true,
    namespace: 'istio-system', serviceAccount: 'istio-egressgateway-service-account',
  });
  return m;
}

const SIDECAR: ProxyContext = { flavour: 'sidecar', namespace: 'default', labels: { app: 'sleep' }, ip: '127.0.0.1', serviceAccount: 'sleep' };
const GATEWAY: ProxyContext = { flavour: 'gateway', namespace: 'istio-system', labels: { istio: 'egressgateway' }, ip: GATEWAY_IP, serviceAccount: 'istio-egressgateway-service-account' };

function snapshotFor(label: string, model: MeshModel, proxy: ProxyContext): ReturnType<typeof makeSnapshot> {
  return makeSnapshot(label, buildResources(model, proxy));
}

/**
 * Only the listener on the task's port binds: the others (15001, 15006, ...) are fixed ports another
 * test may hold. The sidecar's outbound listener (bind_to_port false, reached through capture) binds
 * directly, standing in for the iptables redirect.
 */
function bindTaskPortOnly(cfg: ProxyConfig): ProxyConfig {
  for (const [name, l] of cfg.listeners) l.bindToPort = name === `0.0.0.0_${port}`;
  return cfg;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let external: Backend;
let port: number;
let grpcServer: grpc.Server;
const cache = new SnapshotCache();
const proxies: Proxy[] = [];
const clients: XdsClient[] = [];
let sidecar: Proxy;
let gateway: Proxy;

function connect(node: string, bindAddress: string, adsPort: number): Proxy {
  const p = new Proxy({ logger: silentLogger(), bindAddress });
  const c = new XdsClient({ address: `127.0.0.1:${adsPort}`, node: { id: node }, logger: silentLogger(), onConfig: (cfg) => p.apply(bindTaskPortOnly(cfg)) });
  c.start();
  proxies.push(p);
  clients.push(c);
  return p;
}

function serve(label: string, policy: 'ALLOW_ANY' | 'REGISTRY_ONLY'): void {
  const model = meshModel(port, external.port, policy);
  cache.setSnapshot(SIDECAR_NODE, snapshotFor(label, model, SIDECAR));
  cache.setSnapshot(GATEWAY_NODE, snapshotFor(label, model, GATEWAY));
}

/** Requests through the gateway's listener, read from its stats (reporter="source" on the way out). */
function gatewayRequests(): number {
  return gateway.stats.sum('istio_requests_total', { destination_service: `outbound|${port}||edition.cnn.com` });
}

beforeAll(async () => {
  external = await httpBackend('edition.cnn.com');
  port = await freePort();
  grpcServer = new grpc.Server();
  new AdsServer({ cache, logger: silentLogger() }).register(grpcServer);
  const adsPort = await new Promise<number>((res, rej) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  serve('v1', 'ALLOW_ANY');
  sidecar = connect(SIDECAR_NODE, '127.0.0.1', adsPort);
  gateway = connect(GATEWAY_NODE, GATEWAY_IP, adsPort);
  await until(() => sidecar.listenerPort(`0.0.0.0_${port}`) !== undefined && gateway.listenerPort(`0.0.0.0_${port}`) !== undefined);
});

afterAll(async () => {
  for (const c of clients) c.close();
  grpcServer.forceShutdown();
  for (const p of proxies) await p.close();
  await external.close();
});

describe('egress gateway (Istio task) on loopback', () => {
  it('sends the sidecar\'s request for the external host through the egress gateway to the external server', async () => {
    const before = external.hits;
    for (let i = 0; i < 5; i++) {
      const r = await request(port, '/politics', { host: 'edition.cnn.com' });
      expect(r.status).toBe(200);
      expect(r.headers['x-backend']).toBe('edition.cnn.com');
      expect((JSON.parse(r.body) as { url: string }).url).toBe('/politics');
    }
    expect(external.hits - before).toBe(5);
    expect(gatewayRequests()).toBe(5);
    // The sidecar's leg went to the gateway's cnn subset.
    expect(sidecar.stats.sum('istio_requests_total', { destination_service: `outbound|${port}|cnn|istio-egressgateway.istio-system.svc.cluster.local` })).toBe(5);
  });

  it('does not serve the external host on the gateway for other hosts', async () => {
    const r = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ default: http }) => {
        http.get({ host: GATEWAY_IP, port, path: '/', headers: { host: 'other.example' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
      }, reject);
    });
    expect(r).toBe(404);
  });

  it('with REGISTRY_ONLY refuses a host that is not registered, and still routes the ServiceEntry host', async () => {
    serve('v2', 'REGISTRY_ONLY');
    await until(() => [...sidecar.config.routes.values()].some((t) => JSON.stringify(t).includes('block_all')));
    const hits = external.hits;
    const refused = await request(port, '/', { host: 'not-registered.example' });
    expect(refused.status).toBe(502);
    expect(external.hits).toBe(hits);
    const ok = await request(port, '/', { host: 'edition.cnn.com' });
    expect(ok.status).toBe(200);
    expect(external.hits).toBe(hits + 1);
  });
});
