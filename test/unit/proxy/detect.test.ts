import { describe, expect, it } from '@jest/globals';
import tls from 'node:tls';
import net from 'node:net';
import { detectProtocol } from '../../../src/proxy/detect.js';
import { needsDetection, selectFilterChain } from '../../../src/proxy/filter-chain.js';
import { buildListener } from '../../../src/proxy/config/build.js';
import { bootstrapFromEnv } from '../../../src/proxy/bootstrap.js';
import { HCM_TYPE, TCP_TYPE } from './fixtures.js';
import { isWeftError } from '../../../src/errors/errors.js';

/** A real ClientHello, captured from node:tls writing into a fake socket. */
function clientHello(servername: string, alpn: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); server.close(); }));
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
  });
}

describe('protocol detection', () => {
  it('recognises HTTP/1, h2c prior knowledge and plain TCP', () => {
    expect(detectProtocol(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'http1' });
    expect(detectProtocol(Buffer.from('POST /x HTTP/1.1\r\n'))).toEqual({ kind: 'http1' });
    expect(detectProtocol(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toEqual({ kind: 'h2c' });
    expect(detectProtocol(Buffer.from('PRI * HTTP/2'))).toEqual({ kind: 'need-more' });
    expect(detectProtocol(Buffer.from('GE'))).toEqual({ kind: 'need-more' });
    expect(detectProtocol(Buffer.from('HELO example.com\r\n'))).toEqual({ kind: 'tcp' });
    expect(detectProtocol(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))).toEqual({ kind: 'tcp' });
    expect(detectProtocol(Buffer.from('XYZZY / HTTP/1.1'))).toEqual({ kind: 'tcp' });
  });

  it('reads SNI and ALPN from a real ClientHello, and waits for a split one', async () => {
    const hello = await clientHello('reviews.default.svc.cluster.local', ['h2', 'http/1.1']);
    expect(detectProtocol(hello)).toEqual({ kind: 'tls', sni: 'reviews.default.svc.cluster.local', alpn: ['h2', 'http/1.1'] });
    expect(detectProtocol(hello.subarray(0, 20))).toEqual({ kind: 'need-more' });
  });

  it('treats a malformed ClientHello as TLS without SNI (the TLS stack rejects it)', () => {
    const bad = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff]);
    expect(detectProtocol(bad)).toEqual({ kind: 'tls', alpn: [] });
  });
});

describe('filter chain selection', () => {
  const hcm = { name: 'hcm', typed_config: { '@type': HCM_TYPE, rds: { route_config_name: 'r' } } };
  const tcp = { name: 'tcp', typed_config: { '@type': TCP_TYPE, cluster: 'c' } };
  const l = buildListener({
    name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    filter_chains: [
      { name: 'mtls-http', filter_chain_match: { transport_protocol: 'tls', application_protocols: ['istio', 'h2', 'http/1.1'] }, filters: [hcm] },
      { name: 'plain-http', filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }, filters: [hcm] },
      { name: 'plain-tcp', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [tcp] },
      { name: 'port-3306', filter_chain_match: { destination_port: { value: 3306 } }, filters: [tcp] },
      { name: 'sni', filter_chain_match: { server_names: ['*.example.com'], transport_protocol: 'tls' }, filters: [tcp] },
    ],
  });
  const pick = (f: Parameters<typeof selectFilterChain>[1]): string | undefined => selectFilterChain(l, f)?.name;
  it('picks by port, SNI, transport and ALPN, most specific first', () => {
    expect(pick({ dstPort: 80, transport: 'tls', alpn: ['istio', 'h2'] })).toBe('mtls-http');
    expect(pick({ dstPort: 80, transport: 'raw_buffer', alpn: ['http/1.1'] })).toBe('plain-http');
    expect(pick({ dstPort: 80, transport: 'raw_buffer', alpn: [] })).toBe('plain-tcp');
    expect(pick({ dstPort: 3306, transport: 'raw_buffer', alpn: [] })).toBe('port-3306');
    expect(pick({ dstPort: 443, transport: 'tls', sni: 'a.example.com', alpn: [] })).toBe('sni');
    expect(pick({ dstPort: 443, transport: 'tls', sni: 'other.org', alpn: [] })).toBeUndefined();
    expect(needsDetection(l)).toBe(true);
  });
  it('never falls back from a matching destination port to the catch-all chains (Envoy: no backtracking), so STRICT holds', () => {
    const strict = buildListener({
      name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: [
        { name: 'inbound|8080-mtls', filter_chain_match: { destination_port: { value: 8080 }, transport_protocol: 'tls' }, filters: [tcp] },
        { name: 'inbound-passthrough', filters: [tcp] },
      ],
    });
    const pickS = (f: Parameters<typeof selectFilterChain>[1]): string | undefined => selectFilterChain(strict, f)?.name;
    expect(pickS({ dstPort: 8080, transport: 'tls', alpn: [] })).toBe('inbound|8080-mtls');
    expect(pickS({ dstPort: 8080, transport: 'raw_buffer', alpn: ['http/1.1'] })).toBeUndefined();
    expect(pickS({ dstPort: 9999, transport: 'raw_buffer', alpn: [] })).toBe('inbound-passthrough');
  });
  it('prefers an exact SNI over the longest wildcard over no server name, without falling back', () => {
    const sniL = buildListener({
      name: 'gw', address: { socket_address: { address: '0.0.0.0', port_value: 443 } },
      filter_chains: [
        { name: 'exact', filter_chain_match: { server_names: ['a.b.example.com'], transport_protocol: 'raw_buffer' }, filters: [tcp] },
        { name: 'long-wild', filter_chain_match: { server_names: ['*.b.example.com'] }, filters: [tcp] },
        { name: 'short-wild', filter_chain_match: { server_names: ['*.example.com'] }, filters: [tcp] },
        { name: 'any', filters: [tcp] },
      ],
    });
    const pickN = (sni: string | undefined): string | undefined => selectFilterChain(sniL, { dstPort: 443, transport: 'tls', alpn: [], ...(sni ? { sni } : {}) })?.name;
    expect(pickN('a.b.example.com')).toBeUndefined(); // the exact bucket wins, and its transport does not fit
    expect(pickN('c.b.example.com')).toBe('long-wild');
    expect(pickN('c.example.com')).toBe('short-wild');
    expect(pickN('other.org')).toBe('any');
    expect(pickN(undefined)).toBe('any');
  });
});

