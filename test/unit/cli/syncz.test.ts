// /debug/syncz parsing, the STALE grace, the check verdicts and proxy-status --controlplane-debug,
// with canned bodies shaped like the control plane's (src/xds/debug.ts) served from 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../../../src/cli/app.js';
import { proxySyncCheck } from '../../../src/cli/check/checks.js';
import { synczProxySyncSource } from '../../../src/cli/commands/check.js';
import { matchesPodRef } from '../../../src/cli/commands/proxy.js';
import { bufferIO, CliError, EXIT } from '../../../src/cli/io.js';
import { run } from '../../../src/cli/program.js';
import {
  applyStaleGrace, parseSyncz, parseSynczText, proxyName, SynczClient, synczToProxySyncs, synczUrl,
} from '../../../src/cli/syncz.js';

const ACK_ID = 'sidecar~10.88.0.5~reviews-v1-abc.shop~shop.svc.cluster.local';
const NACK_ID = 'sidecar~10.88.0.6~ratings-v1-def.shop~shop.svc.cluster.local';

function type(t: string, state: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: t, state, ...extra };
}

const SYNCED = {
  pushes: 3,
  lastPush: { push: 3, at: '2026-01-01T00:00:00.000Z', events: 1, groups: 1, nodes: 2, translateMs: 1, encodedResources: 4 },
  proxies: [{
    nodeId: ACK_ID, flavour: 'sidecar', namespace: 'shop', group: 'g1', snapshot: 's3',
    types: [type('CDS', 'SYNCED', { sent: '3', acked: '3' }), type('EDS', 'SYNCED', { sent: '3', acked: '3' }), type('LDS', 'SYNCED', { sent: '3', acked: '3' }), type('RDS', 'SYNCED', { sent: '3', acked: '3' })],
  }],
};
const stale = (sent: string): unknown => ({
  pushes: 4,
  proxies: [{ nodeId: ACK_ID, types: [type('CDS', 'STALE', { sent, acked: '3' }), type('LDS', 'SYNCED', { sent: '3', acked: '3' })] }],
});
const nack = { version: '3', nonce: '7', message: 'cluster outbound|80||x: bad lb_policy', code: 3, at: '2026-01-01T00:00:00.000Z', typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' };
const NACKED = {
  pushes: 3,
  proxies: [
    SYNCED.proxies[0],
    { nodeId: NACK_ID, types: [type('CDS', 'NACKED', { sent: '3', acked: '2', lastNack: nack }), type('LDS', 'SYNCED', { sent: '3', acked: '3' })], lastNack: nack },
  ],
};

describe('parseSyncz', () => {
  it('reads SYNCED, STALE and NACKED bodies', () => {
    const s = parseSyncz(SYNCED);
    expect(s.pushes).toBe(3);
    expect(s.lastPushAt).toBe('2026-01-01T00:00:00.000Z');
    expect(synczToProxySyncs(s)).toEqual([{ proxy: 'reviews-v1-abc.shop', types: { CDS: 'SYNCED', EDS: 'SYNCED', LDS: 'SYNCED', RDS: 'SYNCED' } }]);
    expect(synczToProxySyncs(parseSyncz(stale('4')))[0]?.types.CDS).toBe('STALE');
    const n = synczToProxySyncs(parseSyncz(NACKED));
    const two = parseSyncz({ proxies: [{ nodeId: 'n', types: [type('CDS', 'NACKED', { lastNack: nack }), type('LDS', 'NACKED', { lastNack: nack }), type('RDS', 'NACKED')] }] });
    expect(synczToProxySyncs(two)[0]?.error).toBe('CDS,LDS NACKed: cluster outbound|80||x: bad lb_policy; RDS NACKed: no error detail');
    expect(n[1]).toEqual({ proxy: 'ratings-v1-def.shop', types: { CDS: 'NACK', LDS: 'SYNCED' }, error: 'CDS NACKed: cluster outbound|80||x: bad lb_policy' });
  });
  it('an empty proxy list is fine', () => {
    expect(parseSyncz({ pushes: 0, proxies: [] }).proxies).toEqual([]);
  });
  it('garbage bodies name the bad field', () => {
    expect(() => parseSynczText('<html>oops</html>')).toThrow('/debug/syncz did not return JSON (body starts with "<html>oops</html>")');
    expect(() => parseSynczText('[]')).toThrow('invalid /debug/syncz body: body must be a JSON object');
    expect(() => parseSyncz({ pushes: 1 })).toThrow('proxies must be a list');
    expect(() => parseSyncz({ pushes: 'x', proxies: [] })).toThrow('pushes must be a number');
    expect(() => parseSyncz({ proxies: [42] })).toThrow('proxies[0] must be an object');
    expect(() => parseSyncz({ proxies: [{ types: [] }] })).toThrow('proxies[0].nodeId is missing');
    expect(() => parseSyncz({ proxies: [{ nodeId: 'a', types: {} }] })).toThrow('proxies[0].types must be a list');
    expect(() => parseSyncz({ proxies: [{ nodeId: 'a', types: [{ type: 'CDS', state: 'WEIRD' }] }] })).toThrow('proxies[0].types[0].state must be one of SYNCED, STALE, NACKED, NOT SENT, got "WEIRD"');
    expect(() => parseSyncz({ proxies: [{ nodeId: 'a', types: [{ state: 'SYNCED' }] }] })).toThrow('proxies[0].types[0].type is missing');
    expect(() => parseSyncz({ proxies: [{ nodeId: 'a', types: [{ type: 'CDS', state: 'SYNCED', sent: 3 }] }] })).toThrow('proxies[0].types[0].sent must be a string, got number');
    expect(() => parseSyncz({ proxies: [{ nodeId: 'a', types: [], lastNack: 'x' }] })).toThrow('proxies[0].lastNack must be an object');
  });
  it('proxy names come from sidecar node ids', () => {
    expect(proxyName(ACK_ID)).toBe('reviews-v1-abc.shop');
    expect(proxyName('plain-node')).toBe('plain-node');
    expect(matchesPodRef('reviews-v1-abc.shop', 'reviews-v1-abc')).toBe(true);
    expect(matchesPodRef('reviews-v1-abc.shop', 'shop/reviews-v1-abc')).toBe(true);
    expect(matchesPodRef('reviews-v1-abc.shop', 'other/reviews-v1-abc')).toBe(false);
  });
});

describe('STALE grace', () => {
  it('stuck at the same sent version stays STALE; a newer push is PENDING', () => {
    expect(applyStaleGrace(parseSyncz(stale('4')), parseSyncz(stale('4')))[0]?.types.CDS).toBe('STALE');
    expect(applyStaleGrace(parseSyncz(stale('4')), parseSyncz(stale('5')))[0]?.types.CDS).toBe('PENDING');
    expect(applyStaleGrace(parseSyncz(SYNCED), parseSyncz(stale('4')))[0]?.types.CDS).toBe('PENDING');
    expect(applyStaleGrace(parseSyncz(stale('4')), parseSyncz(SYNCED))[0]?.types.CDS).toBe('SYNCED');
  });
});

describe('proxySyncCheck on syncz rows', () => {
  it('SYNCED passes, stuck STALE warns, PENDING passes, NACK fails naming proxy, type and error', () => {
    expect(proxySyncCheck('cp', synczToProxySyncs(parseSyncz(SYNCED))).status).toBe('pass');
    const w = proxySyncCheck('cp', applyStaleGrace(parseSyncz(stale('4')), parseSyncz(stale('4'))));
    expect(w.status).toBe('warn');
    expect(w.message).toContain('reviews-v1-abc.shop [CDS]');
    const p = proxySyncCheck('cp', applyStaleGrace(parseSyncz(stale('4')), parseSyncz(stale('5'))));
    expect(p.status).toBe('pass');
    expect(p.message).toContain('1 still receiving a new push');
    const f = proxySyncCheck('cp', synczToProxySyncs(parseSyncz(NACKED)));
    expect(f.status).toBe('fail');
    expect(f.message).toContain('ratings-v1-def.shop [CDS] (CDS NACKed: cluster outbound|80||x: bad lb_policy)');
    expect(f.message).not.toContain('reviews-v1-abc');
  });
});

describe('synczUrl', () => {
  it('appends /debug/syncz and keeps to loopback / the local pod CIDR over http', () => {
    expect(synczUrl('http://127.0.0.1:15014').href).toBe('http://127.0.0.1:15014/debug/syncz');
    expect(synczUrl('http://localhost:15014/').href).toBe('http://localhost:15014/debug/syncz');
    expect(synczUrl('http://10.88.0.3:15014/debug/syncz').href).toBe('http://10.88.0.3:15014/debug/syncz');
    const code = (f: () => unknown): number | undefined => {
      try {
        f();
      } catch (e) {
        return (e as CliError).exitCode;
      }
      return undefined;
    };
    expect(code(() => synczUrl('not a url'))).toBe(EXIT.usage);
    expect(code(() => synczUrl('https://127.0.0.1:1'))).toBe(EXIT.usage);
    expect(code(() => synczUrl('http://192.168.1.1:15014'))).toBe(EXIT.usage);
    expect(() => synczUrl('http://8.8.8.8:15014')).toThrow('only contacts 127.0.0.0/8 or 10.88.0.0/16');
  });
});

describe('over HTTP (canned server on 127.0.0.1)', () => {
  let server: http.Server;
  let base = '';
  let bodies: Array<{ status: number; text: string }> = [];
  let hits = 0;
  const serve = (...b: Array<{ status?: number; body: unknown }>): void => {
    bodies = b.map((x) => ({ status: x.status ?? 200, text: typeof x.body === 'string' ? x.body : JSON.stringify(x.body) }));
    hits = 0;
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const b = bodies[Math.min(hits, bodies.length - 1)] ?? { status: 500, text: '' };
      hits++;
      res.writeHead(req.url === '/debug/syncz' ? b.status : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/debug/syncz' ? b.text : '{"error":"unknown path"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('the source reads once when nothing is STALE, twice (after the grace) otherwise', async () => {
    serve({ body: SYNCED });
    const src = synczProxySyncSource(base, 0);
    expect(src.description).toBe(`control plane ${base}/debug/syncz`);
    expect((await src.fetch())?.[0]?.types.CDS).toBe('SYNCED');
    expect(hits).toBe(1);
    serve({ body: stale('4') }, { body: stale('4') });
    const slept: number[] = [];
    const c = new SynczClient(base, { graceMs: 1500, sleep: async (ms) => { slept.push(ms); } });
    expect((await c.fetch())[0]?.types.CDS).toBe('STALE');
    expect(hits).toBe(2);
    expect(slept).toEqual([1500]);
  });
  it('garbage, HTTP errors and a closed port are clear errors', async () => {
    serve({ body: 'not json at all' });
    await expect(new SynczClient(base).fetch()).rejects.toThrow('/debug/syncz did not return JSON');
    serve({ status: 500, body: { error: 'internal error' } });
    await expect(new SynczClient(base).fetch()).rejects.toThrow('answered HTTP 500');
    serve({ body: { proxies: 'nope' } });
    await expect(new SynczClient(base).fetch()).rejects.toThrow('invalid /debug/syncz body: proxies must be a list');
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(new SynczClient(`http://127.0.0.1:${port}`).fetch()).rejects.toThrow('ECONNREFUSED');
  });

  function app(io: ReturnType<typeof bufferIO>): App {
    return { io, now: () => new Date('2026-01-01T00:00:00Z'), packageRoot: process.cwd(), version: '0.1.0' };
  }
  async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = bufferIO();
    const code = await run(argv, app(io));
    return { code, out: io.stdout.join(''), err: io.stderr.join('') };
  }

  it('proxy-status --controlplane-debug shows SYNCED/NACK without a cluster and exits 1 on a NACK', async () => {
    serve({ body: SYNCED });
    let r = await cli(['proxy-status', '--controlplane-debug', base]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/reviews-v1-abc\.shop\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);
    serve({ body: NACKED });
    r = await cli(['proxy-status', '--controlplane-debug', base]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.out).toMatch(/ratings-v1-def\.shop\s+NACK/);
    expect(r.out).toContain('NACK ratings-v1-def.shop: CDS NACKed: cluster outbound|80||x: bad lb_policy');
    r = await cli(['proxy-status', '--controlplane-debug', base, 'shop/reviews-v1-abc', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([{ proxy: 'reviews-v1-abc.shop', types: { CDS: 'SYNCED', EDS: 'SYNCED', LDS: 'SYNCED', RDS: 'SYNCED' } }]);
    serve({ body: stale('4') });
    r = await cli(['proxy-status', '--controlplane-debug', base]);
    expect(r.out).toMatch(/reviews-v1-abc\.shop\s+STALE\s+SYNCED/);
    serve({ body: '<html>' });
    r = await cli(['proxy-status', '--controlplane-debug', base]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.err).toContain('/debug/syncz did not return JSON');
  });
  it('a bad --controlplane-debug URL is a usage error for check and proxy-status', async () => {
    expect((await cli(['check', '--controlplane-debug', 'http://8.8.8.8:1'])).code).toBe(EXIT.usage);
    const r = await cli(['proxy-status', '--controlplane-debug', 'nope']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain('--controlplane-debug nope: not a URL');
  });
});
