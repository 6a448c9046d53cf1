import { describe, it, expect } from '@jest/globals';
import { analyze, matchCovers, type Finding } from '../../../src/cli/analyze/analyzer.js';
import { CODES, ALL_CODES } from '../../../src/cli/analyze/codes.js';
import { registryFromObjects, resolveHost, type ConfigObject, type Registry } from '../../../src/cli/analyze/model.js';
import { parseManifests } from '../../../src/cli/manifests.js';

// A small world: reviews (v1 pods only, injected), ratings, an ingress gateway pod, one unmeshed pod.
const WORLD = `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: shop }
spec: { selector: { app: ratings }, ports: [{ port: 9080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-v1, namespace: shop, labels: { app: reviews, version: v1 }, annotations: { sidecar.weft.dev/status: '{"version":"0.1.0"}' } }
spec: { containers: [{ name: app }] }
---
apiVersion: v1
kind: Pod
metadata: { name: ratings-v1, namespace: shop, labels: { app: ratings }, annotations: { sidecar.weft.dev/status: '{"version":"0.1.0"}' } }
spec: { containers: [{ name: app }] }
---
apiVersion: v1
kind: Pod
metadata: { name: ingress-1, namespace: weft-system, labels: { istio: ingressgateway } }
spec: { containers: [{ name: weft-proxy }] }
`;

const UNMESHED = `
apiVersion: v1
kind: Pod
metadata: { name: legacy-client, namespace: shop, labels: { app: legacy } }
spec: { containers: [{ name: app }] }
`;

function world(extra = ''): Registry {
  return registryFromObjects(parseManifests(WORLD + (extra ? `---\n${extra}` : ''), 'world').map((m) => m.obj), 'default');
}

function run(yaml: string, reg: Registry = world()): Finding[] {
  const configs: ConfigObject[] = parseManifests(yaml, 'test.yaml').map((m) => ({ obj: m.obj, source: m.source }));
  return analyze(configs, reg, { defaultNamespace: 'shop' });
}

function codes(fs: Finding[]): string[] {
  return fs.map((f) => f.code);
}

const DR = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
`;

describe('analyze: clean config', () => {
  it('reports nothing for a correct VirtualService + DestinationRule', () => {
    const fs = run(`${DR}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match: [{ uri: { prefix: /v1 } }]
      route: [{ destination: { host: reviews, subset: v1 } }]
    - route: [{ destination: { host: reviews.shop.svc.cluster.local } }]
`);
    expect(fs).toEqual([]);
  });

  it('every code is unique and well-formed', () => {
    const all = ALL_CODES.map((c) => c.code);
    expect(new Set(all).size).toBe(all.length);
    for (const c of all) expect(c).toMatch(/^WEFT-A\d{4}$/);
  });
});

describe('analyze: one test per finding', () => {
  it('WEFT-A0001 destination host not found', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviewz } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.destinationHostNotFound.code]);
    expect(fs[0]?.path).toBe('spec.http[0].route[0].destination.host');
    expect(fs[0]?.message).toContain('reviewz.shop.svc.cluster.local');
  });

  it('A0001 is satisfied by a ServiceEntry (wildcard)', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: shop }
spec: { hosts: ['*.example.com'], ports: [{ number: 443, name: https, protocol: TLS }], resolution: DNS }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ext, namespace: shop }
spec: { hosts: [api.example.com], tls: [{ match: [{ sniHosts: [api.example.com] }], route: [{ destination: { host: api.example.com } }] }] }
`);
    expect(fs).toEqual([]);
  });

  it('WEFT-A0002 subset not defined', () => {
    const fs = run(`${DR}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v3 } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.subsetNotFound.code]);
    expect(fs[0]?.message).toContain('subset "v3"');
    expect(fs[0]?.message).toContain('defines v1');
  });

  it('WEFT-A0002 when no DestinationRule exists at all', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.subsetNotFound.code]);
    expect(fs[0]?.message).toContain('no DestinationRule exists');
  });

  it('WEFT-A0003 subset selecting no pods', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }
`);
    expect(codes(fs)).toEqual([CODES.subsetSelectsNoPods.code]);
    expect(fs[0]?.path).toBe('spec.subsets[1].labels');
  });

  it('WEFT-A0004 DestinationRule host not found', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: x, namespace: shop }
