// The mesh e2e harness: `weft controlplane` as a host child process on the pod bridge address
// (10.88.0.1, reachable from every pod netns), the injector (WebhookServer + WebhookCertManager)
// on 127.0.0.1 behind a MutatingWebhookConfiguration that matches only this run's namespaces,
// and bounded traffic helpers that run curl inside pod network namespaces the process kubelet
// created. Everything returns a close() so afterAll can tear it down even after a failure.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { V1MutatingWebhookConfiguration, V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig, type InjectionConfig } from '../../../src/api/injection.js';
import type { KubeClients } from '../../../src/kube/client.js';
import type { Logger } from '../../../src/log/logger.js';
import { WebhookCertManager, systemClock } from '../../../src/webhook/cert-manager.js';
import type { KeyAndCert } from '../../../src/webhook/certs.js';
import { WebhookServer } from '../../../src/webhook/server.js';
import { waitFor } from '../../helpers/cluster.js';
import { repoRoot } from '../kubelet/start.js';
import { defaultVersionCacheDir } from '../../../hack/process-kubelet/images.js';

/** The host end of the pod bridge: pods reach host processes here (DESIGN network rule). */
export const BRIDGE_IP = '10.88.0.1';
export const logDir = path.join(repoRoot, '.cluster', 'logs');

/** A free TCP port on `host` (bind :0, read, close). */
export async function freePort(host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ControlPlaneProcess {
  xdsPort: number;
  caPort: number;
  debugPort: number;
  logFile: string;
  child: ChildProcess;
  /** Text of the log so far (for assertions and failure messages). */
  log(): string;
  close(): Promise<void>;
}

/** Spawns `node dist/src/cmd/weft.js controlplane` listening on BRIDGE_IP; resolves once it logs 'control plane serving'. */
export async function startControlPlaneProcess(opts: {
  kubeconfig: string; meshNamespace: string; id: string; caTls: boolean; timeoutMs?: number;
  /** Restricts trust-bundle publishing to this run's namespaces (never write into other tests' namespaces). */
  bundleNamespaceSelector?: string;
  /** More `weft controlplane` flags (e.g. --outbound-traffic-policy REGISTRY_ONLY); none by default. */
  extraArgs?: string[];
}): Promise<ControlPlaneProcess> {
  const [xdsPort, caPort, debugPort] = [await freePort(BRIDGE_IP), await freePort(BRIDGE_IP), await freePort(BRIDGE_IP)];
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `e2e-mesh-controlplane-${opts.id}.log`);
  const out = fs.openSync(logFile, 'w');
  const args = [
    path.join(repoRoot, 'dist/src/cmd/weft.js'), 'controlplane',
    '--kubeconfig', opts.kubeconfig, '--namespace', opts.meshNamespace, '--host', BRIDGE_IP,
    '--xds-port', String(xdsPort), '--ca-port', String(caPort), '--debug-port', String(debugPort),
    '--bundle-sync-seconds', '1',
    ...(opts.bundleNamespaceSelector ? ['--bundle-namespace-selector', opts.bundleNamespaceSelector] : []),
    ...(opts.caTls ? [] : ['--no-ca-tls']),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', out, out], env: { ...process.env, WEFT_LOG_LEVEL: 'info' } });
  fs.closeSync(out);
  let exited: number | null | undefined;
  const done = new Promise<void>((resolve) => child.on('exit', (code) => { exited = code; resolve(); }));
  const log = (): string => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const close = async (): Promise<void> => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`weft controlplane exited with code ${exited} during start; log ${logFile}:\n${log().slice(-3000)}`);
    if (log().includes('"control plane serving"')) return { xdsPort, caPort, debugPort, logFile, child, log, close };
    await new Promise((r) => setTimeout(r, 200));
  }
  await close();
  throw new Error(`weft controlplane did not start in time; log ${logFile}:\n${log().slice(-3000)}`);
}

export interface Injector {
  port: number;
  configName: string;
  server: WebhookServer;
  close(): Promise<void>;
}

/**
 * The injector in the test process: WebhookServer on 127.0.0.1 with its serving cert from
 * WebhookCertManager, and a MutatingWebhookConfiguration (unique name) whose namespaceSelector
 * requires `selector` — a per-run label — so nobody else's pods are ever sent to us.
 */
