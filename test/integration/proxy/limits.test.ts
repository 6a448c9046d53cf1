import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http2 from 'node:http2';
import net from 'node:net';
import { Writable } from 'node:stream';
import { createRootLogger, silentLogger } from '../../../src/log/logger.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, rawExchange, request, type Backend } from './helpers.js';

let backend: Backend;
let proxy: Proxy;
let port: number;
const logLines: string[] = [];

beforeAll(async () => {
  backend = await httpBackend('b');
  port = await freePort();
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { logLines.push(chunk.toString()); cb(); } });
  proxy = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1', headersTimeoutMs: 300, accessLog: createRootLogger('access', { destination: sink }) });
  const listener = httpListener('l', port, 'r');
  (listener.filter_chains![0]!.filters![0]!.typed_config as Record<string, unknown>).max_request_headers_kb = { value: 8 };
  await proxy.apply(buildProxyConfig({
    listeners: [listener],
    routes: [routeConfig('r', [
      {
        match: { prefix: '/limited' }, route: { cluster: 'c' },
        typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', token_bucket: { max_tokens: 5, tokens_per_fill: { value: 5 }, fill_interval: { seconds: 60 } } } },
      },
      { match: { prefix: '/' }, route: { cluster: 'c' } },
    ])],
    clusters: [edsCluster('c')], endpoints: [cla('c', [backend.port])],
  }));
});

afterAll(async () => {
  await proxy.close();
  await backend.close();
});

