// ORIGINAL_DST host selection (pure): header vs connection destination, the loop guard,
// and the on-demand host table of a passthrough cluster.
import { describe, expect, it } from '@jest/globals';
import { isLoopTarget, localAddressPredicate, parseOriginalDstHeader, passthroughFacts, passthroughTarget, type LoopGuard } from '../../../src/proxy/passthrough.js';
import { ClusterState, MAX_PASSTHROUGH_HOSTS } from '../../../src/proxy/cluster-manager.js';
import { buildCluster } from '../../../src/proxy/config/build.js';

const guard: LoopGuard = { ownPorts: new Set([15001, 15006, 15000]), isLocalAddress: localAddressPredicate(['10.88.0.7']) };
const conn = { address: '10.88.0.9', port: 8080 };

describe('parseOriginalDstHeader', () => {
  it('takes IPv4 and bracketed IPv6 literals with a port', () => {
    expect(parseOriginalDstHeader('10.195.16.237:8888')).toEqual({ address: '10.195.16.237', port: 8888 });
    expect(parseOriginalDstHeader(' [fd00::1]:80 ')).toEqual({ address: 'fd00::1', port: 80 });
  });
  it.each([
    ['a host name', 'example.com:80'], ['no port', '10.0.0.1'], ['port 0', '10.0.0.1:0'], ['port too big', '10.0.0.1:70000'],
    ['a bad address', '10.0.0.300:80'], ['unbracketed IPv6', 'fd00::1:80'], ['empty', ''], ['junk', '\u0000;rm -rf'],
  ])('refuses %s', (_what, v) => expect(parseOriginalDstHeader(v)).toBeUndefined());
});

describe('passthroughTarget', () => {
  it('forwards to the connection original destination', () => {
    expect(passthroughTarget({ connDst: conn, useHttpHeader: false }, guard)).toEqual({ ok: true, target: conn, from: 'connection' });
  });
  it('ignores the header unless the cluster enables use_http_header', () => {
    expect(passthroughTarget({ connDst: conn, header: '10.1.1.1:80', useHttpHeader: false }, guard)).toMatchObject({ ok: true, target: conn });
    expect(passthroughTarget({ connDst: conn, header: '10.1.1.1:80', useHttpHeader: true }, guard)).toEqual({ ok: true, target: { address: '10.1.1.1', port: 80 }, from: 'header' });
  });
  it('an invalid header falls back to the connection destination, and says so', () => {
    expect(passthroughTarget({ connDst: conn, header: 'evil.example:80', useHttpHeader: true }, guard)).toEqual({ ok: true, target: conn, from: 'connection', badHeader: true });
  });
  it('without any destination there is no host', () => {
    expect(passthroughTarget({ useHttpHeader: true }, guard)).toEqual({ ok: false, reason: 'no-original-destination' });
    expect(passthroughTarget({ connDst: { address: '', port: 0 }, useHttpHeader: false }, guard)).toMatchObject({ ok: false, reason: 'no-original-destination' });
  });
  it.each([
    ['the capture port on the pod IP', { address: '10.88.0.7', port: 15001 }],
    ['the inbound port on loopback', { address: '127.0.0.1', port: 15006 }],
    ['the admin port on another loopback address', { address: '127.0.0.6', port: 15000 }],
    ['a v4-mapped pod IP', { address: '::ffff:10.88.0.7', port: 15006 }],
    ['the wildcard address', { address: '0.0.0.0', port: 15001 }],
  ])('refuses %s (a loop through the proxy)', (_what, dst) => {
    expect(passthroughTarget({ connDst: dst, useHttpHeader: false }, guard)).toMatchObject({ ok: false, reason: 'loop' });
  });
  it('refuses a loop named by the header too', () => {
    expect(passthroughTarget({ connDst: conn, header: '127.0.0.1:15001', useHttpHeader: true }, guard)).toMatchObject({ ok: false, reason: 'loop' });
  });
  it('an app port on a local address, or a proxy port on a remote one, is fine', () => {
    expect(isLoopTarget({ address: '10.88.0.7', port: 8080 }, guard)).toBe(false);
    expect(isLoopTarget({ address: '10.88.0.9', port: 15006 }, guard)).toBe(false);
  });
  it('passthroughFacts leaves out what is absent', () => {
    expect(passthroughFacts(undefined, undefined)).toEqual({});
    expect(passthroughFacts(conn, 'x')).toEqual({ connDst: conn, header: 'x' });
  });
});

