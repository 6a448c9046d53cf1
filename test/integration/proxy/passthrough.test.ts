// ORIGINAL_DST passthrough with real sockets on loopback: the x-envoy-original-dst-host
// header (use_http_header) picks a backend on 127.0.0.2, and the loop guard refuses every
// destination that is the proxy's own listener (a connection that was never redirected has
// the listener itself as its original destination). The capture variant, with iptables and
// SO_ORIGINAL_DST, is in passthrough-capture.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { freePort, rawExchange, request, startProxy } from './helpers.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const BACKEND_IP = '127.0.0.2';

let proxy: Proxy;
let httpPort = 0;
let plainPort = 0;
let tcpPort = 0;
let backend: http.Server;
let backendPort = 0;
const seen: { host?: string; dstHeader?: string; peer?: string }[] = [];

function hcm(name: string, cluster: string): Record<string, unknown> {
  return {
    name: 'hcm', typed_config: {
      '@type': HCM, stat_prefix: name,
      route_config: { name, virtual_hosts: [{ name: 'allow_any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
    },
  };
}

beforeAll(async () => {
  backend = http.createServer((req, res) => {
    seen.push({ host: req.headers.host, dstHeader: req.headers['x-envoy-original-dst-host'] as string | undefined, peer: req.socket.remoteAddress });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: BACKEND_IP, path: req.url }));
  });
  await new Promise<void>((r) => backend.listen(0, BACKEND_IP, () => r()));
  backendPort = (backend.address() as net.AddressInfo).port;
  [httpPort, plainPort, tcpPort] = [await freePort(), await freePort(), await freePort()];
  proxy = await startProxy({
    listeners: [
      { name: 'http-header', address: { socket_address: { address: '0.0.0.0', port_value: httpPort } }, filter_chains: [{ filters: [hcm('h', 'HeaderPassthrough')] }] },
      { name: 'http-plain', address: { socket_address: { address: '0.0.0.0', port_value: plainPort } }, filter_chains: [{ filters: [hcm('p', 'PassthroughCluster')] }] },
      { name: 'tcp', address: { socket_address: { address: '0.0.0.0', port_value: tcpPort } }, filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': TCP, stat_prefix: 't', cluster: 'PassthroughCluster' } }] }] },
    ],
    clusters: [
      { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 1 } },
      { name: 'HeaderPassthrough', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 1 }, original_dst_lb_config: { use_http_header: true } },
    ],
  } as never);
});

afterAll(async () => {
  await proxy?.close();
  await new Promise<void>((r) => backend.close(() => r()));
});

describe('ORIGINAL_DST passthrough on loopback', () => {
  it('forwards to the address in x-envoy-original-dst-host when the cluster enables it, and does not pass the header on', async () => {
    const before = seen.length;
    const N = 20;
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => request(httpPort, `/hello/${i}`, { host: 'anything.example', headers: { 'x-envoy-original-dst-host': `${BACKEND_IP}:${backendPort}` } })));
    expect(rs.map((r) => r.status)).toEqual(Array(N).fill(200));
    expect(JSON.parse(rs[0]!.body)).toMatchObject({ backend: BACKEND_IP });
    expect(seen.length - before).toBe(N); // exactly N reached the backend
    expect(seen.slice(before).every((s) => s.host === 'anything.example' && s.dstHeader === undefined)).toBe(true);
    expect(proxy.clusters.get('HeaderPassthrough')!.passthroughHostCount).toBe(1);
  });

  it('refuses a header naming one of the proxy own listeners (a loop): 503 UH, the backend is not called', async () => {
    const before = seen.length;
    for (const port of [httpPort, plainPort, tcpPort]) {
      const r = await request(httpPort, '/loop', { headers: { 'x-envoy-original-dst-host': `127.0.0.1:${port}` } });
      expect(r.status).toBe(503);
      expect(r.headers['x-weft-response-flags']).toBe('UH');
    }
    expect(seen.length).toBe(before);
  });

  it('an invalid header falls back to the connection destination, which here is the listener itself: refused', async () => {
    const r = await request(httpPort, '/bad', { headers: { 'x-envoy-original-dst-host': 'backend.example:80' } });
    expect(r.status).toBe(503);
    expect(r.headers['x-weft-response-flags']).toBe('UH');
  });

  it('ignores the header when the cluster does not enable use_http_header (the connection was not redirected, so: refused)', async () => {
    const before = seen.length;
    const r = await request(plainPort, '/plain', { headers: { 'x-envoy-original-dst-host': `${BACKEND_IP}:${backendPort}` } });
    expect(r.status).toBe(503);
    expect(r.headers['x-weft-response-flags']).toBe('UH');
    expect(seen.length).toBe(before);
  });

  it('TCP passthrough to the listener itself is closed without a byte, and the proxy keeps serving', async () => {
    const x = await rawExchange(tcpPort, 'hello\n', 2000);
    expect(x).toEqual({ reply: '', closed: true });
    const r = await request(httpPort, '/after', { headers: { 'x-envoy-original-dst-host': `${BACKEND_IP}:${backendPort}` } });
    expect(r.status).toBe(200);
  });

  it('a dead passthrough destination is a connect failure (503 UF), not a hang', async () => {
    const dead = await freePort();
    const r = await request(httpPort, '/dead', { headers: { 'x-envoy-original-dst-host': `127.0.0.1:${dead}` } });
    expect(r.status).toBe(503);
    expect(r.headers['x-weft-response-flags']).toBe('UF');
  });
});
