// Istio's request and TCP metrics from the HTTP/2 and TCP forwarding layers, over loopback sockets:
// the layers are driven with the connection context the listener hands them (peer principal,
// direction, mTLS), and the metrics must carry it as the HTTP/1.1 path does.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { ClusterManager } from '../../../src/proxy/cluster-manager.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import type { FilterChain, NetworkFilter } from '../../../src/proxy/config/model.js';
import { H2Proxy, type H2Context } from '../../../src/proxy/h2-proxy.js';
import { Stats } from '../../../src/proxy/stats.js';
import { TcpProxy, tcpConnContext, type TcpConnContext } from '../../../src/proxy/tcp-proxy.js';
import { parsePrometheus } from '../../../src/operator/healthgate.js';
import { cla, edsCluster, routeConfig } from './fixtures.js';

const ME = { workload: 'reviews', namespace: 'shop', principal: 'spiffe://cluster.local/ns/shop/sa/reviews' };
const PEER = 'spiffe://cluster.local/ns/web/sa/front';
const REQ_BODY = Buffer.alloc(1234, 'q');
const RESP_BODY = Buffer.alloc(5678, 'r');

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A backend that reads the whole request body and answers RESP_BODY. */
function answer(req: { resume(): unknown; on(e: 'end', f: () => void): unknown }, res: { end(b: Buffer): unknown }): void {
  req.resume();
  req.on('end', () => res.end(RESP_BODY));
}

async function samples(stats: Stats, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  return parsePrometheus(await stats.prometheus()).filter((x) => x.name === name);
}

