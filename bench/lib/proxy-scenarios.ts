// Scenarios 1-3 of `make bench`: the proxy next to direct, nginx, HAProxy and a plain node
// proxy, all measured in this run on this machine.
//   1. throughput ceiling: closed loop (wrk, 1 thread, 16 keep-alive conns), proxy on 1 core
//   2. latency at 1,000 req/s open loop, 16 conns, 1 KB responses: one hop and two hops + mTLS
//   3. proxy CPU and RSS at 1,000 req/s
// Layout on a 2-core box: load generator and backend on core 0, the proxy under test on
// core 1 (taskset). Only one target is loaded at a time; targets are interleaved within each
// repetition so slow drifts in machine load hit every target alike.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LoadJob, LoadResult } from '../anchors/loadgen.js';
import { haproxyCfg, nginxConf, type NginxTls } from '../anchors/configs.js';
import { makeMeshCerts, CLIENT_ID, SERVER_DNS, SERVER_ID, type BenchTlsMaterial } from './certs.js';
import { announcedPort, freePort, portOpen, rssAnonMb, startProcess, treeCpuSeconds, treeRssMb, type Started } from './procs.js';
import { aggregateReps, notMeasuredRow, percentile, type BenchRow } from './report.js';
import { runWrk } from './wrk.js';

export interface ProxyScenarioOptions {
  quick: boolean;
  /** dist/ root (where bench/… .js files live). */
  distDir: string;
  which: (cmd: string) => string | undefined;
  log: (msg: string) => void;
}

export interface ProxyScenarioResult {
  rows: BenchRow[];
  /** Pooled open-loop latency samples (ms) per target, for the chart. */
  latency: Record<string, number[]>;
  notes: string[];
}

const LOAD_CORE = 0;
const PROXY_CORE = 1;
const BACKEND_CORE = 0;

interface Target {
  name: string;
  label: string;
  port: number;
  /** The process whose CPU/RSS is the proxy's (absent for direct). */
  pid?: number;
}

async function node(distDir: string, name: string, rel: string, args: string[], core: number, nodeFlags: string[] = []): Promise<Started & { port: number }> {
  const s = await startProcess({ name, cmd: process.execPath, args: [...nodeFlags, path.join(distDir, rel), ...args], core, ready: (o) => announcedPort(o) !== undefined });
  return { ...s, port: announcedPort(s.out)! };
}

/** nginx on the proxy core; with `tls`, one side of the two-hop mTLS anchor (PEM files in its scratch dir). */
async function startNginx(bin: string, upstreamPort: number, tls?: { side: NginxTls['side']; material: BenchTlsMaterial }): Promise<Started & { port: number; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
  const port = await freePort();
  let tlsConf: NginxTls | undefined;
  if (tls) {
    const files = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem'), caFile: path.join(dir, 'ca.pem') };
    writeFileSync(files.certFile, tls.material.certChainPem);
    writeFileSync(files.keyFile, tls.material.keyPem, { mode: 0o600 });
    writeFileSync(files.caFile, tls.material.rootsPem);
    tlsConf = tls.side === 'originate' ? { side: 'originate', ...files, serverName: SERVER_DNS } : { side: 'terminate', ...files };
  }
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConf({ listenPort: port, upstreamPort, prefix: dir, tls: tlsConf }));
  const s = await startProcess({ name: 'nginx', cmd: bin, args: ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], core: PROXY_CORE, ready: () => portOpen(port) });
  return { ...s, port, dir };
}

async function startHaproxy(bin: string, upstreamPort: number): Promise<Started & { port: number; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-bench-haproxy-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyCfg({ listenPort: port, upstreamPort }));
  const s = await startProcess({ name: 'haproxy', cmd: bin, args: ['-f', path.join(dir, 'haproxy.cfg'), '-db'], core: PROXY_CORE, ready: () => portOpen(port) });
  return { ...s, port, dir };
}

