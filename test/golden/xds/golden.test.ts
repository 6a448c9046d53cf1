// Golden translation tests: Istio YAML (as in Istio's tasks) + a model -> Envoy resources.
// Each case folder holds input.yaml (Istio objects; an optional first `model:` document
// overrides the shared Bookinfo model) and expected.json. WEFT_UPDATE_GOLDEN=1 rewrites them.
import { describe, it, expect } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { buildResources } from '../../../src/xds/translate/index.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { buildCluster, buildEndpoints, buildListener, buildRouteTable } from '../../../src/proxy/config/build.js';
import { detectProtocol, emptyModel, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import type { EnvoyResource } from '../../../src/envoy/index.js';

const dir = path.join(process.cwd(), 'test/golden/xds/testdata');

interface ModelDoc {
  domain?: string;
  rootNamespace?: string;
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  proxy: ProxyContext;
  services: { name: string; namespace: string; addresses?: string[]; ports: { name: string; port: number; targetPort?: number; appProtocol?: string }[]; headless?: boolean; exportTo?: string[]; external?: boolean; resolution?: 'DNS'; hostname?: string }[];
  endpoints: { service: string; namespace?: string; portName?: string; address: string; port: number; labels?: Record<string, string>; serviceAccount?: string; zone?: string; healthy?: boolean }[];
}

function toModel(doc: ModelDoc, objects: Record<string, unknown>[]): MeshModel {
  const m = emptyModel(doc.domain ?? 'cluster.local');
  if (doc.rootNamespace) m.rootNamespace = doc.rootNamespace;
  if (doc.outboundTrafficPolicy) m.outboundTrafficPolicy = doc.outboundTrafficPolicy;
  m.services = doc.services.map((s) => ({
    hostname: s.hostname ?? `${s.name}.${s.namespace}.svc.${m.domain}`,
    name: s.name,
    namespace: s.namespace,
    addresses: s.addresses ?? [],
    headless: s.headless,
    exportTo: s.exportTo,
    external: s.external,
    resolution: s.resolution,
    ports: s.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: detectProtocol(p.name, p.appProtocol) })),
  }));
  m.endpoints = doc.endpoints.map((e) => {
    const ns = e.namespace ?? 'default';
    const svc = doc.services.find((s) => s.name === e.service && s.namespace === ns)!;
    return {
      hostname: svc.hostname ?? `${e.service}.${ns}.svc.${m.domain}`,
      portName: e.portName ?? svc.ports[0]!.name,
      address: e.address,
      port: e.port,
      labels: e.labels ?? {},
      locality: { region: 'r1', zone: e.zone ?? 'z1' },
      healthy: e.healthy ?? true,
      serviceAccount: e.serviceAccount,
      namespace: ns,
    };
  });
  for (const o of objects) {
    const kind = o['kind'] as string;
    const meta = (o['metadata'] ?? {}) as Record<string, unknown>;
    if (!meta['namespace']) meta['namespace'] = 'default';
    o['metadata'] = meta;
    const key = ({
      VirtualService: 'virtualServices',
      DestinationRule: 'destinationRules',
      Gateway: 'gateways',
      ServiceEntry: 'serviceEntries',
      PeerAuthentication: 'peerAuthentications',
      AuthorizationPolicy: 'authorizationPolicies',
      RequestAuthentication: 'requestAuthentications',
    } as Record<string, keyof MeshModel>)[kind];
    if (!key) throw new Error(`unknown kind ${kind}`);
    (m[key] as unknown[]).push(o);
  }
  return m;
}

interface Selection {
  clusters?: string[];
  endpoints?: string[];
  listeners?: string[];
  routes?: string[];
  /** Include the NDS name table (sidecars only). */
  nameTable?: boolean;
}

function pick(list: readonly EnvoyResource[] | undefined, names: string[] | undefined, key = 'name'): EnvoyResource[] | undefined {
  if (!names) return undefined;
  return (list ?? []).filter((r) => names.includes(String(r[key])));
}

const cases = fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).sort();
const baseModel = parseAllDocuments(fs.readFileSync(path.join(dir, 'bookinfo-model.yaml'), 'utf8'))[0]!.toJS() as ModelDoc;

describe('xds golden translation', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of cases) {
    it(c, () => {
      const docs = parseAllDocuments(fs.readFileSync(path.join(dir, c, 'input.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
      let modelDoc = structuredClone(baseModel);
      let select: Selection = { routes: ['9080'] };
      const objects: Record<string, unknown>[] = [];
      for (const d of docs) {
        if (d['golden']) {
          const g = d['golden'] as { model?: Partial<ModelDoc>; select?: Selection };
          if (g.model) modelDoc = { ...modelDoc, ...g.model } as ModelDoc;
          if (g.select) select = g.select;
        } else objects.push(d);
      }
      const model = toModel(modelDoc, objects);
      const res = buildResources(model, modelDoc.proxy);
      // Every resource must encode (no unknown fields) and the snapshot must be consistent.
      expect(() => makeSnapshot(c, res)).not.toThrow();
      // ...and Weft's own proxy must accept it (a golden that a proxy NACKs is a bug, not a baseline).
      if ((modelDoc.proxy as { flavour?: string }).flavour !== 'proxyless') {
        for (const r of res.routes ?? []) expect(() => buildRouteTable(r as never)).not.toThrow();
        for (const l of res.listeners ?? []) expect(() => buildListener(l as never)).not.toThrow();
        for (const cl of res.clusters ?? []) expect(() => buildCluster(cl as never)).not.toThrow();
        for (const e of res.endpoints ?? []) expect(() => buildEndpoints(e as never)).not.toThrow();
      }
      const actual = JSON.parse(
        JSON.stringify({
          clusters: pick(res.clusters, select.clusters),
          endpoints: pick(res.endpoints, select.endpoints, 'cluster_name'),
          listeners: pick(res.listeners, select.listeners),
          routes: pick(res.routes, select.routes),
          nameTables: select.nameTable ? res.nameTables : undefined,
        }),
      ) as unknown;
      const expectedFile = path.join(dir, c, 'expected.json');
      if (process.env['WEFT_UPDATE_GOLDEN'] === '1') {
        fs.writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      }
      expect(actual).toEqual(JSON.parse(fs.readFileSync(expectedFile, 'utf8')));
    });
  }
});
