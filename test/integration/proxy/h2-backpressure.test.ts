// An HTTP/2 upload through the proxy to an HTTP/2 upstream that stops reading must stall the
// client (flow control end to end), not pile the body up in the proxy's memory. The proxy keeps
// a replay copy for retries only up to 1 MiB; past that, what it holds is bounded by the
// stream windows and one write buffer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, startProxy } from './helpers.js';

const CHUNK = Buffer.alloc(64 * 1024, 7);
const OFFER_MS = 2000;
const MAX_OFFER = 64 * 1024 * 1024;

let upstream: http2.Http2Server;
let upstreamPort: number;
let received = 0;
let stalled: http2.ServerHttp2Stream | undefined;
const attempts: Array<{ bytes: number; sha: string }> = [];
let proxy: Proxy;
let port: number;

beforeAll(async () => {
  upstream = http2.createServer();
  upstream.on('stream', (s, headers) => {
    if (headers[':path'] === '/flaky') { flakyAttempt(s); return; }
    // Reads the first 256 KiB, then stops reading: the upload must stall behind it.
    s.on('data', (c: Buffer) => { received += c.length; if (received >= 256 * 1024) s.pause(); });
    stalled = s;
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamPort = (upstream.address() as { port: number }).port;
  port = await freePort();
  proxy = await startProxy({
    listeners: [httpListener('l', port, 'r')],
    routes: [routeConfig('r', [
      { match: { prefix: '/flaky' }, route: { cluster: 'up', timeout: { seconds: 30 }, retry_policy: { retry_on: '5xx', num_retries: { value: 2 } } } },
      { match: { prefix: '/' }, route: { cluster: 'up', timeout: { seconds: 30 } } },
    ])],
    clusters: [edsCluster('up', { http2_protocol_options: {} })], endpoints: [cla('up', [upstreamPort])],
  });
});

/**
 * First attempt: reads 128 KiB, stops reading (so the proxy has to hold the client back), and
 * 300 ms later answers 503 without reading the rest. The retry must get the whole body.
 */
function flakyAttempt(s: http2.ServerHttp2Stream): void {
  const hash = createHash('sha256');
  let bytes = 0;
  const first = attempts.length === 0;
  const record = (): void => { attempts.push({ bytes, sha: hash.digest('hex') }); };
  s.on('error', () => undefined);
  s.on('data', (c: Buffer) => {
    bytes += c.length;
    hash.update(c);
    if (first && bytes >= 128 * 1024 && !s.isPaused()) {
      s.pause();
      setTimeout(() => { record(); s.respond({ ':status': 503 }, { endStream: true }); }, 300);
    }
  });
  s.on('end', () => { if (!first) { record(); s.respond({ ':status': 200 }, { endStream: true }); } });
}

afterAll(async () => {
  await proxy.close();
  await new Promise((r) => upstream.close(r));
});

describe('HTTP/2 request backpressure', () => {
  it('a client uploading to an upstream that stopped reading is held back by flow control', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'svc' });
    req.on('error', () => undefined);
    let offered = 0;
    const end = Date.now() + OFFER_MS;
    // Write while the stream accepts; wait for 'drain' (bounded by the deadline) when it does not.
    while (Date.now() < end && offered < MAX_OFFER) {
      if (req.write(CHUNK)) { offered += CHUNK.length; continue; }
      offered += CHUNK.length;
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), Math.max(1, end - Date.now()));
        req.once('drain', () => { clearTimeout(t); resolve(true); });
      });
      if (!drained) break;
    }
    // What left the client but did not reach the upstream sits in windows and buffers; without
    // backpressure the proxy reads on and the client pushes the whole 64 MiB in a fraction of 2 s.
    const inFlight = offered - received;
    req.close(http2.constants.NGHTTP2_CANCEL);
    session.close();
    expect(received).toBeGreaterThanOrEqual(256 * 1024);
    expect(stalled).toBeDefined();
    expect(offered).toBeLessThan(16 * 1024 * 1024);
    expect(inFlight).toBeLessThan(8 * 1024 * 1024);
  });

  it('an upload retried after a 503 mid-body (client held back meanwhile) replays the whole body', async () => {
    const body = Buffer.alloc(768 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/flaky', ':authority': 'svc' });
        req.on('response', (h) => { req.resume(); resolve(Number(h[':status'])); });
        req.on('error', reject);
        req.end(body);
      });
      const sha = createHash('sha256').update(body).digest('hex');
      expect(status).toBe(200);
      expect(attempts).toHaveLength(2);
      expect(attempts[0]!.bytes).toBeLessThan(body.length);
      expect(attempts[1]).toEqual({ bytes: body.length, sha });
    } finally {
      session.close();
    }
  });
});
