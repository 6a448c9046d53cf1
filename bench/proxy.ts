// Proxy benchmark, loopback only, bounded in count and time. In one run, next to anchors:
//   direct          client -> backend
//   node-proxy      client -> plain node:http proxy (keep-alive agent) -> backend
//   weft            client -> weft proxy -> backend
//   weft-mtls-2hop  client -> weft (outbound) -> mTLS -> weft (inbound) -> backend  (Istio's method)
// Each proxy runs in its own process, pinned to one core with taskset when available.
// Measures closed-loop throughput (16 keep-alive connections) and open-loop latency at a
// fixed 1,000 req/s with 1 KB bodies (latency counted from the scheduled send time, so
// queueing is not hidden), plus the proxy's CPU and RSS at that rate.
//   node dist/bench/proxy.js [--quick]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/log/logger.js';
import { Proxy } from '../src/proxy/proxy.js';
import { buildProxyConfig, type ResourceSet } from '../src/proxy/config/snapshot.js';
import { TlsIdentity, type TlsMaterial } from '../src/proxy/tls.js';
import { CLIENT_ID, SERVER_ID } from './lib/mesh-ids.js';
import { formatTable, percentile, writeJson, type BenchRow } from './lib/report.js';

const SELF = fileURLToPath(import.meta.url);
const BODY = Buffer.alloc(1024, 'x');
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const DOWN = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UP = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

// ---------- child roles ----------

function announce(port: number): void {
  process.stdout.write(`PORT ${port}\n`);
}

function runBackend(): void {
  const s = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length }); res.end(BODY); });
  });
  s.listen(0, '127.0.0.1', () => announce((s.address() as net.AddressInfo).port));
}

function runNodeProxy(upstream: number): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const s = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const u = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    u.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(u);
  });
  s.listen(0, '127.0.0.1', () => announce((s.address() as net.AddressInfo).port));
}

async function runWeft(spec: { upstream: number; tls?: 'client' | 'server'; material?: TlsMaterial }): Promise<void> {
  const listener = {
    name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      ...(spec.tls === 'server' ? { filter_chain_match: { transport_protocol: 'tls' } } : {}),
      filters: [{ name: 'hcm', typed_config: { '@type': HCM, rds: { route_config_name: 'r' } } }],
      ...(spec.tls === 'server' ? { transport_socket: { name: 'tls', typed_config: { '@type': DOWN, require_client_certificate: { value: true }, common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: CLIENT_ID }] } } } } } } : {}),
    }],
  };
  const res: ResourceSet = {
    listeners: [listener],
    routes: [{ name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up', timeout: { seconds: 0 } } }] }] }],
    clusters: [{
      name: 'up', type: 'STATIC', lb_policy: 'ROUND_ROBIN',
      load_assignment: { cluster_name: 'up', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: spec.upstream } } } }] }] },
      ...(spec.tls === 'client' ? { transport_socket: { name: 'tls', typed_config: { '@type': UP, common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: SERVER_ID }] } } } } } } : {}),
    }],
  };
  const p = new Proxy({ logger: silentLogger() });
  if (spec.material) p.identity = new TlsIdentity(spec.material);
  await p.apply(buildProxyConfig(res));
  announce(p.listenerPort('l')!);
}

// ---------- parent ----------

interface Child { proc: ChildProcess; port: number }

function hasTaskset(): boolean {
  try { readFileSync('/usr/bin/taskset'); return true; } catch { return false; }
}

