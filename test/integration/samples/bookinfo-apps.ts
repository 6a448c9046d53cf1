// Runs Weft's Bookinfo services as real child processes on loopback addresses, the way the
// process kubelet runs them from their images (node + the built fixture script), and a small
// bounded HTTP client for them. Loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

const APPS_DIR = path.join(process.cwd(), 'dist/test/fixtures/apps/bookinfo');
const START_TIMEOUT_MS = 10_000;

export interface App {
  name: string;
  host: string;
  port: number;
  proc: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  output(): string;
}

/** Starts one service on host (a 127.0.0.x address) and a free port; env is all it gets. */
export async function startApp(service: string, name: string, host: string, env: Record<string, string> = {}): Promise<App> {
  if (!host.startsWith('127.')) throw new Error(`refusing to bind ${host}: loopback only`);
  const proc = spawn(process.execPath, [path.join(APPS_DIR, `${service}.js`)], {
    env: { PATH: process.env.PATH ?? '', BIND_ADDRESS: host, PORT: '0', POD_NAME: name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
    const check = (): void => {
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${out}`));
    });
  });
  return { name, host, port, proc, exited, output: () => out };
}

/** SIGTERM, then the exit code (SIGKILL if it does not end within 5 s). */
export async function stopApp(app: App): Promise<number | null> {
  if (app.proc.exitCode !== null || app.proc.signalCode !== null) return app.proc.exitCode;
  app.proc.kill('SIGTERM');
  const kill = setTimeout(() => app.proc.kill('SIGKILL'), 5000);
  try {
    return await app.exited;
  } finally {
    clearTimeout(kill);
  }
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export function get(app: Pick<App, 'host' | 'port'>, path: string, headers: Record<string, string> = {}, timeoutMs = 8000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: app.host, port: app.port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on ${app.host}:${app.port} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Env that points a service at another one, Istio Bookinfo style. */
export function upstreamEnv(name: 'details' | 'reviews' | 'ratings', target: Pick<App, 'host' | 'port'>): Record<string, string> {
  const key = name.toUpperCase();
  return { [`${key}_HOSTNAME`]: target.host, [`${key}_SERVICE_PORT`]: String(target.port) };
}