describe('HTTP/2 request metrics', () => {
  let h2Backend: http2.Http2Server, h1Backend: http.Server, front: http2.Http2Server;
  let stats: Stats, clusters: ClusterManager, frontPort: number;
  let ctx: H2Context;

  beforeAll(async () => {
    h2Backend = http2.createServer(answer);
    h1Backend = http.createServer(answer);
    const [h2Port, h1Port] = [await listen(h2Backend), await listen(h1Backend)];
    const cfg = buildProxyConfig({
      routes: [routeConfig('r', [
        { match: { prefix: '/h1' }, route: { cluster: 'h1', timeout: { seconds: 0 } } },
        { match: { prefix: '/' }, route: { cluster: 'h2', timeout: { seconds: 0 } } },
      ])],
      clusters: [edsCluster('h2', { http2_protocol_options: {} }), edsCluster('h1')],
      endpoints: [cla('h2', [h2Port]), cla('h1', [h1Port])],
    });
    stats = new Stats(ME);
    clusters = new ClusterManager({ now: Date.now, rand: Math.random });
    clusters.update(cfg);
    const proxy = new H2Proxy({ clusters, stats, logger: silentLogger(), now: Date.now, rand: Math.random });
    ctx = { routes: () => cfg.routes.get('r'), direction: 'inbound', scheme: 'https', peerPrincipal: PEER };
    front = http2.createServer();
    front.on('stream', (stream, headers) => proxy.handle(stream, headers, ctx));
    frontPort = await listen(front);
  });

  afterAll(async () => {
    clusters.close();
    await Promise.all([close(front), close(h2Backend), close(h1Backend)]);
  });

  function post(path: string): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${frontPort}`);
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': path, ':authority': 'svc' });
      const chunks: Buffer[] = [];
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => { session.close(); resolve({ status, body: Buffer.concat(chunks) }); });
      req.on('error', reject);
      // Two DATA writes: sizes come from the frames, not from a content-length header.
      req.write(REQ_BODY.subarray(0, 1000));
      req.end(REQ_BODY.subarray(1000));
    });
  }

  it.each([['an HTTP/2 upstream', '/grpc-like', 'h2'], ['an HTTP/1.1 upstream', '/h1', 'h1']])(
    'inbound through %s carries the verified peer and Istio workload labels, and DATA byte sizes',
    async (_what, path, cluster) => {
      const r = await post(path);
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(RESP_BODY.length);
      const mine = (name: string) => samples(stats, name).then((all) => all.filter((x) => x.labels.destination_service === cluster));
      expect((await mine('istio_requests_total')).map((x) => x.labels)).toEqual([{
        reporter: 'destination', source_workload: 'unknown', source_workload_namespace: 'web', source_principal: PEER,
        destination_workload: 'reviews', destination_workload_namespace: 'shop', destination_principal: ME.principal,
        destination_service: cluster, response_code: '200', response_flags: '-',
      }]);
      expect((await mine('istio_request_bytes_sum'))[0]?.value).toBe(REQ_BODY.length);
      expect((await mine('istio_response_bytes_sum'))[0]?.value).toBe(RESP_BODY.length);
    },
  );
});

describe('TCP metrics', () => {
  let backend: net.Server, front: net.Server;
  let stats: Stats, clusters: ClusterManager, frontPort: number;
  let conn: TcpConnContext | undefined;

  beforeAll(async () => {
    backend = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => undefined); });
    const cfg = buildProxyConfig({ clusters: [edsCluster('db')], endpoints: [cla('db', [await listen(backend)])] });
    stats = new Stats(ME);
    clusters = new ClusterManager({ now: Date.now, rand: Math.random });
    clusters.update(cfg);
    const proxy = new TcpProxy({ clusters, stats, logger: silentLogger(), now: Date.now, rand: Math.random });
    const filter: Extract<NetworkFilter, { kind: 'tcp' }> = { kind: 'tcp', clusters: [{ name: 'db', weight: 1 }], totalWeight: 1, idleTimeoutMs: 0 };
    front = net.createServer((s) => proxy.handle(s, filter, undefined, conn));
    frontPort = await listen(front);
  });

  afterAll(async () => {
    clusters.close();
    await Promise.all([close(front), close(backend)]);
  });

  /** One connection: sends `n` bytes, closes once the echo is back, waits for the proxy's accounting. */
  async function exchange(n: number): Promise<number> {
    const got = await new Promise<number>((resolve, reject) => {
      const s = net.connect(frontPort, '127.0.0.1');
      let len = 0;
      s.on('data', (d) => { len += d.length; if (len >= n) s.end(); });
      s.on('close', () => resolve(len));
      s.on('error', reject);
      s.write(Buffer.alloc(n, 'x'));
    });
    const deadline = Date.now() + 2000;
    while (stats.sum('istio_tcp_connections_closed_total') < stats.sum('istio_tcp_connections_opened_total') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return got;
  }

  it('inbound mTLS connections carry Istio TCP labels with the peer and connection_security_policy', async () => {
    conn = { direction: 'inbound', peerPrincipal: PEER, mtls: true };
    expect(await exchange(100)).toBe(100);
    const want = {
      reporter: 'destination', source_workload: 'unknown', source_workload_namespace: 'web', source_principal: PEER,
      destination_workload: 'reviews', destination_workload_namespace: 'shop', destination_principal: ME.principal,
      destination_service: 'db', connection_security_policy: 'mutual_tls',
    };
    for (const m of ['istio_tcp_connections_opened_total', 'istio_tcp_connections_closed_total']) {
      expect(await samples(stats, m)).toEqual([{ name: m, labels: want, value: 1 }]);
    }
    expect(await samples(stats, 'istio_tcp_received_bytes_total')).toEqual([{ name: 'istio_tcp_received_bytes_total', labels: want, value: 100 }]);
    expect(await samples(stats, 'istio_tcp_sent_bytes_total')).toEqual([{ name: 'istio_tcp_sent_bytes_total', labels: want, value: 100 }]);
  });

  it('outbound connections report the source side; the source cannot know the security policy', async () => {
    conn = undefined;
    await exchange(10);
    const out = (await samples(stats, 'istio_tcp_connections_opened_total')).filter((x) => x.labels.reporter === 'source');
    expect(out.map((x) => x.labels)).toEqual([{
      reporter: 'source', source_workload: 'reviews', source_workload_namespace: 'shop', source_principal: ME.principal,
      destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown',
      destination_service: 'db', connection_security_policy: 'unknown',
    }]);
  });

  it('plaintext inbound connections say none', async () => {
    conn = { direction: 'inbound', mtls: false };
    await exchange(1);
    const plain = (await samples(stats, 'istio_tcp_connections_closed_total')).filter((x) => x.labels.connection_security_policy === 'none');
    expect(plain).toEqual([expect.objectContaining({ labels: expect.objectContaining({ source_principal: 'unknown', reporter: 'destination' }), value: 1 })]);
  });
});

describe('tcpConnContext', () => {
  const tcp: NetworkFilter = { kind: 'tcp', clusters: [{ name: 'db', weight: 1 }], totalWeight: 1, idleTimeoutMs: 0 };
  const chain = (tls?: FilterChain['tls']): FilterChain => ({ name: 'c', match: { serverNames: [], applicationProtocols: [] }, filter: tcp, ...(tls ? { tls } : {}) });

  it('reads direction from the listener name and mTLS from the chain and the verified peer', () => {
    expect(tcpConnContext('virtualInbound', chain({ requireClientCert: true, expectedSans: [], alpn: [] }), { peerPrincipal: PEER }))
      .toEqual({ direction: 'inbound', mtls: true, peerPrincipal: PEER });
    expect(tcpConnContext('0.0.0.0_15006_inbound', chain(), { remoteIp: '10.0.0.1' })).toEqual({ direction: 'inbound', mtls: false });
    expect(tcpConnContext('10.96.0.5_5432', chain(), undefined)).toEqual({ direction: 'outbound', mtls: false });
  });
});
