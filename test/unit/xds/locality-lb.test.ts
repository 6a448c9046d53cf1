// Istio's localityLbSetting translated per proxy: failover priorities, failoverPriority labels
// and distribute weights in the ClusterLoadAssignment, locality-weighted LB on the cluster.
import { describe, expect, it } from '@jest/globals';
import type { DestinationRule } from '../../../src/api/istio/types.js';
import { emptyModel, type Endpoint, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import { buildEndpoints } from '../../../src/xds/translate/endpoints.js';
import { buildClusters } from '../../../src/xds/translate/clusters.js';
import { distributeWeights, failoverPriority, labelPriority, localityMatches, localityPriority, modelUsesLocality } from '../../../src/xds/translate/locality.js';
import { nodeInfo, proxyContextFor, translationKey } from '../../../src/xds/registry/node.js';

const HOST = 'reviews.default.svc.cluster.local';

function ep(address: string, region: string, zone: string, labels: Record<string, string> = {}): Endpoint {
  return { hostname: HOST, portName: 'http', address, port: 9080, labels, healthy: true, locality: { region, zone } };
}

function model(dr: DestinationRule['spec'] | undefined, eps: Endpoint[]): MeshModel {
  const m = emptyModel();
  m.services.push({ hostname: HOST, name: 'reviews', namespace: 'default', addresses: ['10.0.0.1'], ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }] });
  m.endpoints.push(...eps);
  if (dr) m.destinationRules.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'default' }, spec: { host: 'reviews', ...dr } });
  return m;
}

const proxy = (locality?: ProxyContext['locality'], labels: Record<string, string> = {}): ProxyContext =>
  ({ flavour: 'sidecar', namespace: 'default', labels, ...(locality ? { locality } : {}) });

interface Cla { endpoints: { locality: { region?: string; zone?: string }; priority?: number; load_balancing_weight: { value: number }; lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] }

function cla(m: MeshModel, p: ProxyContext): Cla {
  return buildEndpoints(m, p).find((r) => r['cluster_name'] === `outbound|9080||${HOST}`) as unknown as Cla;
}

function priorities(c: Cla): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of c.endpoints) for (const e of g.lb_endpoints) out[e.endpoint.address.socket_address.address] = g.priority ?? 0;
  return out;
}

const eps = [ep('10.0.1.1', 'east', 'a'), ep('10.0.1.2', 'east', 'b'), ep('10.0.2.1', 'west', 'c'), ep('10.0.3.1', 'north', 'd')];
const outlier = { outlierDetection: { consecutive5xxErrors: 3 } };

describe('locality matching (Istio)', () => {
  it('matches region/zone/subzone patterns with * wildcards', () => {
    expect(localityMatches({ region: 'east', zone: 'a' }, 'east/*')).toBe(true);
    expect(localityMatches({ region: 'east', zone: 'a' }, 'east/a/*')).toBe(true);
    expect(localityMatches({ region: 'east', zone: 'a' }, 'east/b')).toBe(false);
    expect(localityMatches({ region: 'east', zone: 'a' }, '*')).toBe(true);
    expect(localityMatches(undefined, 'east')).toBe(false);
  });
  it('priorities: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere; failover region 3, the rest 4', () => {
    const me = { region: 'east', zone: 'a', subZone: 's' };
    expect(localityPriority(me, { region: 'east', zone: 'a', subZone: 's' })).toBe(0);
    expect(localityPriority(me, { region: 'east', zone: 'a' })).toBe(1);
    expect(localityPriority(me, { region: 'east', zone: 'b' })).toBe(2);
    expect(localityPriority(me, { region: 'west' })).toBe(3);
    const fo = [{ from: 'east', to: 'west' }];
    expect(failoverPriority(me, { region: 'west' }, fo)).toBe(3);
    expect(failoverPriority(me, { region: 'north' }, fo)).toBe(4);
  });
});