export async function startInjector(opts: {
  clients: KubeClients; id: string; secretNamespace: string; selector: Record<string, string>;
  injection: InjectionConfig; logger: Logger;
}): Promise<Injector> {
  const { clients } = opts;
  const configName = `weft-e2e-mesh-inject-${opts.id}`;
  const server = new WebhookServer({ injection: new Map([['default', opts.injection]]), defaultRevision: 'default', logger: opts.logger });
  let initial: KeyAndCert | undefined;
  let listening = false;
  const certs = new WebhookCertManager({
    core: clients.core, admissionReg: clients.admissionReg, namespace: opts.secretNamespace, secretName: 'weft-e2e-webhook-cert',
    mutatingWebhookConfigurations: [configName], validatingWebhookConfigurations: [],
    dnsNames: ['weft-webhook.weft-system.svc'], ipAddresses: ['127.0.0.1'], clock: systemClock, logger: opts.logger,
    propagationDelayMs: 500,
    onCertificate: (tls, notAfter) => { if (listening) server.setTls(tls, notAfter); else initial = tls; },
  });
  await certs.reconcile();
  const port = await server.listen(initial!, 0);
  listening = true;
  const body: V1MutatingWebhookConfiguration = {
    metadata: { name: configName, labels: { 'weft.dev/test': 'true' } },
    webhooks: [{
      name: 'inject.e2e.weft.dev',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: 5,
      reinvocationPolicy: 'IfNeeded',
      clientConfig: { url: `https://127.0.0.1:${port}/inject` },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: {
        matchLabels: opts.selector,
        matchExpressions: [{ key: 'weft.dev/injection', operator: 'In', values: ['enabled'] }],
      },
      objectSelector: { matchExpressions: [{ key: 'sidecar.weft.dev/inject', operator: 'NotIn', values: ['false'] }] },
    }],
  };
  await clients.admissionReg.createMutatingWebhookConfiguration({ body });
  await certs.reconcile(); // patches caBundle now that the configuration exists
  return {
    port, configName, server,
    close: async () => {
      certs.stop();
      await clients.admissionReg.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
      await server.close();
    },
  };
}

/** The InjectionConfig for the e2e mesh: proxies dial the control plane on the bridge address. */
export function meshInjectionConfig(cp: Pick<ControlPlaneProcess, 'xdsPort' | 'caPort'>, version: string): InjectionConfig {
  return defaultInjectionConfig({
    hub: 'ghcr.io/weft', version,
    xdsAddress: `${BRIDGE_IP}:${cp.xdsPort}`, caAddress: `${BRIDGE_IP}:${cp.caPort}`,
    logLevel: 'info', drainDurationSeconds: 1,
    // The in-pod API forwarder lives on the bridge address too; never capture it.
    excludeOutboundCidrs: [`${BRIDGE_IP}/32`],
  });
}

/** The process kubelet's netns name for a pod (hack/process-kubelet/netns.ts podNetNames). */
export function podNetns(pod: V1Pod): string {
  return `wpk-${(pod.metadata?.uid ?? '').replace(/-/g, '').slice(0, 10)}`;
}

export interface CurlResult {
  /** HTTP status, or 0 when the connection failed. */
  status: number;
  body: string;
  headers: Record<string, string>;
  /** curl's exit code (0 = HTTP exchange completed). */
  exit: number;
  stderr: string;
}

export const NETNS_NAME = /^wpk-[0-9a-f]{10}$/;

/**
 * One bounded HTTP request with curl inside a pod netns the process kubelet created. curl runs
 * as root, so the pod's iptables OUTPUT rules capture it exactly like the app's own traffic.
 */
export async function curlInNetns(netns: string, url: string, opts: { headers?: Record<string, string>; timeoutS?: number; method?: string; pathAsIs?: boolean } = {}): Promise<CurlResult> {
  if (!NETNS_NAME.test(netns)) throw new Error(`refusing to run in netns ${netns}: not a process-kubelet pod netns`);
  const args = ['netns', 'exec', netns, 'curl', '-sS', '-i', '--max-time', String(opts.timeoutS ?? 5), '--noproxy', '*'];
  if (opts.method) args.push('-X', opts.method);
  if (opts.pathAsIs) args.push('--path-as-is');
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return await new Promise((resolve) => {
    execFile('ip', args, { timeout: ((opts.timeoutS ?? 5) + 5) * 1000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const exit = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ ...parseHttp(stdout), exit, stderr });
    });
  });
}

/** Splits curl -i output (possibly several header blocks, e.g. 100 Continue) into the last status, headers and body. */
export function parseHttp(raw: string): { status: number; headers: Record<string, string>; body: string } {
  let rest = raw;
  let status = 0;
  let headers: Record<string, string> = {};
  while (/^HTTP\/[\d.]+ \d{3}/.test(rest)) {
    const end = rest.indexOf('\r\n\r\n');
    const head = end < 0 ? rest : rest.slice(0, end);
    rest = end < 0 ? '' : rest.slice(end + 4);
    const lines = head.split('\r\n');
    status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0]!)![1]);
    headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
  }
  return { status, headers, body: rest };
}

/**
 * Sends raw bytes to a pod IP (the host reaches pod IPs over the bridge; the pod's PREROUTING
 * capture sends them to the sidecar's inbound port) and reads whatever comes back until the
 * peer closes or the time bound passes. Never throws: a reset is an outcome too.
 */
