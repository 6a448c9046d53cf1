// Locality failover end to end: a ServiceEntry with a local (east/a) and a remote (west/b)
// endpoint on 127.0.0.1 and a DestinationRule with outlierDetection in the real API server;
// the real control plane; a Weft sidecar that declares node.locality east/a over ADS. Its
// outbound listener for port 80 is bound on 127.0.0.7:<free port> instead of being reached
// through capture. Traffic stays local, fails over to west/b once the local endpoint is
// ejected, and returns when the ejection ends.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, type ControlPlane } from '../../../src/xds/controlplane.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import type { ProxyConfig } from '../../../src/proxy/config/model.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';
import { freePort, httpBackend, type Backend } from './helpers.js';

const PROXY_ADDR = '127.0.0.7';

describe('locality failover through the control plane', () => {
  const clients = clusterClients();
  let createdCrds: string[] = [];
  let ns: TestNamespace;
  let cp: ControlPlane;
  let proxy: Proxy;
  let client: XdsClient;
  let local: Backend, remote: Backend;
  let localFailing = false;
  let port = 0;
  let host = '';

  function get(): Promise<string> {
    return new Promise((resolve, reject) => {
      const r = http.request({ host: PROXY_ADDR, port, path: '/', headers: { host }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-backend']) : `status-${res.statusCode ?? 0}`));
      });
      r.on('error', reject);
      r.end();
    });
  }

  async function answers(n: number): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) { const w = await get(); seen[w] = (seen[w] ?? 0) + 1; }
    return seen;
  }

  beforeAll(async () => {
    createdCrds = await ensureIstioCrds(clients);
    ns = await createTestNamespace('locality');
    host = `reviews.${ns.name}.weft.test`;
    local = await httpBackend('local', (req, res) => {
      req.resume();
      if (localFailing) { res.writeHead(503).end('down'); return; }
      res.writeHead(200, { 'x-backend': 'local' }).end('local');
    });
    remote = await httpBackend('remote', (req, res) => { req.resume(); res.writeHead(200, { 'x-backend': 'remote' }).end('remote'); });
    const create = (plural: string, body: object): Promise<unknown> =>
      clients.custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural, body });
    await create('serviceentries', {
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'reviews' },
      spec: {
        hosts: [host], location: 'MESH_EXTERNAL', resolution: 'STATIC',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        endpoints: [
          { address: '127.0.0.1', ports: { http: local.port }, locality: 'east/a' },
          { address: '127.0.0.1', ports: { http: remote.port }, locality: 'west/b' },
        ],
      },
    });
    await create('destinationrules', {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews' },
      spec: {
        host,
        trafficPolicy: {
          tls: { mode: 'DISABLE' },
          outlierDetection: { consecutive5xxErrors: 2, interval: '100ms', baseEjectionTime: '1s', maxEjectionPercent: 100 },
          loadBalancer: { localityLbSetting: { enabled: true } },
        },
      },
    });
    cp = await startControlPlane({ kubeClients: clients, logger: silentLogger(), xdsPort: 0, debounceMs: 50, syncTimeoutMs: 30_000, rootNamespace: `${ns.name}-root` });
    await waitFor('model with the ServiceEntry and DestinationRule', async () => {
      const m = cp.source.model();
      return m.services.some((s) => s.hostname === host) && m.destinationRules.some((d) => d.metadata.namespace === ns.name);
    }, 20_000);

    port = await freePort();
    proxy = new Proxy({ logger: silentLogger(), bindAddress: PROXY_ADDR });
    const remap = (cfg: ProxyConfig): ProxyConfig => {
      for (const [name, l] of cfg.listeners) {
        if (name === '0.0.0.0_80') { l.bindToPort = true; l.port = port; } else l.bindToPort = false;
      }
      return cfg;
    };
    client = new XdsClient({
      address: cp.address,
      node: { id: `sidecar~127.0.0.9~client-1.${ns.name}~${ns.name}.svc.cluster.local`, locality: { region: 'east', zone: 'a' } },
      logger: silentLogger(),
      onConfig: (cfg) => proxy.apply(remap(cfg)),
    });
    client.start();
    await waitFor('outbound listener bound with both endpoints', async () => {
      const eps = [...proxy.config.endpoints.values()].flat();
      return proxy.listenerPort('0.0.0.0_80') !== undefined && eps.filter((e) => e.port === local.port || e.port === remote.port).length === 2;
    }, 20_000, 50);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await cp?.close();
    await local?.close();
    await remote?.close();
    await ns?.cleanup();
    for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  }, 60_000);

  it('the control plane gives the local locality priority 0 and the remote one priority 1', () => {
    const eps = [...proxy.config.endpoints.values()].flat();
    expect(eps.find((e) => e.port === local.port)).toMatchObject({ locality: 'east/a/', priority: 0 });
    expect(eps.find((e) => e.port === remote.port)).toMatchObject({ locality: 'west/b/', priority: 1 });
  });

  it('sends everything to the local locality', async () => {
    expect(await answers(20)).toEqual({ local: 20 });
  });

  it('fails over to west/b when the local endpoint is ejected, and comes back', async () => {
    localFailing = true;
    // Istio's default route retry (503 is retriable, previous hosts avoided) already answers these
    // from west/b; the 5xx it saw eject the local endpoint.
    expect(Object.keys(await answers(4))).toEqual(['remote']);
    const localHits = local.hits;
    expect(await answers(20)).toEqual({ remote: 20 });
    expect(local.hits).toBe(localHits); // ejected: not even tried
    localFailing = false;
    await waitFor('traffic back on the local locality', async () => (await get()) === 'local', 10_000, 100);
    expect(await answers(20)).toEqual({ local: 20 });
  }, 20_000);
});
