// Pure registry conversions: Kubernetes/Istio objects -> MeshModel.
import { describe, it, expect } from '@jest/globals';
import type { V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { ServiceEntry, VirtualService } from '../../../../src/api/istio/types.js';
import {
  buildModel,
  emptyRegistryState,
  endpointsFromSlice,
  fromServiceEntry,
  localityOf,
  makeLookup,
  parseLocality,
  podIdentity,
  serviceFromK8s,
  spiffeId,
  type RegistryState,
} from '../../../../src/xds/registry/convert.js';
import { Backoff, errorStatus } from '../../../../src/xds/registry/informer.js';
import { nodeInfo, proxyContextFor, translationKey } from '../../../../src/xds/registry/node.js';

const OPTS = { domain: 'cluster.local', rootNamespace: 'weft-system' };

function svc(name: string, ns: string, ports: Array<{ name?: string; port: number; appProtocol?: string; protocol?: string; targetPort?: number | string }>, clusterIP = '10.96.0.10'): V1Service {
  return { metadata: { name, namespace: ns }, spec: { clusterIP, clusterIPs: clusterIP === 'None' ? ['None'] : [clusterIP], ports } } as V1Service;
}

function pod(name: string, ns: string, ip: string, labels: Record<string, string>, sa = 'reviews', node = 'node-a', hostname?: string): V1Pod {
  return {
    metadata: { name, namespace: ns, labels },
    spec: { serviceAccountName: sa, nodeName: node, containers: [], ...(hostname ? { hostname, subdomain: 'web' } : {}) },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  } as V1Pod;
}

function node(name: string, labels: Record<string, string>): V1Node {
  return { metadata: { name, labels } } as V1Node;
}

function slice(svcName: string, ns: string, ports: Array<{ name?: string; port: number }>, eps: Array<{ ip: string; pod?: string; ready?: boolean; terminating?: boolean; zone?: string; hostname?: string; node?: string }>): V1EndpointSlice {
  return {
    metadata: { name: `${svcName}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: true, terminating: e.terminating ?? false },
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace: ns } } : {}),
      ...(e.zone ? { zone: e.zone } : {}),
      ...(e.hostname ? { hostname: e.hostname } : {}),
      nodeName: e.node ?? 'node-a',
    })),
  } as V1EndpointSlice;
}

function state(over: Partial<RegistryState>): RegistryState {
  return { ...emptyRegistryState(), ...over };
}

describe('serviceFromK8s', () => {
  it('maps ports with protocol from the name, appProtocol winning', () => {
    const s = serviceFromK8s(svc('reviews', 'bookinfo', [{ name: 'http-web', port: 9080 }, { name: 'tcp-db', port: 5432, appProtocol: 'grpc' }, { name: 'metrics', port: 9090 }]), 'cluster.local')!;
    expect(s.hostname).toBe('reviews.bookinfo.svc.cluster.local');
    expect(s.addresses).toEqual(['10.96.0.10']);
    expect(s.ports.map((p) => [p.name, p.port, p.protocol])).toEqual([
      ['http-web', 9080, 'HTTP'],
      ['tcp-db', 5432, 'GRPC'],
      ['metrics', 9090, 'UNKNOWN'],
    ]);
  });

  it('keeps a numeric targetPort, skips UDP ports, and drops UDP-only services', () => {
    const s = serviceFromK8s(svc('dns', 'kube-system', [{ name: 'dns-tcp', port: 53, targetPort: 1053 }, { name: 'dns', port: 53, protocol: 'UDP' }]), 'cluster.local')!;
    expect(s.ports).toEqual([{ name: 'dns-tcp', port: 53, targetPort: 1053, protocol: 'UNKNOWN' }]);
    expect(serviceFromK8s(svc('u', 'ns', [{ name: 'dns', port: 53, protocol: 'UDP' }]), 'cluster.local')).toBeUndefined();
  });

  it('marks headless services and reads exportTo from the annotation', () => {
    const k = svc('web', 'db', [{ name: 'tcp', port: 5432 }], 'None');
    k.metadata!.annotations = { 'networking.istio.io/exportTo': '., istio-system' };
    const s = serviceFromK8s(k, 'cluster.local')!;
    expect(s.headless).toBe(true);
    expect(s.addresses).toEqual([]);
    expect(s.exportTo).toEqual(['.', 'istio-system']);
  });

  it('routes ExternalName services by DNS', () => {
    const k = { metadata: { name: 'ext', namespace: 'ns' }, spec: { type: 'ExternalName', externalName: 'example.com', ports: [{ name: 'https', port: 443 }] } } as V1Service;
    expect(serviceFromK8s(k, 'cluster.local')).toMatchObject({ resolution: 'DNS', external: true, addresses: [] });
  });
});

describe('endpointsFromSlice', () => {
  const reviews = serviceFromK8s(svc('reviews', 'bookinfo', [{ name: 'http', port: 9080 }]), 'cluster.local')!;
  const lookup = makeLookup({
    pods: [pod('reviews-v1', 'bookinfo', '10.88.0.5', { app: 'reviews', version: 'v1' }), pod('reviews-v2', 'bookinfo', '10.88.0.6', { app: 'reviews', version: 'v2' }, 'reviews', 'node-b')],
    nodes: [node('node-a', { 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1a', 'topology.istio.io/subzone': 'rack1' }), node('node-b', {})],
  });

  it('carries pod labels, service account, locality from the node and health from conditions', () => {
    const eps = endpointsFromSlice(
      slice('reviews', 'bookinfo', [{ name: 'http', port: 9080 }], [
        { ip: '10.88.0.5', pod: 'reviews-v1' },
        { ip: '10.88.0.6', pod: 'reviews-v2', ready: false, node: 'node-b', zone: 'z-from-slice' },
      ]),
      reviews,
      lookup,
    );
    expect(eps).toEqual([
      {
        hostname: 'reviews.bookinfo.svc.cluster.local',
        portName: 'http',
        address: '10.88.0.5',
        port: 9080,
        labels: { app: 'reviews', version: 'v1' },
        healthy: true,
        namespace: 'bookinfo',
        locality: { region: 'eu', zone: 'eu-1a', subZone: 'rack1' },
        serviceAccount: 'reviews',
        podName: 'reviews-v1',
      },
      expect.objectContaining({ address: '10.88.0.6', healthy: false, locality: { zone: 'z-from-slice' }, labels: { app: 'reviews', version: 'v2' } }),
    ]);
  });

  it('treats terminating endpoints as unhealthy and ignores ports the service does not have', () => {
    const eps = endpointsFromSlice(slice('reviews', 'bookinfo', [{ name: 'http', port: 9080 }, { name: 'other', port: 1 }], [{ ip: '10.88.0.5', pod: 'reviews-v1', terminating: true }]), reviews, lookup);
    expect(eps).toHaveLength(1);
    expect(eps[0]!.healthy).toBe(false);
  });

  it('uses the endpoint port (the target port), not the service port', () => {
    const s = serviceFromK8s(svc('app', 'ns', [{ name: 'http', port: 80, targetPort: 'web' }]), 'cluster.local')!;
    const eps = endpointsFromSlice(slice('app', 'ns', [{ name: 'http', port: 8080 }], [{ ip: '10.88.0.9' }]), s, makeLookup({ pods: [], nodes: [] }));
    expect(eps[0]).toMatchObject({ port: 8080, labels: {}, healthy: true });
    expect(eps[0]!.serviceAccount).toBeUndefined();
  });

  it('skips FQDN slices', () => {
    const s = slice('reviews', 'bookinfo', [{ name: 'http', port: 9080 }], [{ ip: 'a.example.com' }]);
    s.addressType = 'FQDN';
    expect(endpointsFromSlice(s, reviews, lookup)).toEqual([]);
  });
});

describe('identity and locality helpers', () => {
  it('builds SPIFFE ids from the service account', () => {
    expect(spiffeId('cluster.local', 'bookinfo', 'reviews')).toBe('spiffe://cluster.local/ns/bookinfo/sa/reviews');
    const p = pod('x', 'ns', '10.88.0.1', {});
    delete p.spec!.serviceAccountName;
    expect(podIdentity(p, 'td')).toBe('spiffe://td/ns/ns/sa/default');
  });

  it('parses locality strings and node labels', () => {
    expect(parseLocality('us/us-1/rack')).toEqual({ region: 'us', zone: 'us-1', subZone: 'rack' });
    expect(parseLocality('')).toBeUndefined();
    expect(localityOf(undefined)).toBeUndefined();
    expect(localityOf({}, 'z')).toEqual({ zone: 'z' });
  });
});

describe('buildModel', () => {
  it('joins services and slices, and gives StatefulSet pods of a headless service their own hostnames', () => {
    const m = buildModel(
      state({
        services: [svc('web', 'db', [{ name: 'tcp-pg', port: 5432 }], 'None')],
        endpointSlices: [slice('web', 'db', [{ name: 'tcp-pg', port: 5432 }], [{ ip: '10.88.1.1', pod: 'web-0', hostname: 'web-0' }, { ip: '10.88.1.2', pod: 'web-1', hostname: 'web-1' }])],
        pods: [pod('web-0', 'db', '10.88.1.1', { app: 'web' }, 'pg', 'node-a', 'web-0'), pod('web-1', 'db', '10.88.1.2', { app: 'web' }, 'pg', 'node-a', 'web-1')],
      }),
      OPTS,
    );
    expect(m.services.map((s) => [s.hostname, s.name, s.addresses])).toEqual([
      ['web.db.svc.cluster.local', 'web', []],
      ['web-0.web.db.svc.cluster.local', 'web-0.web', ['10.88.1.1']],
      ['web-1.web.db.svc.cluster.local', 'web-1.web', ['10.88.1.2']],
    ]);
    expect(m.endpoints.filter((e) => e.hostname === 'web-1.web.db.svc.cluster.local').map((e) => e.address)).toEqual(['10.88.1.2']);
    expect(m.endpoints.filter((e) => e.hostname === 'web.db.svc.cluster.local')).toHaveLength(2);
  });

  it('ignores slices without a service and objects in terminating namespaces; sorts config', () => {
    const orphan = slice('gone', 'ns', [{ name: 'http', port: 80 }], [{ ip: '10.88.0.1' }]);
    const vs = (name: string, ns: string): VirtualService => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: ['a'] } });
    const m = buildModel(
      state({
        services: [svc('a', 'live', [{ name: 'http', port: 80 }]), svc('b', 'dying', [{ name: 'http', port: 80 }])],
        endpointSlices: [orphan],
        namespaces: [{ metadata: { name: 'dying' }, status: { phase: 'Terminating' } }],
        virtualServices: [vs('z', 'live'), vs('a', 'live'), vs('x', 'dying')],
      }),
      OPTS,
    );
    expect(m.services.map((s) => s.name)).toEqual(['a']);
    expect(m.endpoints).toEqual([]);
    expect(m.virtualServices.map((v) => v.metadata.name)).toEqual(['a', 'z']);
    expect(m.trustDomain).toBe('cluster.local');
    expect(m.rootNamespace).toBe('weft-system');
  });

  it('lets a Kubernetes Service win over a ServiceEntry for the same host', () => {
    const se: ServiceEntry = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'dup', namespace: 'ns' },
      spec: { hosts: ['a.ns.svc.cluster.local'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '1.2.3.4' }] },
    };
    const m = buildModel(state({ services: [svc('a', 'ns', [{ name: 'http', port: 80 }])], serviceEntries: [se] }), OPTS);
    expect(m.services).toHaveLength(1);
    expect(m.services[0]!.external).toBeUndefined();
    expect(m.endpoints).toEqual([]);
    expect(m.serviceEntries).toHaveLength(1);
  });
});

describe('fromServiceEntry', () => {
  const base = (spec: ServiceEntry['spec']): ServiceEntry => ({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'se', namespace: 'ns' }, spec });

  it('static endpoints with per-port overrides, locality, weight and service account', () => {
    const r = fromServiceEntry(
      base({
        hosts: ['echo.example'],
        ports: [{ number: 50051, name: 'grpc', protocol: 'GRPC' }],
        resolution: 'STATIC',
        location: 'MESH_INTERNAL',
        endpoints: [{ address: '127.0.0.1', ports: { grpc: 7001 }, labels: { version: 'v1' }, locality: 'r/z', weight: 3, serviceAccount: 'echo' }, { address: '127.0.0.2' }],
      }),
      [],
    );
    expect(r.services).toEqual([{ hostname: 'echo.example', name: 'echo.example', namespace: 'ns', addresses: [], ports: [{ name: 'grpc', port: 50051, protocol: 'GRPC' }], external: false, resolution: 'EDS' }]);
    expect(r.endpoints).toEqual([
      { hostname: 'echo.example', portName: 'grpc', address: '127.0.0.1', port: 7001, labels: { version: 'v1' }, healthy: true, namespace: 'ns', locality: { region: 'r', zone: 'z' }, weight: 3, serviceAccount: 'echo' },
      { hostname: 'echo.example', portName: 'grpc', address: '127.0.0.2', port: 50051, labels: {}, healthy: true, namespace: 'ns' },
    ]);
  });

  it('DNS resolution yields an external DNS service without endpoints; NONE is passthrough', () => {
    const dns = fromServiceEntry(base({ hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], resolution: 'DNS', endpoints: [{ address: 'x' }] }), []);
    expect(dns.services[0]).toMatchObject({ resolution: 'DNS', external: true, ports: [{ protocol: 'TLS' }] });
    expect(dns.endpoints).toEqual([]);
    expect(fromServiceEntry(base({ hosts: ['h'], ports: [], resolution: 'NONE' }), []).services[0]!.resolution).toBe('PASSTHROUGH');
  });

  it('selects pods in its namespace with workloadSelector', () => {
    const r = fromServiceEntry(
      base({ hosts: ['vm.internal'], ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }], resolution: 'STATIC', workloadSelector: { labels: { app: 'vm' } } }),
      [pod('p1', 'ns', '10.88.0.7', { app: 'vm' }), pod('p2', 'other', '10.88.0.8', { app: 'vm' }), pod('p3', 'ns', '10.88.0.9', { app: 'web' })],
    );
    expect(r.endpoints.map((e) => [e.address, e.port, e.serviceAccount])).toEqual([['10.88.0.7', 8080, 'reviews']]);
  });
});

describe('nodes -> proxy contexts', () => {
  it('reads flavour, namespace and pod from Istio-style ids', () => {
    expect(nodeInfo({ id: 'sidecar~10.88.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local' })).toEqual({ flavour: 'sidecar', namespace: 'bookinfo', podName: 'reviews-v1', ip: '10.88.0.5' });
    expect(nodeInfo({ id: 'router~10.88.0.2~gw-1.istio-system~istio-system.svc.cluster.local' }).flavour).toBe('gateway');
    expect(nodeInfo({ id: 'proxyless~127.0.0.1~client.apps~apps.svc.cluster.local' })).toMatchObject({ flavour: 'proxyless', namespace: 'apps' });
    expect(nodeInfo({ id: 'plain-grpc-client' })).toEqual({ flavour: 'proxyless', namespace: 'default' });
  });

  it('takes NAMESPACE and LABELS from node metadata (Struct or plain)', () => {
    const struct = { fields: { NAMESPACE: { stringValue: 'apps' }, LABELS: { structValue: { fields: { app: { stringValue: 'c' } } } } } };
    expect(nodeInfo({ id: 'x', metadata: struct })).toEqual({ flavour: 'proxyless', namespace: 'apps', labels: { app: 'c' } });
    expect(nodeInfo({ id: 'x', metadata: { NAMESPACE: 'n2', LABELS: { a: 'b', n: 1 } } })).toEqual({ flavour: 'proxyless', namespace: 'n2', labels: { a: 'b' } });
  });

  it('fills labels, IP and service account from the pod; groups by what translation reads', () => {
    const info = nodeInfo({ id: 'sidecar~10.88.0.5~reviews-v1.bookinfo~bookinfo.svc.cluster.local' });
    const ctx = proxyContextFor(info, pod('reviews-v1', 'bookinfo', '10.88.0.5', { app: 'reviews' }));
    expect(ctx).toEqual({ flavour: 'sidecar', namespace: 'bookinfo', labels: { app: 'reviews' }, ip: '10.88.0.5', serviceAccount: 'reviews' });
    const other = { ...ctx, ip: '10.88.0.6' };
    expect(translationKey(ctx, new Set())).toBe(translationKey(other, new Set()));
    expect(translationKey(ctx, new Set(['10.88.0.5']))).not.toBe(translationKey(other, new Set(['10.88.0.5'])));
  });
});

describe('informer supervision helpers', () => {
  it('backs off exponentially up to the cap and resets', () => {
    const b = new Backoff(100, 1000);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('reads HTTP status from client-node errors', () => {
    expect(errorStatus({ code: 410 })).toBe(410);
    expect(errorStatus({ statusCode: 404 })).toBe(404);
    expect(errorStatus(new Error('x'))).toBeUndefined();
    expect(errorStatus(undefined)).toBeUndefined();
  });
});
