// Loopback backends and a small HTTP client for proxy integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { silentLogger } from '../../../src/log/logger.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { buildProxyConfig, type ResourceSet } from '../../../src/proxy/config/snapshot.js';
import { repoRoot } from '../../helpers/paths.js';
import type { AdsChildSpec } from './ads-child.js';

export async function startProxy(resources: ResourceSet): Promise<Proxy> {
  const p = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1' });
  await p.apply(buildProxyConfig(resources));
  return p;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface Backend { server: http.Server; port: number; hits: number; close(): Promise<void> }

export async function httpBackend(name: string, handler?: http.RequestListener): Promise<Backend> {
  const b: Backend = { server: undefined as unknown as http.Server, port: 0, hits: 0, close: async () => undefined };
  b.server = http.createServer((req, res) => {
    b.hits++;
    if (handler) { handler(req, res); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name, server: 'backend' });
      res.end(body);
    });
  });
  const conns = new Set<net.Socket>();
  b.server.on('connection', (c: net.Socket) => { conns.add(c); c.on('close', () => conns.delete(c)); });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', () => r()));
  b.port = (b.server.address() as net.AddressInfo).port;
  b.close = () => new Promise<void>((r) => { for (const c of conns) c.destroy(); b.server.close(() => r()); });
  return b;
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface Resp { status: number; headers: http.IncomingHttpHeaders; body: string }

export function request(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; host?: string } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: opts.host ?? 'svc', ...opts.headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(opts.body);
  });
}

/** Raw bytes in, everything the server sends until it closes (or `ms` passes). */
export function rawExchange(port: number, data: Buffer | string, ms = 2000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    const t = setTimeout(() => { s.destroy(); resolve({ reply, closed: false }); }, ms);
    s.on('data', (c) => { reply += c.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve({ reply, closed: true }); });
    s.on('error', () => undefined);
    s.write(data);
  });
}

const ADS_CHILD = path.join(repoRoot, 'dist/test/integration/proxy/ads-child.js');

/** The real AdsServer in a process of its own (ads-child.ts) on `port` (0 = any); resolves once it listens. */
export function startAdsChild(port: number, spec: AdsChildSpec): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [ADS_CHILD, String(port), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('control plane child did not start in 20 s')); }, 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) { clearTimeout(t); resolve({ proc, port: Number(m[1]) }); }
    });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`control plane child exited ${code}`)); });
  });
}
