// Tracing through two proxies on loopback: client -> proxy A (outbound, client spans, OTLP)
// -> proxy B (inbound, server spans, Zipkin) -> app. A collector stub on 127.0.0.1 receives
// both protocols; the app records the trace headers it was given.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { Proxy, type ProxyTracing } from '../../../src/proxy/proxy.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { agent, freePort, httpBackend, request, type Backend } from './helpers.js';

interface Got { traceId: string; spanId: string; parentSpanId?: string; kind: string; attrs: Record<string, string> }

let app: Backend;
let collector: http.Server;
let collectorPort = 0;
const received: Got[] = [];
const posts: string[] = [];
let proxyA: Proxy, proxyB: Proxy, proxyOff: Proxy;
let portA = 0, portB = 0, portOff = 0;
const appSaw: http.IncomingHttpHeaders[] = [];

type OtlpBody = { resourceSpans: { scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; kind: number; attributes: { key: string; value: { stringValue?: string; intValue?: string } }[] }[] }[] }[] };
type ZipkinBody = { traceId: string; id: string; parentId?: string; kind: string; tags: Record<string, string> }[];

function collect(path: string, body: string): void {
  posts.push(path);
  if (path === '/v1/traces') {
    for (const rs of (JSON.parse(body) as OtlpBody).resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) {
      received.push({
        traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), kind: s.kind === 3 ? 'CLIENT' : 'SERVER',
        attrs: Object.fromEntries(s.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? ''])),
      });
    }
  } else if (path === '/api/v2/spans') {
    for (const s of JSON.parse(body) as ZipkinBody) received.push({ traceId: s.traceId, spanId: s.id, ...(s.parentId ? { parentSpanId: s.parentId } : {}), kind: s.kind, attrs: s.tags });
  }
}

function tracing(protocol: ProxyTracing['protocol'], nodeId: string): ProxyTracing {
  return { samplingPercent: 100, endpoint: `127.0.0.1:${collectorPort}`, protocol, nodeId, serviceName: nodeId, exporter: { flushIntervalMs: 50, timeoutMs: 1000 } };
}

async function waitForSpans(n: number): Promise<void> {
  const end = Date.now() + 5000;
  while (received.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

beforeAll(async () => {
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { collect(req.url ?? '', Buffer.concat(chunks).toString()); res.writeHead(200).end('{}'); });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  collectorPort = (collector.address() as net.AddressInfo).port;
  app = await httpBackend('app', (req, res) => { req.resume(); appSaw.push(req.headers); res.writeHead(200).end('ok'); });
  portA = await freePort();
  portB = await freePort();
  proxyB = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1', tracing: tracing('zipkin', 'sidecar~127.0.0.1~b.ns~ns.svc.cluster.local') });
  await proxyB.apply(buildProxyConfig({
    listeners: [httpListener('virtualInbound_http', portB, 'in')],
    routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'inbound|8080||' } }])],
    clusters: [edsCluster('inbound|8080||')],
    endpoints: [cla('inbound|8080||', [app.port])],
  }));
  proxyA = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1', tracing: tracing('otlp', 'sidecar~127.0.0.1~a.ns~ns.svc.cluster.local') });
  await proxyA.apply(buildProxyConfig({
    listeners: [httpListener('outbound_http', portA, 'out')],
    routes: [routeConfig('out', [{ match: { prefix: '/' }, route: { cluster: 'outbound|80||b' } }])],
    clusters: [edsCluster('outbound|80||b')],
    endpoints: [cla('outbound|80||b', [portB])],
  }));
  portOff = await freePort();
  proxyOff = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1' });
  await proxyOff.apply(buildProxyConfig({
    listeners: [httpListener('outbound_off', portOff, 'off')],
    routes: [routeConfig('off', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])],
    clusters: [edsCluster('app')],
    endpoints: [cla('app', [app.port])],
  }));
});

afterAll(async () => {
  agent.destroy();
  await proxyOff.close();
  await proxyA.close();
  await proxyB.close();
  await app.close();
  await new Promise<void>((r) => collector.close(() => r()));
});