spec: { host: nothing-here }
`);
    expect(codes(fs)).toEqual([CODES.destinationRuleHostNotFound.code]);
  });

  it('WEFT-A0005 catch-all before a specific route', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route: [{ destination: { host: reviews } }]
    - name: api
      match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: ratings } }]
`);
    expect(codes(fs)).toEqual([CODES.routeShadowed.code]);
    expect(fs[0]?.message).toContain('"api" (http[1])');
  });

  it('WEFT-A0005 broader prefix before a narrower one', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: reviews } }]
    - match: [{ uri: { prefix: /api/v2 } }, { uri: { exact: /api/x } }]
      route: [{ destination: { host: ratings } }]
    - route: [{ destination: { host: reviews } }]
`);
    expect(codes(fs)).toEqual([CODES.routeShadowed.code]);
    expect(fs[0]?.path).toBe('spec.http[1]');
  });

  it('matchCovers is conservative about other conditions', () => {
    expect(matchCovers({ uri: { prefix: '/a' } }, { uri: { prefix: '/a/b' }, headers: { x: { exact: '1' } } })).toBe(true);
    expect(matchCovers({ uri: { prefix: '/a' }, headers: { x: { exact: '1' } } }, { uri: { prefix: '/a/b' } })).toBe(false);
    expect(matchCovers({ uri: { regex: '/a.*' } }, { uri: { prefix: '/a' } })).toBe(false);
  });

  it('WEFT-A0006 two mesh VirtualServices for one host', () => {
    const vs = (name: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }
`;
    const fs = run(`${vs('a')}---\n${vs('b')}`);
    expect(codes(fs)).toEqual([CODES.conflictingVirtualServices.code]);
    expect(fs[0]?.resource).toBe('b');
  });

  it('WEFT-A0007 Gateway selector matching no pod, WEFT-A0016 empty selector', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec: { selector: { istio: egressgateway }, servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ok, namespace: shop }
spec: { selector: { istio: ingressgateway }, servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: nosel, namespace: shop }
spec: { servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }] }
`);
    expect(codes(fs).sort()).toEqual([CODES.gatewaySelectorNoPods.code, CODES.invalidResource.code].sort());
  });

  it('WEFT-A0008 VirtualService bound to a missing Gateway', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [shop.example.com], gateways: [weft-system/public], http: [{ route: [{ destination: { host: reviews } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.gatewayNotFound.code]);
  });

  it('WEFT-A0009 STRICT with unmeshed clients (namespace and mesh-wide)', () => {
    const reg = world(UNMESHED);
    const ns = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`, reg);
    expect(codes(ns)).toEqual([CODES.strictWithUnmeshedClients.code]);
    expect(ns[0]?.message).toContain('shop/legacy-client');
    const mesh = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: weft-system }
spec: { mtls: { mode: STRICT } }
`, reg);
    expect(codes(mesh)).toEqual([CODES.strictWithUnmeshedClients.code]);
    expect(mesh[0]?.message).toContain('mesh-wide');
    // a namespace-level PERMISSIVE overrides the mesh-wide STRICT
    const overridden = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: weft-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: PERMISSIVE } }
`, reg);
    expect(overridden).toEqual([]);
    // no unmeshed pods: nothing to say
    expect(run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
`)).toEqual([]);
  });

  it('WEFT-A0010 ALLOW without rules; WEFT-A0018 empty-spec deny-all idiom', () => {
    const fs = run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-nothing, namespace: shop }
spec: { action: ALLOW, selector: { matchLabels: { app: reviews } }, rules: [] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: shop }
spec: {}
`);
    expect(codes(fs)).toEqual([CODES.allowPolicyDeniesAll.code, CODES.denyAllIdiom.code]);
    expect(fs[1]?.severity).toBe('Info');
  });

  it('WEFT-A0011 DENY with an empty rule', () => {
    const fs = run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: d, namespace: shop }
spec: { action: DENY, rules: [{}] }
`);
    expect(codes(fs)).toEqual([CODES.denyPolicyMatchesAll.code]);
  });

  it('WEFT-A0012 policy selector matching no pod', () => {
    const fs = run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: a, namespace: shop }
spec: { selector: { matchLabels: { app: nope } }, rules: [{ from: [{ source: { namespaces: [shop] } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.selectorMatchesNoPods.code]);
  });

  it('WEFT-A0013 unsupported fields', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route: [{ destination: { host: reviews } }]
      mirrors: [{ destination: { host: ratings } }]
      match: [{ uri: { prefix: / }, statPrefix: x }]
`);
    expect(fs.filter((f) => f.code === CODES.unsupportedField.code).map((f) => f.path).sort()).toEqual(['spec.http[0].match[0].statPrefix', 'spec.http[0].mirrors']);
  });

  it('WEFT-A0013 knows localityLbSetting and retryBudget on DestinationRules', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: r, namespace: shop }
