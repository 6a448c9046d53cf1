// The DNS proxy fed by the real registry: Services, a headless Service with kwok pods
// (EndpointSlices from the real controller-manager), a ServiceEntry and an ExternalName Service
// on the shared API server -> control plane (registry, NDS) -> runProxy's DNS proxy -> node:dns.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, type ControlPlane } from '../../../src/xds/controlplane.js';
import { runProxy, type RunningProxy } from '../../../src/proxy/command.js';
import type { ProxyBootstrap } from '../../../src/proxy/bootstrap.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';
import { freePort } from './helpers.js';
import { STUB_HOST, StubResolver } from './dns-stub.js';

const clients = clusterClients();
let createdCrds: string[] = [];
let ns: TestNamespace;
let cp: ControlPlane;
let stub: StubResolver;
let running: RunningProxy;
let resolver: Resolver;
let webIp = '';

async function readyPodIps(): Promise<string[]> {
  const list = await ns.clients.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=db' });
  return list.items
    .filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !p.metadata?.deletionTimestamp)
    .map((p) => p.status!.podIP!)
    .sort();
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined; } catch (e) { return (e as { code?: string }).code; }
}

beforeAll(async () => {
  createdCrds = await ensureIstioCrds(clients);
  ns = await createTestNamespace('dns-reg');
  const web = await ns.clients.core.createNamespacedService({
    namespace: ns.name, body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } },
  });
  webIp = web.spec!.clusterIP!;
  await ns.clients.core.createNamespacedService({
    namespace: ns.name, body: { metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'tcp', port: 5432 }] } },
  });
  await ns.clients.core.createNamespacedService({
    namespace: ns.name, body: { metadata: { name: 'legacy' }, spec: { type: 'ExternalName', externalName: 'legacy.example.test', ports: [{ name: 'http', port: 80 }] } },
  });
  await ns.clients.apps.createNamespacedDeployment({
    namespace: ns.name,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'db:1', ports: [{ containerPort: 5432 }] }] } },
      },
    },
  });
  await clients.custom.createNamespacedCustomObject({
    group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural: 'serviceentries',
    body: {
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'ext' },
      spec: { hosts: ['api.ext.test'], addresses: ['240.0.0.5'], location: 'MESH_EXTERNAL', resolution: 'STATIC', ports: [{ name: 'https', number: 443, protocol: 'HTTPS' }], endpoints: [{ address: '240.0.0.50' }] },
    },
  });
  await waitFor('2 ready db pods', async () => ((await readyPodIps()).length === 2 ? true : undefined), 90_000);
  stub = new StubResolver();
  await stub.start();
  cp = await startControlPlane({ kubeClients: clients, logger: silentLogger(), xdsPort: 0, host: '127.0.0.1', debounceMs: 50, syncTimeoutMs: 30_000 });
  const dnsPort = await freePort();
  const b: ProxyBootstrap = {
    mode: 'sidecar', nodeId: `sidecar~10.88.255.254~client.${ns.name}~${ns.name}.svc.cluster.local`, podName: 'client', namespace: ns.name, podIp: '10.88.255.254',
    serviceAccount: 'default', xdsAddress: cp.address, trustDomain: 'cluster.local', logLevel: 'silent', tracing: { samplingPercent: 1, endpoint: '', protocol: 'otlp' }, accessLog: false, caTokenFile: '/nonexistent', trustBundleFile: '/nonexistent',
    ports: { admin: await freePort(), health: await freePort() }, drainMs: 0, appProbes: new Map(),
    dns: { host: '127.0.0.1', port: dnsPort, resolvConfPath: '/nonexistent', upstreams: [{ address: STUB_HOST, port: stub.port }], clusterDomain: 'cluster.local', forwardTimeoutMs: 500 },
  };
  running = await runProxy(b, silentLogger());
  resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
}, 180_000);

afterAll(async () => {
  await running?.shutdown();
  await cp?.close();
  await stub?.close();
  await ns?.cleanup();
  for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
}, 60_000);

describe('DNS proxy with the real registry', () => {
  it('resolves a Service by short name, <name>.<ns> and FQDN to its ClusterIP', async () => {
    await waitFor('web in the name table', async () => (await resolver.resolve4('web').catch(() => [])).length > 0, 20_000);
    for (const name of ['web', `web.${ns.name}`, `web.${ns.name}.svc`, `web.${ns.name}.svc.cluster.local`]) {
      expect(await resolver.resolve4(name)).toEqual([webIp]);
    }
  });

  it('resolves a headless Service to its ready pod IPs', async () => {
    const want = await readyPodIps();
    await waitFor('db pod IPs', async () => JSON.stringify((await resolver.resolve4('db').catch(() => [])).sort()) === JSON.stringify(want), 20_000);
  });

  it('resolves a ServiceEntry host to its address, and forwards an ExternalName Service upstream', async () => {
    await waitFor('ServiceEntry host', async () => (await resolver.resolve4('api.ext.test').catch(() => [])).length > 0, 20_000);
    expect(await resolver.resolve4('api.ext.test')).toEqual(['240.0.0.5']);
    stub.names = [];
    expect(await errorCode(resolver.resolve4('legacy'))).toBe('ENOTFOUND'); // the stub's NXDOMAIN
    expect(stub.names).toEqual(['legacy']);
  });

  it('answers NXDOMAIN for a missing name in the namespace without asking the upstream', async () => {
    stub.names = [];
    expect(await errorCode(resolver.resolve4(`missing.${ns.name}.svc.cluster.local`))).toBe('ENOTFOUND');
    expect(stub.names).toEqual([]);
  });
});
