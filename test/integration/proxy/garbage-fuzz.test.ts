// Bad input, broader than the hand-written cases: 750 connections of seeded random garbage after
// valid starts on one HTTP listener (HTTP/2 preface + random frames, HEADERS with random HPACK,
// raw bytes, TLS-looking records, WebSocket and h2c upgrades followed by junk, broken chunked
// bodies, HTTP/2 uploads cut off mid-stream). The proxy must not throw anywhere (an uncaught
// error fails the suite), must still serve, and its memory must stay bounded. The seed makes a
// failure reproducible. Bounded: a fixed number of cases, each held open at most 30 ms.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http2 from 'node:http2';
import net from 'node:net';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, request, startProxy, type Backend } from './helpers.js';

const SEED = 0x5eed7;

/** mulberry32: a tiny seeded PRNG, so every run sends the same bytes. */
function prng(seed: number): { int(lo: number, hi: number): number; bytes(n: number): Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo));
  return { int, bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(0, 256))) };
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}
const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));

let backend: Backend;
let proxy: Proxy;
let port: number;

beforeAll(async () => {
  backend = await httpBackend('b');
  port = await freePort();
  proxy = await startProxy({
    listeners: [httpListener('l', port, 'r')],
    routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 2 } } }])],
    clusters: [edsCluster('c')], endpoints: [cla('c', [backend.port])],
  });
});

afterAll(async () => {
  await proxy.close();
  await backend.close();
});

function send(data: Buffer, holdMs: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.on('connect', () => s.write(data));
    setTimeout(() => { s.destroy(); resolve(); }, holdMs);
  });
}

describe('seeded garbage on an HTTP listener', () => {
  it('750 connections of junk after valid starts: no crash, still serving, memory bounded', async () => {
    const r = prng(SEED);
    const before = process.memoryUsage().rss;
    const cases: Array<() => Buffer> = [
      // HTTP/2 preface + SETTINGS, then five random frames (any type, flags, stream, payload).
      () => Buffer.concat([PREFACE, SETTINGS, ...Array.from({ length: 5 }, () => frame(r.int(0, 12), r.int(0, 256), r.int(0, 8), r.bytes(r.int(0, 64))))]),
      // HEADERS (END_STREAM|END_HEADERS) on stream 1 with a random HPACK block.
      () => Buffer.concat([PREFACE, SETTINGS, frame(1, 5, 1, r.bytes(r.int(1, 40)))]),
      () => r.bytes(r.int(1, 2000)),
      () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), r.bytes(200)]),
      () => Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nhost: svc\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: x\r\nsec-websocket-version: 13\r\n\r\n'), r.bytes(300)]),
      () => Buffer.from(`GET / HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n${'x'.repeat(r.int(0, 50))}`),
      () => Buffer.concat([Buffer.from('POST / HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n'), r.bytes(50)]),
    ];
    const counts = [300, 100, 100, 50, 50, 50, 50];
    let sent = 0;
    for (const [i, make] of cases.entries()) {
      for (let k = 0; k < counts[i]!; k++) { await send(make(), 20); sent++; }
    }
    // HTTP/2 uploads cut off mid-stream: the session is destroyed 5 ms after 1 KB of body.
    for (let k = 0; k < 50; k++) {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => undefined);
      const q = s.request({ ':method': 'POST', ':path': '/', ':authority': 'svc' });
      q.on('error', () => undefined);
      q.write(r.bytes(1000));
      await new Promise((done) => setTimeout(done, 5));
      s.destroy();
      sent++;
    }
    await new Promise((done) => setTimeout(done, 300));
    expect(sent).toBe(750);
    expect((await request(port, '/after-garbage')).status).toBe(200);
    expect(process.memoryUsage().rss - before).toBeLessThan(128 * 1024 * 1024);
  });
});