export async function sendRaw(ip: string, port: number, payload: Buffer, timeoutMs = 2000): Promise<{ connected: boolean; reply: Buffer; outcome: 'closed' | 'reset' | 'timeout' | 'refused' }> {
  if (!ip.startsWith('10.88.')) throw new Error(`refusing to send to ${ip}: not a pod IP`);
  return await new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    let settled = false;
    const s = net.connect({ host: ip, port });
    const finish = (outcome: 'closed' | 'reset' | 'timeout' | 'refused'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ connected, reply: Buffer.concat(chunks), outcome });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.on('connect', () => { connected = true; s.end(payload); });
    s.on('data', (c: Buffer) => { if (chunks.reduce((n, x) => n + x.length, 0) < 4096) chunks.push(c); });
    s.on('close', () => finish('closed'));
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
  });
}

/** Sums istio_requests_total series on a sidecar's admin port whose label text contains every `match` string. */
export async function requestCount(netns: string, match: string[]): Promise<number> {
  const r = await curlInNetns(netns, 'http://127.0.0.1:15000/stats/prometheus');
  if (r.status !== 200) throw new Error(`stats from ${netns}: ${r.status} ${r.stderr}`);
  let total = 0;
  for (const line of r.body.split('\n')) {
    const m = /^istio_requests_total\{(.*)\} (\d+)$/.exec(line);
    if (m && match.every((x) => m[1]!.includes(x))) total += Number(m[2]);
  }
  return total;
}

/** Waits for the Deployment's pods (by label) to be Ready and returns them. */
export async function readyPods(clients: KubeClients, namespace: string, selector: string, count: number, timeoutMs: number): Promise<V1Pod[]> {
  return await waitFor(`${count} ready pods ${selector} in ${namespace}`, async () => {
    const list = await clients.core.listNamespacedPod({ namespace, labelSelector: selector });
    const ready = list.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length >= count ? ready : undefined;
  }, timeoutMs, 500);
}

/** A pod's container log from the process kubelet's state dir (there is no kubectl logs). */
export function containerLog(pod: V1Pod, container: string, maxChars = 4000): string {
  const file = path.join(repoRoot, '.cluster', 'process-kubelet', 'pods', pod.metadata?.uid ?? '', 'logs', `${container}.log`);
  try {
    const t = fs.readFileSync(file, 'utf8');
    return t.slice(-maxChars);
  } catch {
    return `(no log at ${file})`;
  }
}

export interface LoadResult {
  sent: number;
  /** Answers by HTTP status ("0" = no answer: connection error or timeout). */
  statuses: Record<string, number>;
  /** 200 answers by the echo app's `version`. */
  versions: Record<string, number>;
  /** Envoy response flags seen (x-weft-response-flags / x-envoy-response-flags). */
  flags: Record<string, number>;
  /** First few failures, described. */
  errors: string[];
  /** Per-request latency in ms, in completion order. */
  latenciesMs: number[];
}

// Runs inside the pod netns, so the pod's sidecar captures it like the app's own traffic.
// Bounded: exactly `n` requests, and a hard deadline.
const LOAD_SCRIPT = `
import http from 'node:http';
const o = JSON.parse(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
const r = { sent: 0, statuses: {}, versions: {}, flags: {}, errors: [], latenciesMs: [] };
const bump = (m, k) => { m[k] = (m[k] ?? 0) + 1; };
const deadline = Date.now() + o.deadlineMs;
const one = () => new Promise((resolve) => {
  const t0 = performance.now();
  r.sent++;
  const req = http.request(o.url, { method: o.method, headers: o.headers, agent, timeout: o.timeoutMs }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      r.latenciesMs.push(performance.now() - t0);
      bump(r.statuses, String(res.statusCode));
      const f = res.headers['x-envoy-response-flags'] ?? res.headers['x-weft-response-flags'];
      if (f) bump(r.flags, String(f));
      const body = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode === 200) { try { bump(r.versions, JSON.parse(body).version ?? '?'); } catch { bump(r.versions, '?'); } }
      else if (r.errors.length < 5) r.errors.push(res.statusCode + ' ' + JSON.stringify(res.headers) + ' ' + body.slice(0, 200));
      resolve();
    });
    res.on('error', (e) => { bump(r.statuses, '0'); if (r.errors.length < 5) r.errors.push(String(e)); resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout after ' + o.timeoutMs + ' ms')));
  req.on('error', (e) => { bump(r.statuses, '0'); if (r.errors.length < 5) r.errors.push(String(e)); resolve(); });
  req.end();
});
let next = 0;
const worker = async () => { while (next < o.n && Date.now() < deadline) { next++; await one(); if (o.gapMs) await new Promise((s) => setTimeout(s, o.gapMs)); } };
await Promise.all(Array.from({ length: o.concurrency }, worker));
agent.destroy();
process.stdout.write(JSON.stringify(r));
`;