describe('EDS per proxy', () => {
  it('no DestinationRule, or no proxy locality: every endpoint at priority 0', () => {
    expect(Object.values(priorities(cla(model(undefined, eps), proxy({ region: 'east', zone: 'a' }))))).toEqual([0, 0, 0, 0]);
    expect(Object.values(priorities(cla(model({ trafficPolicy: outlier }, eps), proxy())))).toEqual([0, 0, 0, 0]);
  });

  it('outlierDetection turns on locality failover by default (Istio), priorities compacted without gaps', () => {
    expect(priorities(cla(model({ trafficPolicy: outlier }, eps), proxy({ region: 'east', zone: 'a' })))).toEqual({
      '10.0.1.1': 0, '10.0.1.2': 1, '10.0.2.1': 2, '10.0.3.1': 2,
    });
  });

  it('failover prefers the named region over the others', () => {
    const dr = { trafficPolicy: { ...outlier, loadBalancer: { localityLbSetting: { failover: [{ from: 'east', to: 'north' }] } } } };
    expect(priorities(cla(model(dr, eps), proxy({ region: 'east', zone: 'a' })))).toEqual({
      '10.0.1.1': 0, '10.0.1.2': 1, '10.0.3.1': 2, '10.0.2.1': 3,
    });
  });

  it('enabled: false turns it off', () => {
    const dr = { trafficPolicy: { ...outlier, loadBalancer: { localityLbSetting: { enabled: false } } } };
    expect(Object.values(priorities(cla(model(dr, eps), proxy({ region: 'east', zone: 'a' }))))).toEqual([0, 0, 0, 0]);
  });

  it('failoverPriority ranks by leading labels matched (topology keys compare localities)', () => {
    const labelled = [ep('10.0.1.1', 'east', 'a', { net: 'n1' }), ep('10.0.1.2', 'east', 'b', { net: 'n2' }), ep('10.0.2.1', 'west', 'c', { net: 'n1' })];
    const dr = { trafficPolicy: { ...outlier, loadBalancer: { localityLbSetting: { failoverPriority: ['net', 'topology.kubernetes.io/region'] } } } };
    expect(priorities(cla(model(dr, labelled), proxy({ region: 'east', zone: 'a' }, { net: 'n1' })))).toEqual({
      '10.0.1.1': 0, '10.0.2.1': 1, '10.0.1.2': 2,
    });
    expect(labelPriority(['net'], proxy(undefined, {}), labelled[0]!)).toBe(1); // proxy lacks the label
  });

  it('distribute sets locality weights from the matching rule and drops unmatched localities; the cluster is locality-weighted', () => {
    const dr: DestinationRule['spec'] = { trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [
      { from: 'west/*', to: { 'west/*': 100 } },
      { from: 'east/*', to: { 'east/a': 80, 'west/*': 20 } },
    ] } } } };
    const m = model(dr, eps);
    const c = cla(m, proxy({ region: 'east', zone: 'a' }));
    expect(c.endpoints.map((g) => [g.locality.region, g.locality.zone, g.load_balancing_weight.value])).toEqual([['east', 'a', 80], ['west', 'c', 20]]);
    const cluster = buildClusters(m, proxy({ region: 'east', zone: 'a' })).find((x) => x['name'] === `outbound|9080||${HOST}`)!;
    expect(cluster['common_lb_config']).toEqual({ locality_weighted_lb_config: {} });
    // A proxy no rule speaks for keeps plain EDS.
    expect(cla(m, proxy({ region: 'north', zone: 'd' })).endpoints).toHaveLength(4);
  });

  it('distributeWeights splits a wildcard share by endpoint weight, rounding up', () => {
    const w = distributeWeights({ 'east/*': 100 }, [ep('1', 'east', 'a'), ep('2', 'east', 'a'), ep('3', 'east', 'b')]);
    expect([...w.entries()]).toEqual([['east/a/', 67], ['east/b/', 34]]);
  });
});

describe('proxy locality from the node', () => {
  it('node.locality reaches the ProxyContext and the translation key', () => {
    const info = nodeInfo({ id: 'sidecar~10.0.1.9~p.default~default.svc.cluster.local', locality: { region: 'east', zone: 'a', sub_zone: 's' } });
    const ctx = proxyContextFor(info, undefined);
    expect(ctx.locality).toEqual({ region: 'east', zone: 'a', subZone: 's' });
    const other = proxyContextFor(nodeInfo({ id: 'sidecar~10.0.1.9~p.default~default.svc.cluster.local', locality: { region: 'west' } }), undefined);
    expect(translationKey(ctx, new Set())).not.toBe(translationKey(other, new Set()));
  });
});

describe('modelUsesLocality', () => {
  it('is true only when some rule has outlierDetection or distribute (top level, port level or subset)', () => {
    expect(modelUsesLocality(model(undefined, eps))).toBe(false);
    expect(modelUsesLocality(model({ trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }, eps))).toBe(false);
    expect(modelUsesLocality(model({ trafficPolicy: outlier }, eps))).toBe(true);
    expect(modelUsesLocality(model({ subsets: [{ name: 'v1', trafficPolicy: outlier }] }, eps))).toBe(true);
    expect(modelUsesLocality(model({ trafficPolicy: { portLevelSettings: [{ port: { number: 9080 }, ...outlier }] } }, eps))).toBe(true);
    expect(modelUsesLocality(model({ trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: 'a/*', to: { 'a/*': 100 } }] } } } }, eps))).toBe(true);
  });
});
