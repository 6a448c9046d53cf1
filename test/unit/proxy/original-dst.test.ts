// Istio's PassthroughCluster (ORIGINAL_DST + CLUSTER_PROVIDED) must be accepted, or the
// control plane's whole CDS response is NACKed and the sidecar never gets its clusters.
import { describe, expect, it } from '@jest/globals';
import { buildCluster, buildListener } from '../../../src/proxy/config/build.js';
import { http1Alpn } from '../../../src/proxy/cluster-manager.js';

describe('ORIGINAL_DST clusters', () => {
  it('accepts the control plane PassthroughCluster as a passthrough cluster with on-demand hosts', () => {
    const c = buildCluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 10 } } as never);
    expect(c.originalDst).toEqual({ useHttpHeader: false, cleanupIntervalMs: 5000 });
    expect(c.staticEndpoints).toEqual([]);
    expect(c.connectTimeoutMs).toBe(10_000);
  });
  it('reads original_dst_lb_config.use_http_header, cleanup_interval and upstream_bind_config', () => {
    const c = buildCluster({
      name: 'InboundPassthroughClusterIpv4', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', original_dst_lb_config: { use_http_header: true },
      cleanup_interval: { seconds: 2 }, upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } },
    } as never);
    expect(c.originalDst).toEqual({ useHttpHeader: true, cleanupIntervalMs: 2000 });
    expect(c.bindAddress).toBe('127.0.0.6');
  });
  it('rejects ORIGINAL_DST with another lb_policy, as Envoy does', () => {
    expect(() => buildCluster({ name: 'p', type: 'ORIGINAL_DST', lb_policy: 'ROUND_ROBIN' } as never)).toThrow('ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED');
    expect(() => buildCluster({ name: 'p', type: 'ORIGINAL_DST' } as never)).toThrow('ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED');
  });
  it('rejects a custom original destination header name (only x-envoy-original-dst-host is read)', () => {
    expect(() => buildCluster({ name: 'p', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', original_dst_lb_config: { use_http_header: true, http_header_name: 'x-dst' } } as never))
      .toThrow('http_header_name is not supported');
  });
  it('still rejects CLUSTER_PROVIDED on other cluster types', () => {
    expect(() => buildCluster({ name: 'c', type: 'EDS', lb_policy: 'CLUSTER_PROVIDED' } as never)).toThrow('unsupported lb_policy');
  });
});

describe('original destination on listeners', () => {
  const chain = { name: 'tcp', filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 's', cluster: 'c' } }] };
  it('use_original_dst hands off and matches on the original port (virtualOutbound)', () => {
    const l = buildListener({ name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, use_original_dst: { value: true }, filter_chains: [chain] } as never);
    expect(l.useOriginalDst).toBe(true);
    expect(l.restoreOriginalDst).toBe(true);
  });
  it('the original_dst listener filter only restores the port for matching, with no hand-off (virtualInbound)', () => {
    const l = buildListener({
      name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      listener_filters: [{ name: 'envoy.filters.listener.original_dst' }], filter_chains: [chain],
    } as never);
    expect(l.useOriginalDst).toBe(false);
    expect(l.restoreOriginalDst).toBe(true);
  });
});

describe('ALPN for HTTP/1.1 upstreams over mTLS', () => {
  it('offers http/1.1 first and keeps the control plane list, without h2', () => {
    expect(http1Alpn(['istio-peer-exchange', 'istio'])).toEqual(['http/1.1', 'istio-peer-exchange', 'istio']);
    expect(http1Alpn([])).toEqual(['http/1.1']);
    expect(http1Alpn(['h2', 'http/1.1'])).toEqual(['http/1.1']);
  });
});