/** Sends `n` HTTP requests from inside a pod's netns (through its sidecar), `concurrency` at a time. */
export async function loadInNetns(netns: string, url: string, opts: {
  n: number; concurrency?: number; headers?: Record<string, string>; method?: string; timeoutMs?: number; deadlineMs?: number; gapMs?: number;
}): Promise<LoadResult> {
  if (!NETNS_NAME.test(netns)) throw new Error(`refusing to run in netns ${netns}: not a process-kubelet pod netns`);
  const args = {
    url, n: opts.n, concurrency: opts.concurrency ?? 1, headers: opts.headers ?? {}, method: opts.method ?? 'GET',
    timeoutMs: opts.timeoutMs ?? 10_000, deadlineMs: opts.deadlineMs ?? 60_000, gapMs: opts.gapMs ?? 0,
  };
  return await new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', LOAD_SCRIPT, JSON.stringify(args)],
      { timeout: args.deadlineMs + 15_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`load in ${netns} failed: ${String(err)} ${stderr}`));
        try { resolve(JSON.parse(stdout) as LoadResult); } catch { reject(new Error(`load in ${netns}: unparsable output ${stdout.slice(0, 300)} ${stderr}`)); }
      });
  });
}

/** The checkout a running process kubelet serves Weft's image from (its main.js path), if known. */
export function kubeletRepoRoot(pid: number): string | undefined {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const main = argv.find((a) => a.endsWith(path.join('dist', 'hack', 'process-kubelet', 'main.js')));
    return main ? fs.realpathSync(path.resolve(main, '..', '..', '..', '..')) : undefined;
  } catch {
    return undefined;
  }
}

/** True when every directory above `p` lets other users through (the proxy runs as UID 1337). */
function traversableByOthers(p: string): boolean {
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    try {
      if ((fs.statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (d === path.dirname(d)) return true;
  }
}

/**
 * The image version that makes the process kubelet run THIS worktree's Weft build in pods.
 * A kubelet started from this checkout runs it for the package version. One started from
 * another checkout maps an unknown version to `<version cache>/<version>/dist/...`
 * (docs/process-kubelet.md), so a symlink named for a unique version points at this
 * repository; that only works when the cache path is reachable by UID 1337 (the proxy's
 * user), so otherwise this throws, naming the kubelet's checkout. close() removes the link.
 */
export function worktreeWeftVersion(id: string, kubeletPid: number, packageVersion: string): { version: string; close(): void } {
  const mine = fs.realpathSync(repoRoot);
  const theirs = kubeletRepoRoot(kubeletPid);
  if (theirs === mine) return { version: packageVersion, close: () => undefined };
  if (!/^[0-9a-z]{1,16}$/.test(id)) throw new Error(`bad worktree version id ${id}`);
  const version = `0.0.0-wt-${id}`;
  const dir = defaultVersionCacheDir();
  if (!traversableByOthers(path.join(dir, version))) {
    throw new Error(`the running process kubelet (pid ${kubeletPid}) serves Weft from ${theirs ?? 'another checkout'}, not ${mine}, `
      + `and its version cache ${dir} is not reachable by the proxy's UID 1337; wait until that kubelet stops, so this test starts its own`);
  }
  const link = path.join(dir, version);
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(link, { force: true });
  fs.symlinkSync(mine, link, 'dir');
  return { version, close: () => fs.rmSync(link, { force: true }) };
}

export interface HostHttpResult {
  /** HTTP status, or 0 when there was no HTTP answer. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Why there was no answer (connection refused/reset, timeout). */
  error?: string;
}

/** One bounded HTTP/1.1 request from the host to a pod IP (10.88.x.x only: the network rule). */
export async function httpFromHost(ip: string, port: number, urlPath: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HostHttpResult> {
  if (!ip.startsWith('10.88.')) throw new Error(`refusing to send to ${ip}: not a pod IP`);
  return await new Promise((resolve) => {
    let settled = false;
    const done = (r: HostHttpResult): void => { if (!settled) { settled = true; clearTimeout(timer); resolve(r); } };
    const req = http.request({ host: ip, port, path: urlPath, method: 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => { if (chunks.length < 256) chunks.push(c); });
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => done({ status: 0, headers: {}, body: '', error: e.message }));
    });
    const timer = setTimeout(() => { req.destroy(); done({ status: 0, headers: {}, body: '', error: 'timeout' }); }, opts.timeoutMs ?? 10_000);
    req.on('error', (e) => done({ status: 0, headers: {}, body: '', error: e.message }));
    req.end();
  });
}