/** Weft's proxy through bench/proxy.ts's `weft` child role (adapter: that file owns the Weft config). */
async function startWeft(distDir: string, spec: Record<string, unknown>, name: string): Promise<Started & { port: number }> {
  // WEFT_BENCH_PROXY_NODE_FLAGS: V8/node flags for Weft's processes only (e.g. the sidecar's heap flags).
  const flags = (process.env.WEFT_BENCH_PROXY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return node(distDir, name, 'bench/proxy.js', ['weft', JSON.stringify(spec)], PROXY_CORE, flags);
}

async function loadgen(distDir: string, job: LoadJob): Promise<LoadResult> {
  const timeoutMs = job.maxMs + ((job.warmup ?? 0) / (job.rate ?? 1000)) * 1000 + 20_000;
  const s = await startProcess({ name: 'loadgen', cmd: process.execPath, args: [path.join(distDir, 'bench/anchors/loadgen.js'), JSON.stringify(job)], core: LOAD_CORE, ready: (o) => o.includes('\n'), timeoutMs });
  await new Promise<void>((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', () => r())));
  return JSON.parse(s.out.trim()) as LoadResult;
}

export async function runProxyScenarios(o: ProxyScenarioOptions): Promise<ProxyScenarioResult> {
  const started: Array<{ stop: () => Promise<void> }> = [];
  const dirs: string[] = [];
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  const latency: Record<string, number[]> = {};
  const tputReps = o.quick ? 2 : 5;
  const latReps = o.quick ? 3 : 5;
  try {
    const backend = await node(o.distDir, 'backend', 'bench/anchors/servers.js', ['backend'], BACKEND_CORE);
    started.push(backend);
    const targets: Target[] = [{ name: 'direct', label: 'direct', port: backend.port }];
    const missing: Record<string, string> = {};
    const tryStart = async (name: string, label: string, fn: () => Promise<Started & { port: number; dir?: string }>): Promise<void> => {
      try {
        const s = await fn();
        started.push(s);
        if (s.dir) dirs.push(s.dir);
        targets.push({ name, label, port: s.port, pid: s.proc.pid });
      } catch (e) {
        missing[name] = e instanceof Error ? e.message : String(e);
        o.log(`bench: ${name} not started: ${missing[name]}`);
      }
    };
    const nginx = o.which('nginx');
    const haproxy = o.which('haproxy');
    if (nginx) await tryStart('nginx', 'nginx', () => startNginx(nginx, backend.port));
    else missing.nginx = 'nginx not installed (run hack/bench-deps.sh)';
    if (haproxy) await tryStart('haproxy', 'HAProxy', () => startHaproxy(haproxy, backend.port));
    else missing.haproxy = 'haproxy not installed (run hack/bench-deps.sh)';
    await tryStart('node-proxy', 'node:http proxy', () => node(o.distDir, 'node-proxy', 'bench/anchors/servers.js', ['node-proxy', String(backend.port)], PROXY_CORE));
    await tryStart('weft', 'Weft, 1 hop', () => startWeft(o.distDir, { upstream: backend.port }, 'weft'));
    let certs: Awaited<ReturnType<typeof makeMeshCerts>> | undefined;
    try { certs = await makeMeshCerts(); } catch (e) { missing['weft-2hop'] = `certs: ${String(e)}`; }
    if (certs) {
      const c = certs;
      await tryStart('weft-in', 'Weft inbound', () => startWeft(o.distDir, { upstream: backend.port, tls: 'server', material: c.server }, 'weft-in'));
      const inbound = targets.find((t) => t.name === 'weft-in');
      if (inbound) {
        targets.splice(targets.indexOf(inbound), 1);
        await tryStart('weft-2hop', 'Weft, 2 hops + mTLS', () => startWeft(o.distDir, { upstream: inbound.port, tls: 'client', material: c.client }, 'weft-out'));
      } else missing['weft-2hop'] = missing['weft-in'] ?? 'inbound proxy did not start';
    }
    if (certs && nginx) {
      // The anchor for the two-hop rows: nginx -> mTLS -> nginx -> backend, both on the proxy core
      // like Weft's two hops, verifying each other's certificates from the same root.
      const c = certs;
      await tryStart('nginx-in', 'nginx inbound', () => startNginx(nginx, backend.port, { side: 'terminate', material: c.server }));
      const inbound = targets.find((x) => x.name === 'nginx-in');
      if (inbound) {
        targets.splice(targets.indexOf(inbound), 1);
        await tryStart('nginx-2hop', 'nginx, 2 hops + mTLS', () => startNginx(nginx, inbound.port, { side: 'originate', material: c.client }));
      } else missing['nginx-2hop'] = missing['nginx-in'] ?? 'inbound nginx did not start';
    }
    notes.push(`mTLS identities: client ${CLIENT_ID} -> server ${SERVER_ID} (nginx anchor: DNS name ${SERVER_DNS})`);
    const t = (name: string): Target | undefined => targets.find((x) => x.name === name);

    // Check every target answers before measuring anything.
    for (const tg of [...targets]) {
      const r = await loadgen(o.distDir, { mode: 'closed', port: tg.port, conns: 2, count: 20, maxMs: 5000 });
      if (r.ok < 20) {
        missing[tg.name] = `${tg.label} answered ${r.ok}/20 probe requests`;
        targets.splice(targets.indexOf(tg), 1);
      }
    }

    // ---- 1. throughput ceiling (closed loop) ----
    const wrk = o.which('wrk');
    const seconds = o.quick ? 2 : 5;
    const tputTargets = targets;
    const ceiling = async (tg: Target, secs: number): Promise<number> => {
      if (wrk) {
        const r = await runWrk({ wrk, port: tg.port, conns: 16, seconds: secs, core: LOAD_CORE });
        if (r.errors > 0) throw new Error(`${r.errors} errors from wrk against ${tg.name}`);
        return r.requestsPerSec;
      }
      const r = await loadgen(o.distDir, { mode: 'closed', port: tg.port, conns: 16, count: 10_000_000, maxMs: secs * 1000 });
      if (r.errors > 0) throw new Error(`${r.errors} errors in closed loop against ${tg.name}`);
      return r.achievedRate;
    };
    if (!wrk) notes.push('wrk missing: throughput from the node closed-loop generator, which may be the bottleneck');
    o.log(`bench: proxy throughput, ${tputReps} x ${seconds}s per target (${tputTargets.map((x) => x.name).join(', ')})`);
    for (const tg of tputTargets) await ceiling(tg, 1).catch(() => 0); // warm-up: JIT, pools, connections
    const tputRows: BenchRow[][] = [];
    for (let rep = 0; rep < tputReps; rep++) {
      const tp: Record<string, number> = {};
      for (const tg of tputTargets) tp[tg.name] = await ceiling(tg, seconds);
      const rs: BenchRow[] = [];
      const sc = 'S1 throughput ceiling, HTTP/1.1 keep-alive, 16 conns, 1 KB, proxy on 1 core';
      if (tp.weft !== undefined) {
        for (const a of ['direct', 'nginx', 'haproxy', 'node-proxy']) {
          if (tp[a] === undefined) continue;
          rs.push({ scenario: sc, measure: 'throughput', unit: 'req/s', weft: tp.weft, anchor: tp[a], anchorName: t(a)!.label, better: 'higher',
            ...(a === 'node-proxy' ? { goal: '>= 2x', minRatio: 2 } : {}) });
        }
      }
      if (tp['weft-2hop'] !== undefined && tp.weft !== undefined) {
        // Not one of the anchors: shows what the second hop and mTLS cost, and where the
        // two-hop chain saturates (both hops share the proxy core).
        rs.push({ scenario: 'S1 throughput ceiling, 2 Weft hops + mTLS (both on the proxy core)', measure: 'throughput', unit: 'req/s', weft: tp['weft-2hop'], anchor: tp.weft, anchorName: 'Weft, 1 hop', better: 'higher' });
        if (tp['nginx-2hop'] !== undefined) rs.push({ scenario: 'S1 throughput ceiling, 2 Weft hops + mTLS (both on the proxy core)', measure: 'throughput', unit: 'req/s', weft: tp['weft-2hop'], anchor: tp['nginx-2hop'], anchorName: 'nginx, 2 hops + mTLS', better: 'higher' });
      }
      tputRows.push(rs);
    }
    rows.push(...aggregateReps(tputRows));
    for (const a of ['nginx', 'haproxy', 'node-proxy', 'weft']) {
      if (missing[a]) rows.push(notMeasuredRow(`S1 throughput ceiling vs ${a}`, missing[a]!, 'req/s'));
    }

    // ---- 2 + 3. latency at a fixed rate (open loop), CPU and RSS of the proxy ----
    const rate = 1000;
    const count = o.quick ? 2000 : 5000;
    const warmup = o.quick ? 500 : 1000;
    o.log(`bench: proxy latency, open loop ${rate} req/s, ${latReps} x ${count} requests per target`);
    const latRows: BenchRow[][] = [];
    for (let rep = 0; rep < latReps; rep++) {
      const p: Record<string, number[]> = {};
      const cpu: Record<string, number> = {};
      const rss: Record<string, number> = {};
      const anon: Record<string, number> = {};
      for (const tg of targets) {
        const c0 = tg.pid ? treeCpuSeconds(tg.pid) : 0;
        const t0 = performance.now();
        const r = await loadgen(o.distDir, { mode: 'open', port: tg.port, conns: 16, rate, count, warmup, maxMs: (count / rate) * 1000 * 3, bodyBytes: 0 });
        const secs = (performance.now() - t0) / 1000;
        if (tg.pid) {
          // CPU over the whole run (warm-up included, same rate throughout) / the time load was applied.
          cpu[tg.name] = (treeCpuSeconds(tg.pid) - c0) / Math.min(secs, (count + warmup) / rate);
          rss[tg.name] = treeRssMb(tg.pid);
          anon[tg.name] = treeRssMb(tg.pid, rssAnonMb);
        }
        if (r.errors > 0) throw new Error(`${r.errors} errors in open loop against ${tg.name}`);
        if (r.achievedRate < rate * 0.9) notes.push(`rep ${rep + 1}: load generator reached only ${r.achievedRate.toFixed(0)} req/s against ${tg.name}`);
        const sorted = [...r.latenciesMs].sort((a, b) => a - b);
        p[tg.name] = sorted;
        (latency[tg.label] ??= []).push(...r.latenciesMs);
      }
      const q = (name: string, pc: number): number => percentile(p[name]!, pc);
      const rs: BenchRow[] = [];
      const one = 'S2 1 proxy hop, 1,000 req/s open loop, 16 conns, 1 KB';
      const two = 'S2 2 proxy hops + mTLS, 1,000 req/s open loop, 16 conns, 1 KB';
      if (p.weft && p.nginx) for (const pc of [50, 90, 99]) rs.push({ scenario: one, measure: `p${pc} latency`, unit: 'ms', weft: q('weft', pc), anchor: q('nginx', pc), anchorName: 'nginx', better: 'lower' });
      if (p.weft && p.direct) {
        for (const pc of [50, 90, 99]) {
          const base = p.nginx ? { anchor: q('nginx', pc) - q('direct', pc), anchorName: 'added by nginx' } : { anchor: q('direct', pc), anchorName: 'direct (total)' };
          rs.push({ scenario: one, measure: `p${pc} added latency`, unit: 'ms', weft: q('weft', pc) - q('direct', pc), ...base, better: 'lower' });
        }
      }
      if (p['weft-2hop'] && p.direct) {
        const goals: Record<number, number> = { 90: 0.25, 99: 0.5 };
        for (const pc of [50, 90, 99]) {
          // Like for like when nginx runs: the same two hops with mTLS on the same core.
          const base = p['nginx-2hop'] ? { anchor: q('nginx-2hop', pc) - q('direct', pc), anchorName: 'added by nginx 2 hops + mTLS' }
            : p.nginx ? { anchor: q('nginx', pc) - q('direct', pc), anchorName: 'added by 1 nginx hop' } : { anchor: q('direct', pc), anchorName: 'direct (total)' };
          rs.push({ scenario: two, measure: `p${pc} added latency`, unit: 'ms', weft: q('weft-2hop', pc) - q('direct', pc), ...base, better: 'lower',
            ...(goals[pc] !== undefined ? { goal: `<= +${goals[pc]} ms`, maxAbs: goals[pc] } : {}) });
        }
      }
      const three = 'S3 proxy cost at 1,000 req/s, 1 hop';
      if (cpu.weft !== undefined) {
        for (const a of ['nginx', 'haproxy', 'node-proxy']) {
          if (cpu[a] === undefined) continue;
          rs.push({ scenario: three, measure: 'CPU', unit: 'cores', weft: cpu.weft, anchor: cpu[a], anchorName: t(a)!.label, better: 'lower', ...(a === 'nginx' ? { goal: '<= 0.2 core absolute', maxAbs: 0.2 } : {}) });
        }
        for (const a of ['nginx', 'haproxy', 'node-proxy']) {
          if (rss[a] === undefined) continue;
          rs.push({ scenario: three, measure: 'RSS', unit: 'MB', weft: rss.weft!, anchor: rss[a], anchorName: t(a)!.label, better: 'lower', ...(a === 'nginx' ? { goal: '<= 60 MB absolute', maxAbs: 60 } : {}) });
        }
        // Informative: RSS without the executable's file pages (a bare node process has ~35 MB
        // of them), i.e. what each extra sidecar really costs.
        for (const a of ['nginx', 'node-proxy']) {
          if (anon[a] === undefined) continue;
          rs.push({ scenario: three, measure: 'private RSS (RssAnon)', unit: 'MB', weft: anon.weft!, anchor: anon[a], anchorName: t(a)!.label, better: 'lower' });
        }
      }
      latRows.push(rs);
    }
    rows.push(...aggregateReps(latRows));
    if (missing.weft) rows.push(notMeasuredRow('S2/S3 Weft 1 hop', missing.weft));
    if (missing['weft-2hop'] || missing['weft-in']) rows.push(notMeasuredRow('S2 Weft 2 hops + mTLS', missing['weft-2hop'] ?? missing['weft-in']!));
    for (const [k, v] of Object.entries(missing)) notes.push(`${k}: ${v}`);
    return { rows, latency, notes };
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