describe('tracing through two proxies', () => {
  it('a new trace: a client span at A and its child server span at B, same trace id; the app gets B as parent', async () => {
    received.length = 0;
    appSaw.length = 0;
    const r = await request(portA, '/reviews/1', { host: 'b.ns:80' });
    expect(r.status).toBe(200);
    await waitForSpans(2);
    expect(posts).toEqual(expect.arrayContaining(['/v1/traces', '/api/v2/spans']));
    const client = received.find((s) => s.kind === 'CLIENT')!;
    const server = received.find((s) => s.kind === 'SERVER')!;
    expect(client).toBeDefined();
    expect(server).toBeDefined();
    expect(client.parentSpanId).toBeUndefined();
    expect(server.traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.attrs).toMatchObject({
      'http.method': 'GET', 'http.url': 'http://b.ns:80/reviews/1', 'http.status_code': '200', upstream_cluster: 'outbound|80||b',
      node_id: 'sidecar~127.0.0.1~a.ns~ns.svc.cluster.local', response_flags: '-',
    });
    expect(server.attrs).toMatchObject({ upstream_cluster: 'inbound|8080||', node_id: 'sidecar~127.0.0.1~b.ns~ns.svc.cluster.local', 'http.status_code': '200' });
    const seen = appSaw[0]!;
    expect(seen['traceparent']).toBe(`00-${client.traceId}-${server.spanId}-01`);
    expect(seen['x-b3-traceid']).toBe(client.traceId);
    expect(seen['x-b3-spanid']).toBe(server.spanId);
    expect(seen['x-b3-parentspanid']).toBe(client.spanId);
    expect(seen['x-b3-sampled']).toBe('1');
  });

  it('continues a caller\'s sampled traceparent and keeps tracestate', async () => {
    received.length = 0;
    appSaw.length = 0;
    const T = '0af7651916cd43dd8448eb211c80319c';
    const P = 'b7ad6b7169203331';
    await request(portA, '/x', { headers: { traceparent: `00-${T}-${P}-01`, tracestate: 'congo=t61rcWkgMzE' } });
    await waitForSpans(2);
    const client = received.find((s) => s.kind === 'CLIENT')!;
    const server = received.find((s) => s.kind === 'SERVER')!;
    expect([client.traceId, client.parentSpanId]).toEqual([T, P]);
    expect([server.traceId, server.parentSpanId]).toEqual([T, client.spanId]);
    expect(appSaw[0]!['tracestate']).toBe('congo=t61rcWkgMzE');
  });

  it('an unsampled caller: no spans, but the context still reaches the app with the flag off', async () => {
    received.length = 0;
    appSaw.length = 0;
    const T = '1af7651916cd43dd8448eb211c80319c';
    await request(portA, '/x', { headers: { traceparent: `00-${T}-b7ad6b7169203331-00` } });
    await new Promise((r) => setTimeout(r, 300)); // several flush intervals
    expect(received).toEqual([]);
    expect(appSaw[0]!['traceparent']).toMatch(new RegExp(`^00-${T}-[0-9a-f]{16}-00$`));
    expect(appSaw[0]!['x-b3-sampled']).toBe('0');
  });

  it('a malformed traceparent starts a new trace instead of failing', async () => {
    received.length = 0;
    appSaw.length = 0;
    const r = await request(portA, '/x', { headers: { traceparent: '00-not-a-trace-01' } });
    expect(r.status).toBe(200);
    await waitForSpans(2);
    expect(received).toHaveLength(2);
    expect(received[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(appSaw[0]!['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('B3 single-header callers are answered in the same form', async () => {
    appSaw.length = 0;
    const T = '2af7651916cd43dd8448eb211c80319c';
    await request(portA, '/x', { headers: { b3: `${T}-b7ad6b7169203331-1` } });
    expect(appSaw[0]!['b3']).toMatch(new RegExp(`^${T}-[0-9a-f]{16}-1-[0-9a-f]{16}$`));
    expect(appSaw[0]!['x-b3-traceid']).toBeUndefined();
  });

  it('with tracing off, trace headers pass through untouched and none are added', async () => {
    appSaw.length = 0;
    const tp = '00-3af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await request(portOff, '/x', { headers: { traceparent: tp, tracestate: 'a=1', b3: 'garbage-kept' } });
    await request(portOff, '/x');
    expect(appSaw[0]).toMatchObject({ traceparent: tp, tracestate: 'a=1', b3: 'garbage-kept' });
    expect(appSaw[0]!['x-b3-traceid']).toBeUndefined();
    expect(appSaw[1]!['traceparent']).toBeUndefined();
    expect(appSaw[1]!['x-b3-traceid']).toBeUndefined();
    expect(proxyOff.spans).toBeUndefined();
  });

  it('counts exported spans in the proxies\' stats', async () => {
    const end = Date.now() + 3000;
    const exported = (p: Proxy): number => p.stats.sum('weft_tracing_spans_total', { outcome: 'exported' });
    // Each proxy flushes on its own timer: wait for both.
    while ((exported(proxyA) < 4 || exported(proxyB) < 4) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    expect(proxyA.stats.sum('weft_tracing_spans_total', { outcome: 'exported' })).toBeGreaterThanOrEqual(4);
    expect(proxyB.stats.sum('weft_tracing_spans_total', { outcome: 'exported' })).toBeGreaterThanOrEqual(4);
    expect(proxyA.stats.sum('weft_tracing_spans_total', { outcome: 'dropped' })).toBe(0);
  });
});
