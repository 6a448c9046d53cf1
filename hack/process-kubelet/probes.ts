// Container probes (readiness, liveness, startup) with the kubelet's thresholds.
// httpGet and tcpSocket connect from the host to the pod IP, as the real kubelet does (the
// pod's netns is reachable over the bridge); a loopback host is probed from inside the netns.
// exec runs the command inside the container's network and mount namespaces (nsenter).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { V1ContainerPort, V1Probe } from '@kubernetes/client-node';
import { run } from './run.js';

export interface ProbeTarget {
  podIP: string;
  netns: string;
  pid: number | undefined;
  ports: V1ContainerPort[];
  env: Record<string, string>;
}

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export function resolvePort(port: number | string | undefined, ports: V1ContainerPort[]): number {
  if (typeof port === 'number') return port;
  if (port === undefined) return 0;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort ?? 0;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

async function httpProbe(probe: NonNullable<V1Probe['httpGet']>, t: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const host = probe.host || t.podIP;
  const port = resolvePort(probe.port as number | string, t.ports);
  const scheme = (probe.scheme ?? 'HTTP').toLowerCase();
  const pathPart = probe.path ?? '/';
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.36' };
  for (const h of probe.httpHeaders ?? []) headers[h.name] = h.value;
  if (isLoopback(host)) {
    const args = ['netns', 'exec', t.netns, 'curl', '-s', '-k', '-o', '/dev/null', '-w', '%{http_code}', '-m', String(Math.ceil(timeoutMs / 1000))];
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
    args.push(`${scheme}://${host}:${port}${pathPart}`);
    const r = await run('ip', args, { allowFail: true, timeoutMs: timeoutMs + 2000 });
    const code = Number(r.stdout.trim());
    return { ok: code >= 200 && code < 400, message: `HTTP probe status ${code}` };
  }
  const mod = scheme === 'https' ? https : http;
  return await new Promise((resolve) => {
    const req = mod.request({ host, port, path: pathPart, method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, message: `Get "${scheme}://${host}:${port}${pathPart}": ${e.message}` }));
    req.end();
  });
}

async function tcpProbe(host: string, port: number, t: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  if (isLoopback(host)) {
    const r = await run('ip', ['netns', 'exec', t.netns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { allowFail: true, timeoutMs });
    return { ok: r.code === 0, message: r.code === 0 ? '' : `dial tcp ${host}:${port}: connection refused` };
  }
  return await new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.on('connect', () => {
      s.destroy();
      resolve({ ok: true, message: '' });
    });
    s.on('timeout', () => {
      s.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    });
    s.on('error', (e) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
  });
}

export async function runProbe(probe: V1Probe, t: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) return await httpProbe(probe.httpGet, t, timeoutMs);
  if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket.host || t.podIP, resolvePort(probe.tcpSocket.port as number | string, t.ports), t, timeoutMs);
  if (probe.grpc) return await tcpProbe(t.podIP, probe.grpc.port, t, timeoutMs); // approximation: port open
  if (probe.exec) {
    if (!t.pid) return { ok: false, message: 'container not running' };
    const r = await run('nsenter', ['--target', String(t.pid), '--mount', '--net', '--', ...(probe.exec.command ?? [])], { allowFail: true, timeoutMs, env: t.env });
    return { ok: r.code === 0, message: r.code === 0 ? '' : `exec probe exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
  }
  return { ok: false, message: 'probe has no handler' };
}

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/**
 * Runs one probe periodically with the kubelet's thresholds and reports transitions.
 * onResult(true) after successThreshold passes, onResult(false) after failureThreshold fails.
 */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private state: boolean | undefined;
  lastMessage = '';

  constructor(
    private readonly probe: V1Probe,
    private readonly target: () => ProbeTarget,
    private readonly onResult: (ok: boolean, message: string) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let r: ProbeResult;
    try {
      r = await runProbe(this.probe, this.target());
    } catch (e) {
      r = { ok: false, message: String(e) };
    }
    if (this.stopped) return;
    this.lastMessage = r.message;
    if (r.ok) {
      this.successes++;
      this.failures = 0;
      if (this.successes >= (this.probe.successThreshold ?? 1) && this.state !== true) {
        this.state = true;
        this.onResult(true, r.message);
      }
    } else {
      this.failures++;
      this.successes = 0;
      if (this.failures >= (this.probe.failureThreshold ?? 3) && this.state !== false) {
        this.state = false;
        this.onResult(false, r.message);
      }
    }
    this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }
}