function startChild(args: string[], env: Record<string, string> = {}, core?: number): Promise<Child> {
  const cmd = core !== undefined && hasTaskset() ? 'taskset' : process.execPath;
  const argv = cmd === 'taskset' ? ['-c', String(core), process.execPath, SELF, ...args] : [SELF, ...args];
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`child ${args[0]} did not start`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) { clearTimeout(t); resolve({ proc, port: Number(m[1]) }); }
    });
    proc.on('exit', (code) => reject(new Error(`child ${args[0]} exited ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100 Hz)
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface LoadResult { count: number; errors: number; elapsedMs: number; latenciesMs: number[] }

function oneRequest(agent: http.Agent, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, path: '/bench', method: 'POST', agent, headers: { host: 'bench', 'content-length': BODY.length } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode === 200));
    });
    r.on('error', () => resolve(false));
    r.end(BODY);
  });
}

async function closedLoop(port: number, conns: number, durationMs: number, maxCount: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  let count = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: conns }, async () => {
    while (performance.now() - start < durationMs && count < maxCount) {
      count++;
      if (!(await oneRequest(agent, port))) errors++;
    }
  }));
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return { count, errors, elapsedMs, latenciesMs: [] };
}

async function openLoop(port: number, rate: number, count: number, conns: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(oneRequest(agent, port).then((ok) => {
      if (!ok) errors++;
      latencies.push(performance.now() - due);
    }));
  }
  await Promise.all(pending);
  agent.destroy();
  return { count, errors, elapsedMs: performance.now() - start, latenciesMs: latencies };
}

export async function runProxyBench(quick = false): Promise<BenchRow[]> {
  // Loaded here, not at the top: the `weft` child role is the process whose RSS is measured,
  // and x509 + reflect-metadata would add ~17 MB a sidecar never carries.
  const { makeMeshCerts } = await import('./lib/certs.js');
  const certs = await makeMeshCerts();
  const children: Child[] = [];
  const rows: BenchRow[] = [];
  try {
    const backend = await startChild(['backend'], {}, 0); children.push(backend);
    const nodeProxy = await startChild(['node-proxy', String(backend.port)], {}, 1); children.push(nodeProxy);
    const weft = await startChild(['weft', JSON.stringify({ upstream: backend.port })], {}, 1); children.push(weft);
    const weftIn = await startChild(['weft', JSON.stringify({ upstream: backend.port, tls: 'server', material: certs.server })], {}, 1); children.push(weftIn);
    const weftOut = await startChild(['weft', JSON.stringify({ upstream: weftIn.port, tls: 'client', material: certs.client })], {}, 1); children.push(weftOut);

    const targets = { direct: backend.port, 'node-proxy': nodeProxy.port, weft: weft.port, 'weft-mtls-2hop': weftOut.port };
    const dur = quick ? 2000 : 5000;
    const tput: Record<string, number> = {};
    for (const [name, port] of Object.entries(targets)) {
      await closedLoop(port, 16, 500, 5000); // warm-up (JIT, pools)
      const r = await closedLoop(port, 16, dur, 200_000);
      if (r.errors > 0) throw new Error(`${r.errors} errors in closed loop against ${name}`);
      tput[name] = (r.count / r.elapsedMs) * 1000;
    }
    const rate = 1000;
    const n = quick ? 3000 : 10_000;
    const lat: Record<string, number[]> = {};
    let cpu = 0, rss = 0;
    for (const [name, port] of Object.entries(targets)) {
      const pid = name === 'weft' ? weft.proc.pid! : undefined;
      const c0 = pid ? cpuSeconds(pid) : 0;
      const r = await openLoop(port, rate, n, 16);
      if (pid) { cpu = (cpuSeconds(pid) - c0) / (r.elapsedMs / 1000); rss = rssMb(pid); }
      if (r.errors > 0) throw new Error(`${r.errors} errors in open loop against ${name}`);
      lat[name] = r.latenciesMs.sort((a, b) => a - b);
    }
    const p = (name: string, q: number): number => percentile(lat[name]!, q);
    rows.push({ scenario: 'HTTP/1.1 keep-alive, 16 conns, 1 KB', measure: 'throughput', unit: 'req/s', weft: tput.weft!, anchor: tput['node-proxy']!, anchorName: 'node:http proxy', goal: '>= 2x', better: 'higher', minRatio: 2 });
    rows.push({ scenario: 'HTTP/1.1 keep-alive, 16 conns, 1 KB', measure: 'throughput', unit: 'req/s', weft: tput.weft!, anchor: tput.direct!, anchorName: 'direct', better: 'higher' });
    rows.push({ scenario: '2 proxies + mTLS, 1 KB', measure: 'throughput', unit: 'req/s', weft: tput['weft-mtls-2hop']!, anchor: tput.direct!, anchorName: 'direct', better: 'higher' });
    for (const q of [50, 90, 99]) {
      rows.push({ scenario: `1,000 req/s, 16 conns, 2 proxies + mTLS`, measure: `p${q} latency`, unit: 'ms', weft: p('weft-mtls-2hop', q), anchor: p('direct', q), anchorName: 'direct', better: 'lower', goal: q === 90 ? '<= +0.25 ms' : q === 99 ? '<= +0.5 ms' : undefined });
    }
    for (const q of [50, 99]) {
      rows.push({ scenario: '1,000 req/s, 16 conns, 1 proxy', measure: `p${q} latency`, unit: 'ms', weft: p('weft', q), anchor: p('node-proxy', q), anchorName: 'node:http proxy', better: 'lower' });
    }
    rows.push({ scenario: '1,000 req/s, 1 proxy', measure: 'proxy CPU', unit: 'cores', weft: cpu, anchor: 0.2, anchorName: 'Envoy (Istio figure)', goal: '<= 0.2 core', better: 'lower', maxRatio: 1 });
    rows.push({ scenario: '1,000 req/s, 1 proxy', measure: 'proxy RSS', unit: 'MB', weft: rss, anchor: 60, anchorName: 'Envoy (Istio figure)', goal: '<= 60 MB', better: 'lower', maxRatio: 1 });
  } finally {
    for (const c of children) c.proc.kill('SIGTERM');
  }
  return rows;
}

const role = process.argv[2];
if (fileURLToPath(import.meta.url) === process.argv[1]) {
  if (role !== 'backend' && role !== 'weft' && role !== 'node-proxy') { /* parent */ } else process.once('SIGTERM', () => process.exit(0));
  if (role === 'backend') runBackend();
  else if (role === 'node-proxy') runNodeProxy(Number(process.argv[3]));
  else if (role === 'weft') {
    process.once('SIGTERM', () => process.exit(0)); // lets --cpu-prof write its profile
    // Load what `weft proxy sidecar` loads (xDS client, grpc-js, cert agent, admin, DNS proxy), so the
    // RSS row measures what ships and not a leaner process (about 10 MB apart).
    void import('../src/proxy/command.js').then(() => runWeft(JSON.parse(process.argv[3] ?? '{}') as Parameters<typeof runWeft>[0]));
  }
  else {
    const quick = process.argv.includes('--quick');
    runProxyBench(quick).then((rows) => {
      console.log(formatTable(rows));
      writeJson('bench/results/proxy.json', { when: new Date().toISOString(), quick, rows });
    }, (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
  }
}
