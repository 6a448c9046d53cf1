// The control plane against the real cluster: Service + Deployment (pods on kwok, EndpointSlices
// from the real controller-manager) and Istio VirtualService/DestinationRule flow through the
// registry, translation and ADS to a raw ADS client that connects as a sidecar.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, decodeAny, TYPE_URLS, type AdsClientStream, type DiscoveryResponse, type EnvoyResource } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, type ControlPlane } from '../../../src/xds/controlplane.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';

/** A raw state-of-the-world ADS client that ACKs everything and keeps the latest per type. */
class TestAdsClient {
  readonly latest = new Map<string, { version: string; resources: EnvoyResource[] }>();
  private readonly client: AdsClient;
  private readonly stream: AdsClientStream;
  private readonly names = new Map<string, string[]>();

  constructor(address: string, private readonly nodeId: string) {
    this.client = new AdsClient(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('data', (r: DiscoveryResponse) => this.onResponse(r));
    this.stream.on('error', () => undefined);
  }

  subscribe(typeUrl: string, names: string[] = []): void {
    this.names.set(typeUrl, names);
    this.stream.write({ node: { id: this.nodeId, cluster: 'test' }, type_url: typeUrl, resource_names: names });
  }

  private onResponse(r: DiscoveryResponse): void {
    const resources = r.resources.map((a) => decodeAny(a));
    this.latest.set(r.type_url, { version: r.version_info, resources });
    this.stream.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: this.names.get(r.type_url) ?? [] });
  }

  get(typeUrl: string): EnvoyResource[] {
    return this.latest.get(typeUrl)?.resources ?? [];
  }

  version(typeUrl: string): string | undefined {
    return this.latest.get(typeUrl)?.version;
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

function endpointIps(cla: EnvoyResource | undefined): string[] {
  const groups = (cla?.['endpoints'] as Array<{ lb_endpoints?: Array<{ endpoint: { address: { socket_address: { address: string } } } }> }> | undefined) ?? [];
  return groups.flatMap((g) => (g.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.address)).sort();
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('control plane on the real cluster (registry -> translate -> ADS)', () => {
  const clients = clusterClients();
  let createdCrds: string[] = [];
  let ns: TestNamespace;
  let cp: ControlPlane;
  let ads: TestAdsClient;
  let host = '';
  let cluster = '';
  const nodeId = (): string => `sidecar~10.88.255.254~client.${ns.name}~${ns.name}.svc.cluster.local`;

  async function podIps(): Promise<string[]> {
    const list = await ns.clients.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=reviews' });
    return list.items
      .filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !p.metadata?.deletionTimestamp)
      .map((p) => p.status!.podIP!)
      .sort();
  }

  function cla(): EnvoyResource | undefined {
    return ads.get(TYPE_URLS.endpoint).find((c) => c['cluster_name'] === cluster);
  }

  beforeAll(async () => {
    createdCrds = await ensureIstioCrds(clients);
    ns = await createTestNamespace('xds-reg');
    host = `reviews.${ns.name}.svc.cluster.local`;
    cluster = `outbound|9080||${host}`;
    await ns.clients.core.createNamespacedService({
      namespace: ns.name,
      body: { metadata: { name: 'reviews' }, spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] } },
    });
    await ns.clients.apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'reviews-v1' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'reviews', version: 'v1' } },
          template: {
            metadata: { labels: { app: 'reviews', version: 'v1' } },
            spec: { serviceAccountName: 'default', containers: [{ name: 'reviews', image: 'reviews:v1', ports: [{ containerPort: 9080 }] }] },
          },
        },
      },
    });
    await waitFor('2 ready reviews pods', async () => ((await podIps()).length === 2 ? true : undefined), 90_000);
    cp = await startControlPlane({ kubeClients: clients, logger: silentLogger(), xdsPort: 0, host: '127.0.0.1', debugPort: 0, debounceMs: 50, syncTimeoutMs: 30_000 });
    ads = new TestAdsClient(cp.address, nodeId());
    ads.subscribe(TYPE_URLS.cluster);
    ads.subscribe(TYPE_URLS.listener);
  }, 180_000);

  afterAll(async () => {
    ads?.close();
    await cp?.close();
    await ns?.cleanup();
    for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  }, 60_000);

  it('serves the service cluster, the pod IPs as endpoints, and a route for the service', async () => {
    await waitFor('CDS with the reviews cluster', async () => ads.get(TYPE_URLS.cluster).some((c) => c['name'] === cluster), 20_000);
    const edsNames = ads.get(TYPE_URLS.cluster).filter((c) => c['type'] === 'EDS').map((c) => String(c['name']));
    ads.subscribe(TYPE_URLS.endpoint, edsNames);
    ads.subscribe(TYPE_URLS.route, ['9080']);
    const want = await podIps();
    await waitFor('EDS with the pod IPs', async () => JSON.stringify(endpointIps(cla())) === JSON.stringify(want), 20_000);
    const c = ads.get(TYPE_URLS.cluster).find((x) => x['name'] === cluster)!;
    // mTLS to the workload, with the SPIFFE id of its service account in the SAN match.
    expect(JSON.stringify(c['transport_socket'])).toContain(`spiffe://cluster.local/ns/${ns.name}/sa/default`);
    expect(ads.get(TYPE_URLS.listener).some((l) => l['name'] === '0.0.0.0_9080')).toBe(true);
    await waitFor('RDS 9080 with a reviews virtual host', async () => {
      const rc = ads.get(TYPE_URLS.route).find((r) => r['name'] === '9080');
      return JSON.stringify(rc ?? {}).includes(`"${host}:9080"`);
    }, 20_000);
  });

  it('pushes a new EDS version when the Deployment scales', async () => {
    const before = ads.version(TYPE_URLS.endpoint);
    await ns.clients.apps.replaceNamespacedDeploymentScale({ namespace: ns.name, name: 'reviews-v1', body: { metadata: { name: 'reviews-v1', namespace: ns.name }, spec: { replicas: 3 } } });
    const want = await waitFor('3 ready pods', async () => {
      const ips = await podIps();
      return ips.length === 3 ? ips : undefined;
    }, 90_000);
    await waitFor('EDS with 3 endpoints', async () => JSON.stringify(endpointIps(cla())) === JSON.stringify(want), 20_000);
    expect(ads.version(TYPE_URLS.endpoint)).not.toBe(before);
  });

  it('turns a DestinationRule + VirtualService into subset clusters and weighted routes, and pushes edits', async () => {
    await clients.custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: ns.name,
      plural: 'destinationrules',
      body: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
    });
    const vs = (w1: number): object => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'reviews' },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: w1 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 100 - w1 }] }] },
    });
    await clients.custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural: 'virtualservices', body: vs(90) });
    const v1Cluster = `outbound|9080|v1|${host}`;
    await waitFor('subset clusters', async () => ads.get(TYPE_URLS.cluster).some((c) => c['name'] === v1Cluster), 20_000);
    ads.subscribe(TYPE_URLS.endpoint, ads.get(TYPE_URLS.cluster).filter((c) => c['type'] === 'EDS').map((c) => String(c['name'])));
    const weights = (): string => {
      const rc = ads.get(TYPE_URLS.route).find((r) => r['name'] === '9080');
      const vh = (rc?.['virtual_hosts'] as Array<{ name: string; routes: Array<{ route?: { weighted_clusters?: { clusters: Array<{ name: string; weight: { value: number } }> } } }> }> | undefined)?.find((v) => v.name === `${host}:9080`);
      const wc = vh?.routes[0]?.route?.weighted_clusters?.clusters ?? [];
      return wc.map((c) => `${c.name.split('|')[2]}=${c.weight.value}`).join(',');
    };
    await waitFor('90/10 route', async () => weights() === 'v1=90,v2=10', 20_000);
    await waitFor('v1 subset endpoints', async () => endpointIps(ads.get(TYPE_URLS.endpoint).find((c) => c['cluster_name'] === v1Cluster)).length === 3, 20_000);
    const before = ads.version(TYPE_URLS.route);
    const live = (await clients.custom.getNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural: 'virtualservices', name: 'reviews' })) as { metadata: { resourceVersion: string } };
    await clients.custom.replaceNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: ns.name,
      plural: 'virtualservices',
      name: 'reviews',
      body: { ...vs(50), metadata: { name: 'reviews', resourceVersion: live.metadata.resourceVersion } },
    });
    await waitFor('50/50 route', async () => weights() === 'v1=50,v2=50', 20_000);
    expect(ads.version(TYPE_URLS.route)).not.toBe(before);
  });

  it('reports the proxy as SYNCED in status() and /debug/syncz, and dumps its config', async () => {
    await waitFor('all types ACKed', async () => {
      const p = cp.status().proxies.find((x) => x.nodeId === nodeId());
      return p && p.types.length === 4 && p.types.every((t) => t.state === 'SYNCED');
    }, 10_000);
    const syncz = (await getJson(`http://${cp.debugAddress}/debug/syncz`)) as { proxies: Array<{ nodeId: string; flavour: string; types: Array<{ type: string; state: string }> }> };
    const me = syncz.proxies.find((p) => p.nodeId === nodeId())!;
    expect(me.flavour).toBe('sidecar');
    expect(me.types.map((t) => `${t.type}:${t.state}`).sort()).toEqual(['CDS:SYNCED', 'EDS:SYNCED', 'LDS:SYNCED', 'RDS:SYNCED']);
    const configz = (await getJson(`http://${cp.debugAddress}/debug/configz?proxyID=${encodeURIComponent(nodeId())}`)) as { resources: Record<string, Array<{ name?: string }>> };
    expect(configz.resources['CDS']!.some((c) => c.name === cluster)).toBe(true);
    const registryz = (await getJson(`http://${cp.debugAddress}/debug/registryz`)) as { synced: boolean; informers: Array<{ kind: string; synced: boolean }> };
    expect(registryz.synced).toBe(true);
    expect(registryz.informers.map((i) => i.kind).sort()).toEqual(
      ['AuthorizationPolicy', 'DestinationRule', 'EndpointSlice', 'Gateway', 'Namespace', 'Node', 'PeerAuthentication', 'Pod', 'RequestAuthentication', 'Service', 'ServiceEntry', 'VirtualService'].sort(),
    );
  });
});
