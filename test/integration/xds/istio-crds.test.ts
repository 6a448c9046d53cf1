// The Istio CRDs apply to the real API server, and an Istio task YAML is accepted as a custom
// object in every served version (v1, v1beta1 and, for networking, v1alpha3).
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { clusterClients, createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';
import { ISTIO_VALIDATORS } from '../../../src/api/istio/validate.js';

const dir = path.join(process.cwd(), 'manifests/crds/istio');
const crds = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => loadYaml<V1CustomResourceDefinition>(fs.readFileSync(path.join(dir, f), 'utf8')));

// Istio's Bookinfo task objects (reviews 90/10, destination-rule-all entry, strict mTLS, allow GET).
const samples: Record<string, { spec: object }> = {
  VirtualService: { spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 10 }] }] } },
  // With the circuit-breaking task's trafficPolicy: fields under preserve-unknown-fields must
  // survive the API server's pruning (a CRD created through a typed client once lost them).
  DestinationRule: {
    spec: {
      host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }],
      trafficPolicy: {
        connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } },
        outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '3m', maxEjectionPercent: 100 },
      },
    },
  },
  Gateway: { spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } },
  ServiceEntry: { spec: { hosts: ['httpbin.org'], ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], resolution: 'DNS', location: 'MESH_EXTERNAL' } },
  PeerAuthentication: { spec: { mtls: { mode: 'STRICT' }, selector: { matchLabels: { app: 'reviews' } }, portLevelMtls: { '9080': { mode: 'DISABLE' } } } },
  AuthorizationPolicy: { spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] } },
  RequestAuthentication: { spec: { jwtRules: [{ issuer: 'testing@secure.istio.io', jwksUri: 'https://example.com/jwks.json' }] } },
};

describe('Istio CRDs on the real API server', () => {
  const clients = clusterClients();
  const created: string[] = [];
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace('xds-crd');
    created.push(...await ensureIstioCrds(clients));
  });

  afterAll(async () => {
    await ns?.cleanup();
    // Only the CRDs this test created; others may be in use by other suites.
    for (const name of created) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  });

  it('serves every kind with the same structural schema in every version', () => {
    expect(crds).toHaveLength(7);
    for (const crd of crds) {
      const schemas = crd.spec.versions.map((v) => JSON.stringify(v.schema));
      expect(new Set(schemas).size).toBe(1);
      expect(crd.spec.versions.filter((v) => v.storage)).toHaveLength(1);
    }
  });

  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    for (const v of crd.spec.versions) {
      it(`creates a ${kind} as ${crd.spec.group}/${v.name}`, async () => {
        const sample = samples[kind]!;
        expect(ISTIO_VALIDATORS[kind as keyof typeof ISTIO_VALIDATORS]({ ...sample })).toEqual([]);
        const name = `sample-${v.name}`;
        const body = { apiVersion: `${crd.spec.group}/${v.name}`, kind, metadata: { name, namespace: ns.name }, spec: sample.spec };
        await clients.custom.createNamespacedCustomObject({ group: crd.spec.group, version: v.name, namespace: ns.name, plural: crd.spec.names.plural, body });
        const got = (await clients.custom.getNamespacedCustomObject({ group: crd.spec.group, version: 'v1', namespace: ns.name, plural: crd.spec.names.plural, name })) as { spec: object };
        expect(got.spec).toEqual(sample.spec);
      });
    }
  }
});