describe('bootstrap from the injected environment', () => {
  const env = { WEFT_POD_NAME: 'p', WEFT_POD_NAMESPACE: 'ns', WEFT_POD_IP: '10.1.0.5', WEFT_XDS_ADDRESS: 'weft-controlplane.weft-system:15010' };
  it('builds an Istio-style node id and defaults', () => {
    const b = bootstrapFromEnv(env, 'sidecar');
    expect(b.nodeId).toBe('sidecar~10.1.0.5~p.ns~ns.svc.cluster.local');
    expect(b.ports).toEqual({ admin: 15000, health: 15021 });
    expect(b.caAddress).toBeUndefined();
    expect(b.locality).toBeUndefined();
    expect(b.tracing).toEqual({ samplingPercent: 1, endpoint: '', protocol: 'otlp' });
  });
  it('reads tracing from the injected env (MeshConfig telemetry.tracing)', () => {
    const t = bootstrapFromEnv({ ...env, WEFT_TRACING_ENDPOINT: 'zipkin.obs:9411', WEFT_TRACING_SAMPLING: '12.5', WEFT_TRACING_PROTOCOL: 'zipkin' }, 'sidecar').tracing;
    expect(t).toEqual({ samplingPercent: 12.5, endpoint: 'zipkin.obs:9411', protocol: 'zipkin' });
  });
  it('reads an optional locality for node.locality', () => {
    expect(bootstrapFromEnv({ ...env, WEFT_LOCALITY: 'east/a' }, 'sidecar').locality).toEqual({ region: 'east', zone: 'a', subZone: '' });
    expect(bootstrapFromEnv({ ...env, WEFT_LOCALITY: 'east/a/s1' }, 'sidecar').locality).toEqual({ region: 'east', zone: 'a', subZone: 's1' });
  });
  it.each([
    ['missing namespace', { ...env, WEFT_POD_NAMESPACE: undefined }, 'missing'],
    ['bad xds address', { ...env, WEFT_XDS_ADDRESS: 'no-port' }, 'host:port'],
    ['tracing sampling over 100', { ...env, WEFT_TRACING_SAMPLING: '101' }, 'percentage in [0, 100]'],
    ['tracing sampling not a number', { ...env, WEFT_TRACING_SAMPLING: 'lots' }, 'percentage in [0, 100]'],
    ['tracing protocol unknown', { ...env, WEFT_TRACING_PROTOCOL: 'jaeger' }, 'otlp or zipkin'],
    ['tracing endpoint without port', { ...env, WEFT_TRACING_ENDPOINT: 'collector' }, 'host:port'],
    ['locality with too many parts', { ...env, WEFT_LOCALITY: 'a/b/c/d' }, 'region[/zone[/subzone]]'],
    ['locality without region', { ...env, WEFT_LOCALITY: '/b' }, 'region[/zone[/subzone]]'],
  ])('rejects %s', (_n, e, msg) => {
    let err: unknown;
    try { bootstrapFromEnv(e, 'sidecar'); } catch (x) { err = x; }
    expect(isWeftError(err, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(msg);
  });
});
