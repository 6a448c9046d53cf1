// Locality failover on loopback: the local locality (priority 0, as the control plane renders
// it for this proxy) takes all traffic; when its endpoint is ejected by outlier detection, or
// removed from EDS, traffic fails over to the remote locality (priority 1), and comes back.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { buildProxyConfig, type ResourceSet } from '../../../src/proxy/config/snapshot.js';
import type { ClusterLoadAssignmentShape } from '../../../src/proxy/config/envoy-shapes.js';
import { edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { agent, freePort, httpBackend, request, startProxy, type Backend } from './helpers.js';
import { decodeResource, encodeResource, TYPE_URLS } from '../../../src/envoy/index.js';
import { emptyModel, type MeshModel } from '../../../src/xds/model.js';
import { buildClusters } from '../../../src/xds/translate/clusters.js';
import { buildEndpoints } from '../../../src/xds/translate/endpoints.js';
import type { DestinationRule } from '../../../src/api/istio/types.js';
import type { ClusterShape } from '../../../src/proxy/config/envoy-shapes.js';

let local: Backend, remote: Backend;
let localFailing = false;
let proxy: Proxy;
let port: number;

function assignment(withLocal: boolean): ClusterLoadAssignmentShape {
  const at = (p: number) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } });
  return {
    cluster_name: 'svc',
    endpoints: [
      ...(withLocal ? [{ locality: { region: 'east', zone: 'a' }, lb_endpoints: [at(local.port)] }] : []),
      { locality: { region: 'west', zone: 'b' }, priority: withLocal ? 1 : 0, lb_endpoints: [at(remote.port)] },
    ],
  };
}

function resources(withLocal: boolean): ResourceSet {
  return {
    listeners: [httpListener('http', port, 'r')],
    routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster: 'svc' } }])],
    clusters: [edsCluster('svc', {
      outlier_detection: { consecutive_5xx: { value: 3 }, interval: { nanos: 100_000_000 }, base_ejection_time: { nanos: 600_000_000 }, max_ejection_percent: { value: 100 } },
    })],
    endpoints: [assignment(withLocal)],
  };
}

async function whoAnswers(n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(port, '/');
    const who = r.status === 200 ? (r.headers['x-backend'] as string) : `status-${r.status}`;
    seen[who] = (seen[who] ?? 0) + 1;
  }
  return seen;
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

beforeAll(async () => {
  local = await httpBackend('local', (req, res) => {
    req.resume();
    if (localFailing) { res.writeHead(503).end('down'); return; }
    res.writeHead(200, { 'x-backend': 'local' }).end('local');
  });
  remote = await httpBackend('remote', (req, res) => { req.resume(); res.writeHead(200, { 'x-backend': 'remote' }).end('remote'); });
  port = await freePort();
  proxy = await startProxy(resources(true));
});

afterAll(async () => {
  agent.destroy();
  await proxy.close();
  await local.close();
  await remote.close();
});

describe('locality failover (priorities + outlier detection)', () => {
  it('sends everything to the local locality while it is healthy', async () => {
    expect(await whoAnswers(30)).toEqual({ local: 30 });
  });

  it('fails over to the remote locality once the local endpoint is ejected', async () => {
    localFailing = true;
    const first = await whoAnswers(3); // the 3 consecutive 5xx that eject it
    expect(first).toEqual({ 'status-503': 3 });
    expect(await whoAnswers(30)).toEqual({ remote: 30 });
  });

  it('comes back to the local locality when the ejection ends', async () => {
    localFailing = false;
    await waitFor(async () => (await whoAnswers(1))['local'] === 1, 5000);
    expect(await whoAnswers(30)).toEqual({ local: 30 });
  });

  it('fails over when the local endpoint is removed from EDS, and comes back when it returns', async () => {
    await proxy.apply(buildProxyConfig(resources(false)));
    expect(await whoAnswers(20)).toEqual({ remote: 20 });
    await proxy.apply(buildProxyConfig(resources(true)));
    expect(await whoAnswers(20)).toEqual({ local: 20 });
  });
});