describe('limits against abuse', () => {
  it('a slowloris client (one header byte at a time) gets 408 and a close', async () => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    s.on('data', (d) => { reply += d.toString(); });
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write('GET / HTTP/1.1\r\nhost: svc\r\n');
    const drip = setInterval(() => { if (!s.destroyed) s.write('x'); }, 50);
    const t = Date.now();
    await closed;
    clearInterval(drip);
    expect(reply).toMatch(/^HTTP\/1.1 408/);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('the listener\'s max_request_headers_kb (8 KiB) is enforced with 431', async () => {
    const r = await rawExchange(port, `GET / HTTP/1.1\r\nhost: svc\r\nx-big: ${'a'.repeat(10 * 1024)}\r\n\r\n`);
    expect(r.reply).toMatch(/^HTTP\/1.1 431/);
    expect((await request(port, '/ok', { headers: { 'x-small': 'a'.repeat(4 * 1024) } })).status).toBe(200);
  });

  it('HTTP/1.x: more than max_headers_count (100) header lines is 431, on the raw path and on node:http', async () => {
    // host + 99 = 100 lines pass; host + 100 do not. HTTP/1.0, Expect and Upgrade requests take node:http,
    // which on its own would drop the extra lines silently.
    const lines = (n: number): string => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
    for (const [start, extra] of [['GET / HTTP/1.1', ''], ['GET / HTTP/1.0', ''], ['GET / HTTP/1.1', 'connection: upgrade\r\nupgrade: websocket\r\n']] as const) {
      const fixed = 1 + (extra ? 2 : 0);
      const over = await rawExchange(port, `${start}\r\nhost: svc\r\n${extra}${lines(101 - fixed)}\r\n`);
      expect(`${start} ${over.reply}`).toMatch(/ HTTP\/1.1 431/);
      if (!extra) {
        const at = await rawExchange(port, `${start}\r\nhost: svc\r\n${lines(100 - fixed)}\r\n`);
        expect(`${start} ${at.reply}`).toMatch(/ HTTP\/1.1 200/);
      }
    }
  });

  it('HTTP/2: the same limits, 431 on the stream, and the session keeps serving', async () => {
    // Each block goes out on a fresh session before the proxy's SETTINGS arrive, as a client that
    // ignores SETTINGS_MAX_HEADER_LIST_SIZE would send it (node's client honours it once known).
    // A second, small request on the same session must still be served.
    const exchange = (headers: Record<string, string>): Promise<string[]> => new Promise((resolve) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
      const out: string[] = [];
      const send = (h: Record<string, string>, then: () => void): void => {
        const s = session.request({ ':path': '/', ':authority': 'svc', ...h });
        s.on('response', (r) => { out.push(`status ${String(r[':status'])}`); s.resume(); s.on('close', then); });
        s.on('error', (e: NodeJS.ErrnoException) => { out.push(`error ${e.code ?? e.message}`); then(); });
        s.end();
      };
      send(headers, () => send({}, () => { session.close(); resolve(out); }));
    });
    const many = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v']));
    expect(await exchange({ 'x-small': 'a'.repeat(4 * 1024) })).toEqual(['status 200', 'status 200']);
    // 10 KiB against the listener's 8 KiB: the advertised SETTINGS alone let this through.
    expect(await exchange({ 'x-big': 'a'.repeat(10 * 1024) })).toEqual(['status 431', 'status 200']);
    expect(await exchange(many(100))).toEqual(['status 200', 'status 200']);
    expect(await exchange(many(101))).toEqual(['status 431', 'status 200']);
    // Far over the count: node:http2 resets that stream itself (ENHANCE_YOUR_CALM).
    const far = await exchange(many(300));
    expect(far[0]).toMatch(/^error ERR_HTTP2_STREAM_ERROR/);
    expect(far[1]).toBe('status 200');
  });

  it('HTTP/2 rapid reset (CVE-2023-44487): the flooding session is shut, nothing crashes, others are served', async () => {
    // Before the fix a stream the client had already reset was closed with no 'error' listener,
    // and the unhandled error took the whole proxy down. Bounded: 5,000 streams or 10 s.
    const hitsBefore = backend.hits;
    const flood = http2.connect(`http://127.0.0.1:${port}`);
    let goaway: number | undefined;
    let closed = false;
    flood.on('goaway', (code) => { goaway = code; });
    flood.on('close', () => { closed = true; });
    flood.on('error', () => undefined);
    await new Promise((r) => flood.once('connect', r));
    let sent = 0;
    const end = Date.now() + 10_000;
    for (let i = 0; i < 5000 && !closed && !flood.destroyed && Date.now() < end; i++) {
      try {
        const st = flood.request({ ':path': `/flood/${i}`, ':authority': 'svc' });
        st.on('error', () => undefined);
        st.close(http2.constants.NGHTTP2_CANCEL);
        sent++;
      } catch {
        break; // the session is going away
      }
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    const shutBy = Date.now() + 5000;
    while (!closed && Date.now() < shutBy) await new Promise((r) => setTimeout(r, 20));
    flood.destroy();
    expect(closed).toBe(true);
    expect(goaway).toBeDefined(); // the proxy said goodbye, the client did not just stop
    expect(sent).toBeLessThan(5000);
    expect(backend.hits - hitsBefore).toBeLessThan(sent / 2); // reset streams are not forwarded
    const other = http2.connect(`http://127.0.0.1:${port}`);
    other.on('error', () => undefined);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const q = other.request({ ':path': '/after-flood', ':authority': 'svc' });
        q.on('response', (h) => { q.resume(); resolve(Number(h[':status'])); });
        q.on('error', reject);
        q.end();
      });
      expect(status).toBe(200);
    } finally {
      other.close();
    }
  });

  it('100 garbage connections at once: all closed, proxy still serves, memory bounded', async () => {
    const before = process.memoryUsage().rss;
    const garbage = Array.from({ length: 100 }, (_, i) => rawExchange(port, Buffer.from(Array.from({ length: 512 }, (_x, j) => (i * 31 + j * 7) % 256)), 2000));
    const rs = await Promise.all(garbage);
    expect(rs.every((r) => r.closed)).toBe(true);
    expect((await request(port, '/after')).status).toBe(200);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('local rate limit: a 5-token bucket lets 5 through and answers 429 RL after', async () => {
    const rs = [];
    for (let i = 0; i < 8; i++) rs.push(await request(port, '/limited'));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(rs[7]!.headers['x-weft-response-flags']).toBe('RL');
    expect((await request(port, '/other')).status).toBe(200);
  });

  it('writes a JSON access log line per request', async () => {
    await request(port, '/logged?x=1', { headers: { 'x-request-id': 'rid-1' } });
    const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === 'rid-1');
    expect(line).toMatchObject({ msg: 'access', method: 'GET', path: '/logged?x=1', status: 200, flags: '-', cluster: 'c' });
  });
});
