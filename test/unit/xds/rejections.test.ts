import { describe, expect, it } from '@jest/globals';
import { currentRejections } from '../../../src/xds/rejections.js';
import { describeRejections, MAX_REPORTED, parseRejectionReport } from '../../../src/api/rejections.js';
import type { ProxySyncStatus } from '../../../src/xds/controlplane.js';

const at = new Date('2026-11-23T10:00:00Z');
function proxy(id: string, nacked: string[]): ProxySyncStatus {
  return {
    nodeId: id, flavour: 'sidecar', namespace: 'shop', group: 'g',
    types: ['CDS', 'LDS'].map((type) => nacked.includes(type)
      ? { type, sent: '3', acked: '2', state: 'NACKED' as const, lastNack: { typeUrl: type, version: '3', nonce: 'n', message: `bad ${type}`, code: 3, at } }
      : { type, sent: '3', acked: '3', state: 'SYNCED' as const }),
  };
}

describe('currentRejections', () => {
  it('lists NACKED types with pod and namespace from the node id, sorted, and counts proxies', () => {
    const r = currentRejections([proxy('sidecar~10.0.0.2~b-1.shop~shop.svc.cluster.local', ['LDS', 'CDS']), proxy('sidecar~10.0.0.1~a-1.shop~shop.svc.cluster.local', [])]);
    expect(r.proxies).toBe(1);
    expect(r.rejections.map((x) => [x.pod, x.namespace, x.type, x.version, x.message, x.at])).toEqual([
      ['b-1', 'shop', 'CDS', '3', 'bad CDS', '2026-11-23T10:00:00.000Z'],
      ['b-1', 'shop', 'LDS', '3', 'bad LDS', '2026-11-23T10:00:00.000Z'],
    ]);
  });

  it('a node id that names no pod (proxyless gRPC) is still listed, by node', () => {
    const r = currentRejections([proxy('grpc-client-7', ['CDS'])]);
    expect(r.rejections[0]).toMatchObject({ node: 'grpc-client-7', type: 'CDS' });
    expect(r.rejections[0]!.pod).toBeUndefined();
  });

  it('caps the entries but keeps the true count', () => {
    const many = Array.from({ length: 40 }, (_, i) => proxy(`sidecar~10.0.0.${i}~p${i}.shop~shop.svc.cluster.local`, ['CDS', 'LDS']));
    const r = currentRejections(many);
    expect(r.count).toBe(80);
    expect(r.proxies).toBe(40);
    expect(r.rejections).toHaveLength(MAX_REPORTED);
  });
});

describe('parseRejectionReport', () => {
  it('round-trips a report', () => {
    const r = currentRejections([proxy('sidecar~10.0.0.2~b-1.shop~shop.svc.cluster.local', ['CDS'])]);
    expect(parseRejectionReport(JSON.stringify(r))).toEqual(r);
  });
  it.each([
    ['not JSON', '{', /not JSON/],
    ['wrong shape', '{"proxies":"1"}', /must be/],
    ['a bad entry', '{"proxies":1,"count":1,"rejections":[{"node":1}]}', /rejections\[0\]/],
  ])('rejects %s with a clear error', (_what, text, msg) => {
    expect(() => parseRejectionReport(text)).toThrow(msg);
  });
});

describe('describeRejections', () => {
  it('says how many and shows the first in full', () => {
    const r = currentRejections([proxy('sidecar~10.0.0.2~b-1.shop~shop.svc.cluster.local', ['CDS'])]);
    expect(describeRejections(r)).toBe('1 proxy rejected configuration (1 rejection); first: shop/b-1 CDS version 3: bad CDS');
    expect(describeRejections({ proxies: 0, count: 0, rejections: [] })).toMatch(/every connected proxy accepted/);
  });
});
