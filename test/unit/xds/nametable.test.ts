import { describe, expect, it } from '@jest/globals';
import { buildNameTable, buildResources } from '../../../src/xds/translate/index.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { emptyModel, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import { decodeResource, NAME_TABLE_RESOURCE, TYPE_URLS, encodeResource } from '../../../src/envoy/index.js';

function model(): MeshModel {
  const m = emptyModel();
  m.services = [
    { hostname: 'web.shop.svc.cluster.local', name: 'web', namespace: 'shop', addresses: ['10.96.0.5'], ports: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    { hostname: 'hidden.ops.svc.cluster.local', name: 'hidden', namespace: 'ops', addresses: ['10.96.0.6'], exportTo: ['.'], ports: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    { hostname: '*.wild.example', name: '*.wild.example', namespace: 'shop', addresses: ['240.0.0.9'], external: true, ports: [{ name: 'https', port: 443, protocol: 'HTTPS' }] },
  ];
  return m;
}
const sidecar = (namespace: string): ProxyContext => ({ flavour: 'sidecar', namespace, labels: {} });

describe('NDS name table', () => {
  it('scopes names like clusters and gives the bare short name only in the own namespace', () => {
    const shop = buildNameTable(model(), sidecar('shop'))['table'] as Record<string, { alt_hosts?: string[] }>;
    expect(Object.keys(shop)).toEqual(['web.shop.svc.cluster.local']); // hidden is exportTo "."; wildcards are not names
    expect(shop['web.shop.svc.cluster.local']!.alt_hosts).toEqual(['web', 'web.shop', 'web.shop.svc']);
    const ops = buildNameTable(model(), sidecar('ops'))['table'] as Record<string, { alt_hosts?: string[] }>;
    expect(Object.keys(ops).sort()).toEqual(['hidden.ops.svc.cluster.local', 'web.shop.svc.cluster.local']);
    expect(ops['web.shop.svc.cluster.local']!.alt_hosts).toEqual(['web.shop', 'web.shop.svc']);
  });

  it('goes to sidecars only, as one resource that encodes to Istio\'s NameTable and back', () => {
    expect(buildResources(model(), { flavour: 'gateway', namespace: 'shop', labels: {} }).nameTables).toBeUndefined();
    const res = buildResources(model(), sidecar('shop'));
    const snap = makeSnapshot('t', res);
    expect([...snap.types.get(TYPE_URLS.nameTable)!.byName.keys()]).toEqual([NAME_TABLE_RESOURCE]);
    const table = res.nameTables![0]!;
    expect(decodeResource(TYPE_URLS.nameTable, encodeResource(TYPE_URLS.nameTable, table))).toEqual(table);
    expect(() => encodeResource(TYPE_URLS.nameTable, { table: { a: { ips: [], bogus: 1 } } })).toThrow(/unknown field/);
  });
});