// The same through the control plane's translation: a DestinationRule with outlierDetection
// (and, in the second case, distribute), EDS and CDS rendered for a proxy in east/a and
// round-tripped through protobuf, as the proxy would receive them over ADS.
describe('locality LB from a DestinationRule, translated for the proxy\'s locality', () => {
  const HOST = 'reviews.default.svc.cluster.local';
  const CLUSTER = `outbound|9080||${HOST}`;
  let own: Proxy;
  let ownPort = 0;

  function meshModel(spec: DestinationRule['spec']): MeshModel {
    const m = emptyModel();
    m.services.push({ hostname: HOST, name: 'reviews', namespace: 'default', addresses: ['10.0.0.1'], ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }] });
    m.endpoints.push(
      { hostname: HOST, portName: 'http', address: '127.0.0.1', port: local.port, labels: {}, healthy: true, locality: { region: 'east', zone: 'a' } },
      { hostname: HOST, portName: 'http', address: '127.0.0.1', port: remote.port, labels: {}, healthy: true, locality: { region: 'west', zone: 'b' } },
    );
    m.destinationRules.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec });
    return m;
  }

  async function applyTranslated(spec: DestinationRule['spec']): Promise<void> {
    const m = meshModel(spec);
    const ctx = { flavour: 'proxyless' as const, namespace: 'default', labels: {}, locality: { region: 'east', zone: 'a' } };
    const cla = buildEndpoints(m, ctx).find((r) => r['cluster_name'] === CLUSTER)!;
    const cluster = buildClusters(m, ctx).find((c) => c['name'] === CLUSTER)!;
    const viaProto = <T>(url: string, r: Record<string, unknown>): T => decodeResource(url, encodeResource(url, r)) as T;
    await own.apply(buildProxyConfig({
      listeners: [httpListener('http', ownPort, 'r')],
      routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }])],
      clusters: [viaProto<ClusterShape>(TYPE_URLS.cluster, cluster)],
      endpoints: [viaProto<ClusterLoadAssignmentShape>(TYPE_URLS.endpoint, cla)],
    }));
  }

  // A fresh proxy per case: host state (ejections) deliberately survives config updates.
  beforeEach(async () => {
    ownPort = await freePort();
    own = await startProxy({ listeners: [], routes: [], clusters: [], endpoints: [] });
  });
  afterEach(async () => { await own.close(); });

  async function answers(n: number): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await request(ownPort, '/');
      const who = r.status === 200 ? (r.headers['x-backend'] as string) : `status-${r.status}`;
      seen[who] = (seen[who] ?? 0) + 1;
    }
    return seen;
  }

  it('outlierDetection: local first, failover to the remote region on ejection', async () => {
    localFailing = false;
    await applyTranslated({ host: 'reviews', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 2, interval: '100ms', baseEjectionTime: '30s', maxEjectionPercent: 100 } } });
    expect(await answers(20)).toEqual({ local: 20 });
    localFailing = true;
    expect(await answers(2)).toEqual({ 'status-503': 2 });
    expect(await answers(20)).toEqual({ remote: 20 });
    localFailing = false;
  });

  it('distribute: 80/20 between the localities (within ±7% over 400 requests)', async () => {
    await applyTranslated({ host: 'reviews', trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: 'east/a/*', to: { 'east/a/*': 80, 'west/b/*': 20 } }] } } } });
    const seen = await answers(400);
    expect(((seen['local'] ?? 0) / 400) * 100).toBeGreaterThan(73);
    expect(((seen['local'] ?? 0) / 400) * 100).toBeLessThan(87);
    expect((seen['local'] ?? 0) + (seen['remote'] ?? 0)).toBe(400);
  }, 20_000);
});