describe('ClusterState.pick on an ORIGINAL_DST cluster', () => {
  const cluster = buildCluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', cleanup_interval: { seconds: 1 } } as never);
  const state = (): ClusterState => new ClusterState(cluster, { now: () => 0, rand: () => 0, loopGuard: () => guard });

  it('makes one host per destination and reuses it', () => {
    const cs = state();
    const a = cs.pick({ now: 0 }, { connDst: conn }).host;
    const b = cs.pick({ now: 10 }, { connDst: { ...conn } }).host;
    const c = cs.pick({ now: 10 }, { connDst: { address: '10.88.0.10', port: 8080 } }).host;
    expect(a?.key).toBe('10.88.0.9:8080');
    expect(b).toBe(a);
    expect(c?.key).toBe('10.88.0.10:8080');
    expect(cs.passthroughHostCount).toBe(2);
    cs.close();
  });
  it('drops hosts unused for a cleanup interval, but never one with requests in flight', () => {
    const cs = state();
    const busy = cs.pick({ now: 0 }, { connDst: conn }).host!;
    busy.active = 1;
    cs.pick({ now: 0 }, { connDst: { address: '10.88.0.10', port: 80 } });
    cs.sweepPassthrough(500);
    expect(cs.passthroughHostCount).toBe(2);
    cs.sweepPassthrough(1000);
    expect(cs.passthroughHostCount).toBe(1);
    busy.active = 0;
    cs.sweepPassthrough(1000);
    expect(cs.passthroughHostCount).toBe(0);
    cs.close();
  });
  it('gives no host for a loop and says why', () => {
    const cs = state();
    const r = cs.pick({ now: 0 }, { connDst: { address: '127.0.0.1', port: 15001 } });
    expect(r.host).toBeUndefined();
    expect(r.passthrough).toMatchObject({ ok: false, reason: 'loop' });
    expect(cs.passthroughHostCount).toBe(0);
    cs.close();
  });
  it('keeps the table bounded: beyond the cap idle hosts go first, busy ones are never evicted', () => {
    const cs = state();
    const hosts = [];
    for (let i = 0; i < MAX_PASSTHROUGH_HOSTS; i++) hosts.push(cs.pick({ now: 0 }, { connDst: { address: `10.0.${i >> 8}.${i & 255}`, port: 80 } }).host!);
    for (const h of hosts) h.active = 1;
    expect(cs.pick({ now: 0 }, { connDst: { address: '10.9.9.9', port: 80 } }).host).toBeUndefined();
    hosts[0]!.active = 0;
    expect(cs.pick({ now: 0 }, { connDst: { address: '10.9.9.9', port: 80 } }).host?.key).toBe('10.9.9.9:80');
    expect(cs.passthroughHostCount).toBe(MAX_PASSTHROUGH_HOSTS);
    cs.close();
  });
  it('other clusters still use their balancer and ignore the facts', () => {
    const eds = new ClusterState(buildCluster({ name: 's', type: 'STATIC', load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.1.1.1', port_value: 9 } } } }] }] } } as never), { now: () => 0, rand: () => 0 });
    eds.setEndpoints([{ address: '10.1.1.1', port: 9, weight: 1, healthy: true, locality: '//', priority: 0 }]);
    expect(eds.pick({ now: 0 }, { connDst: conn }).host?.key).toBe('10.1.1.1:9');
    eds.close();
  });
});
