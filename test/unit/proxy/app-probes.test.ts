// Rewritten app probes (WEFT_APP_PROBES) served on the proxy's health port: parsing, each kind
// of bad input, and the probe itself against real sockets on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { parseAppProbes, runAppProbe } from '../../../src/proxy/app-probes.js';
import { createAdminHandler } from '../../../src/proxy/admin.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { silentLogger } from '../../../src/log/logger.js';
import { isWeftError } from '../../../src/errors/errors.js';

let app: http.Server;
let port = 0;
let closedPort = 0;

beforeAll(async () => {
  app = http.createServer((req, res) => { res.writeHead(req.url === '/ok' ? 200 : 500); res.end(); });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  port = (app.address() as net.AddressInfo).port;
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
  closedPort = (tmp.address() as net.AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
});
afterAll(async () => { await new Promise<void>((r) => app.close(() => r())); });

describe('parseAppProbes', () => {
  it('reads the injector output', () => {
    const p = parseAppProbes(JSON.stringify({ '/app-health/app/readyz': { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' } }, '/app-health/app/livez': { tcpSocket: { port: 8080 } } }));
    expect([...p.keys()].sort()).toEqual(['/app-health/app/livez', '/app-health/app/readyz']);
  });
  it('treats absent or empty as no probes', () => {
    expect(parseAppProbes(undefined).size).toBe(0);
    expect(parseAppProbes('').size).toBe(0);
  });
  it.each([
    ['not JSON', '{', 'not valid JSON'],
    ['an array', '[]', 'must be an object'],
    ['no port', JSON.stringify({ '/x': { httpGet: { path: '/' } } }), 'no valid httpGet'],
    ['bad port', JSON.stringify({ '/x': { tcpSocket: { port: 70000 } } }), 'no valid httpGet'],
    ['null entry', JSON.stringify({ '/x': null }), 'no valid httpGet'],
  ])('rejects %s with INVALID_CONFIG', (_n, input, msg) => {
    try {
      parseAppProbes(input);
      throw new Error('no error');
    } catch (e) {
      expect(isWeftError(e) && e.code).toBe('WEFT_E_INVALID_CONFIG');
      expect(String((e as Error).message)).toContain(msg);
    }
  });
});

describe('runAppProbe', () => {
  it('httpGet: 2xx passes, 5xx and a closed port fail', async () => {
    expect(await runAppProbe({ httpGet: { path: '/ok', port } })).toBe(true);
    expect(await runAppProbe({ httpGet: { path: '/bad', port } })).toBe(false);
    expect(await runAppProbe({ httpGet: { path: '/ok', port: closedPort } })).toBe(false);
  });
  it('tcpSocket and grpc connect', async () => {
    expect(await runAppProbe({ tcpSocket: { port } })).toBe(true);
    expect(await runAppProbe({ grpc: { port: closedPort } })).toBe(false);
  });
  it('is served under /app-health/ by the admin handler; unknown paths are 404', async () => {
    const handler = createAdminHandler({
      proxy: new Proxy({ logger: silentLogger() }), logger: silentLogger(), drain: () => undefined,
      appProbes: parseAppProbes(JSON.stringify({ '/app-health/app/readyz': { httpGet: { path: '/ok', port } }, '/app-health/app/livez': { httpGet: { path: '/bad', port } } })),
    });
    const srv = http.createServer(handler);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const hp = (srv.address() as net.AddressInfo).port;
    const get = async (p: string): Promise<number> => (await fetch(`http://127.0.0.1:${hp}${p}`)).status;
    try {
      expect(await get('/app-health/app/readyz')).toBe(200);
      expect(await get('/app-health/app/livez')).toBe(503);
      expect(await get('/app-health/other/readyz')).toBe(404);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
