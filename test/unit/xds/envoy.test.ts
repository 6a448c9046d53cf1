import { describe, it, expect } from '@jest/globals';
import {
  TYPE_URLS,
  decodeAny,
  decodeDiscoveryResponse,
  encodeAny,
  GrpcFramedResponse,
  encodeDiscoveryResponse,
  encodeGrpcFramedDiscoveryResponse,
  preFramedWritesAsIs,
  encodeResource,
  frameAnyAsResponseResource,
  formatNodeId,
  normalizeRequestPath,
  parseNodeId,
  tryParseNodeId,
} from '../../../src/envoy/index.js';
import { checkConsistency, makeSnapshot, ResourceEncoder } from '../../../src/xds/snapshot.js';
import { isWeftError } from '../../../src/errors/errors.js';

describe('envoy codec', () => {
  it('round-trips a cluster with nested Any and Struct', () => {
    const c = { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, connect_timeout: { seconds: 1 }, metadata: { filter_metadata: { istio: { fields: { a: { stringValue: 'b' } } } } } };
    expect(decodeAny(encodeAny(TYPE_URLS.cluster, c))).toEqual(c);
  });

  it('rejects an unknown field instead of dropping it', () => {
    expect(() => encodeResource(TYPE_URLS.cluster, { name: 'c', lb_polcy: 'RANDOM' })).toThrow('unknown field');
    expect(() => encodeResource(TYPE_URLS.listener, { name: 'l', api_listener: { api_listener: { '@type': TYPE_URLS.httpConnectionManager, bogus: 1 } } })).toThrow('unknown field');
  });

  it('splices pre-encoded resources into a DiscoveryResponse', () => {
    const bytes = encodeResource(TYPE_URLS.cluster, { name: 'a' });
    const wire = encodeDiscoveryResponse({ version_info: 'v1', type_url: TYPE_URLS.cluster, nonce: '7', framedResources: [frameAnyAsResponseResource(TYPE_URLS.cluster, bytes)] });
    const r = decodeDiscoveryResponse(wire);
    expect(r.version_info).toBe('v1');
    expect(r.nonce).toBe('7');
    expect(r.resources).toHaveLength(1);
    expect(decodeAny(r.resources[0]!)).toEqual({ name: 'a' });
  });

  it('frames a response for the wire once: gRPC prefix + the same bytes', () => {
    const parts = { version_info: 'v1', type_url: TYPE_URLS.cluster, nonce: '7', framedResources: [frameAnyAsResponseResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, { name: 'a' }))] };
    const framed = encodeGrpcFramedDiscoveryResponse(parts);
    const plain = encodeDiscoveryResponse(parts);
    expect(framed.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 0, plain.length]));
    expect(framed.subarray(5)).toEqual(plain);
    expect(new GrpcFramedResponse(framed).bytes).toBe(framed);
    expect(() => new GrpcFramedResponse(plain)).toThrow(/gRPC message prefix/);
    expect(preFramedWritesAsIs).toBe(true);
  });
});

describe('node ids', () => {
  it('parses the Istio sidecar form', () => {
    const id = 'sidecar~10.244.0.5~reviews-v1-7d8f.default~default.svc.cluster.local';
    expect(parseNodeId(id)).toEqual({ type: 'sidecar', ip: '10.244.0.5', podName: 'reviews-v1-7d8f', namespace: 'default', domain: 'cluster.local' });
    expect(formatNodeId(parseNodeId(id))).toBe(id);
  });
  it('rejects other forms', () => {
    expect(tryParseNodeId('grpc-client-1')).toBeUndefined();
    expect(tryParseNodeId('sidecar~1.2.3.4~pod~default.svc.cluster.local')).toBeUndefined();
    expect(tryParseNodeId('sidecar~1.2.3.4~pod.ns~other.svc.cluster.local')).toBeUndefined();
    expect(() => parseNodeId('nope')).toThrow('node id');
  });
});

describe('path normalisation (CVE-2020-8595, CVE-2021-31920)', () => {
  it.each([
    ['//admin', '/admin'],
    ['/public/..//admin', '/admin'],
    ['/%2Fadmin', '/admin'],
    ['/public%2F..%2Fadmin', '/admin'],
    ['/./admin', '/admin'],
    ['/public/../admin', '/admin'],
    ['/admin?x=1', '/admin'],
    ['/admin#frag', '/admin'],
    ['/%61dmin', '/admin'],
    ['/public%5C..%5Cadmin', '/admin'],
  ])('%s -> %s', (raw, want) => {
    expect(normalizeRequestPath(raw)).toBe(want);
  });
});

describe('snapshots', () => {
  const cluster = { name: 'c1', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } };
  const cla = { cluster_name: 'c1', endpoints: [] };
  const route = { name: 'r1', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c2' } }] }] };
  const listener = {
    name: 'l1',
    api_listener: { api_listener: { '@type': TYPE_URLS.httpConnectionManager, rds: { route_config_name: 'r2', config_source: { ads: {} } } } },
  };

  it('reports every dangling reference', () => {
    const problems = checkConsistency({ clusters: [cluster, { ...cluster, name: 'c3' }], endpoints: [cla], routes: [route], listeners: [listener] });
    expect(problems).toEqual([
      'cluster c3: no ClusterLoadAssignment named c3',
      'listener references missing route configuration r2',
      'route references missing cluster c2',
    ]);
    try {
      makeSnapshot('bad', { clusters: [cluster], endpoints: [], routes: [], listeners: [] });
      throw new Error('expected a throw');
    } catch (e) {
      expect(isWeftError(e, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    }
  });

  it('encodes each shared resource once and versions types by content', () => {
    const enc = new ResourceEncoder();
    const a = makeSnapshot('a', { clusters: [cluster], endpoints: [cla] }, enc);
    const b = makeSnapshot('b', { clusters: [cluster], endpoints: [{ ...cla, endpoints: [{ lb_endpoints: [] }] }] }, enc);
    expect(enc.encoded).toBe(3);
    expect(a.types.get(TYPE_URLS.cluster)!.version).toBe(b.types.get(TYPE_URLS.cluster)!.version);
    expect(a.types.get(TYPE_URLS.endpoint)!.version).not.toBe(b.types.get(TYPE_URLS.endpoint)!.version);
    expect(a.types.get(TYPE_URLS.cluster)!.byName.get('c1')!.framed).toBe(b.types.get(TYPE_URLS.cluster)!.byName.get('c1')!.framed);
  });
});