spec:
  host: reviews
  trafficPolicy:
    retryBudget: { percent: 20, minRetryConcurrency: 3 }
    outlierDetection: { consecutive5xxErrors: 3 }
    loadBalancer:
      localityLbSetting:
        failover: [{ from: east, to: west }]
        failoverPriority: [topology.kubernetes.io/region]
        enabled: true
        bogus: 1
`);
    expect(fs.filter((f) => f.code === CODES.unsupportedField.code).map((f) => f.path)).toEqual(['spec.trafficPolicy.loadBalancer.localityLbSetting.bogus']);
  });

  it('WEFT-A0014 unsupported kind and API version', () => {
    const fs = run(`apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: f, namespace: shop }
spec: {}
---
apiVersion: security.istio.io/v1alpha1
kind: PeerAuthentication
metadata: { name: p, namespace: shop }
spec: {}
`);
    expect(codes(fs)).toEqual([CODES.unsupportedKind.code, CODES.unsupportedKind.code]);
  });

  it('WEFT-A0015 weights not adding up to 100', () => {
    const fs = run(`${DR}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: 50 }, { destination: { host: ratings }, weight: 30 }] }] }
`);
    expect(codes(fs)).toEqual([CODES.invalidRouteWeights.code]);
    expect(fs[0]?.message).toContain('add up to 80');
  });

  it('WEFT-A0016 missing required fields and duplicate subsets', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { namespace: shop }
spec: { http: [] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: d, namespace: shop }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }, { name: v1, labels: { version: v1 } }] }
`);
    expect(codes(fs)).toEqual([CODES.invalidResource.code, CODES.invalidResource.code, CODES.invalidResource.code]);
  });

  it('WEFT-A0017 mesh VirtualService host matching nothing', () => {
    const fs = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviewz], http: [{ route: [{ destination: { host: reviews } }] }] }
`);
    expect(codes(fs)).toEqual([CODES.virtualServiceHostNotFound.code]);
  });

  it('ignores non-Istio objects and sorts errors first', () => {
    const fs = run(`apiVersion: v1
kind: ConfigMap
metadata: { name: x }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: d, namespace: shop }
spec: { action: DENY, rules: [{}] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviewz } }] }] }
`);
    expect(fs.map((f) => f.severity)).toEqual(['Error', 'Warning']);
  });
});

describe('resolveHost', () => {
  it('expands short names like the control plane', () => {
    expect(resolveHost('reviews', 'shop')).toBe('reviews.shop.svc.cluster.local');
    expect(resolveHost('reviews.other', 'shop')).toBe('reviews.other.svc.cluster.local');
    expect(resolveHost('reviews.other.svc', 'shop')).toBe('reviews.other.svc.cluster.local');
    expect(resolveHost('api.example.com', 'shop')).toBe('api.example.com');
    expect(resolveHost('*.example.com', 'shop')).toBe('*.example.com');
  });
});

describe('registryFromObjects', () => {
  it('turns workload templates into pods', () => {
    const reg = registryFromObjects(parseManifests(`apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec: { template: { metadata: { labels: { app: web } }, spec: { containers: [{ name: a }] } } }
`, 'x').map((m) => m.obj), 'ns1');
    expect(reg.pods).toEqual([{ name: 'web (Deployment template)', namespace: 'ns1', labels: { app: 'web' }, injected: false }]);
  });
});
