// `make bench`: every component benchmark in one run, each Weft figure next to an anchor
// measured in the same run, printed as one table and written to bench/results/latest.json,
// plus bench/results/latency.svg (latency distributions: direct, nginx, HAProxy, node proxy,
// Weft one hop, Weft two hops with mTLS).
//   node dist/bench/run.js [--quick] [--only proxy,xds-gcp,xds,injector,ca,operator,proxy-self] [--no-deps] [--limit SEC]
// Each section runs in its own child process with a time limit, so one that hangs or crashes
// becomes a "not measured: <reason>" row instead of taking the run down.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { latencySvg, type LatencySeries } from './chart.js';
import { aggregateReps, formatTable, notMeasuredRow, parseAbsoluteGoal, percentile, verdict, writeJson, type BenchRow } from './lib/report.js';

const SELF = fileURLToPath(import.meta.url);
/** dist/ root: this file is dist/bench/run.js. */
const DIST = path.resolve(path.dirname(SELF), '..');
const RESULTS = path.join(process.cwd(), 'bench/results');

interface SectionResult {
  rows: BenchRow[];
  notes?: string[];
  /** Latency samples (ms) per setup, for the chart; not written to JSON in full. */
  latency?: Record<string, number[]>;
}

interface SectionContext {
  quick: boolean;
  log: (msg: string) => void;
}

interface Section {
  name: string;
  what: string;
  /** Off unless named in --only (duplicates another section's figures). */
  optIn?: boolean;
  limitSec: { quick: number; full: number };
  run: (ctx: SectionContext) => Promise<SectionResult>;
}

// ------------------------------------------------------------------ helpers

export function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

function gcpBinary(): string | undefined {
  const dir = process.env.WEFT_BENCH_BIN ?? path.join(os.homedir(), '.cache/weft/bench-bin');
  const p = path.join(dir, 'gcp-ads');
  return existsSync(p) ? p : undefined;
}

/** Adds absolute bounds parsed from goal texts like "<= 2000 ms absolute" (other engineers' rows). */
function withAbsoluteGoal(r: BenchRow): BenchRow {
  if (r.maxAbs !== undefined || r.minAbs !== undefined || r.notMeasured !== undefined) return r;
  const g = parseAbsoluteGoal(r.goal, r.unit);
  return g ? { ...r, ...g } : r;
}

async function repeat(reps: number, fn: () => Promise<BenchRow[]>): Promise<BenchRow[]> {
  const all: BenchRow[][] = [];
  for (let i = 0; i < reps; i++) all.push(await fn());
  return aggregateReps(all);
}

function clusterUp(): string | undefined {
  const kc = process.env.KUBECONFIG ?? path.join(process.cwd(), '.cluster/kubeconfig');
  if (!existsSync(kc)) return `no cluster (${kc} missing; run make cluster-up)`;
  const pki = path.join(path.dirname(kc), 'pki');
  const r = spawnSync('curl', ['-sk', '--max-time', '3', '--cert', path.join(pki, 'admin.crt'), '--key', path.join(pki, 'admin.key'), 'https://127.0.0.1:16443/readyz'], { encoding: 'utf8' });
  return r.stdout?.trim() === 'ok' ? undefined : `cluster not ready (readyz: ${(r.stdout || r.stderr || 'no answer').trim().slice(0, 60)})`;
}

// ------------------------------------------------------------------ sections (adapters to each module)

const SECTIONS: Section[] = [
  {
    name: 'proxy',
    what: 'S1-S3 proxy vs direct, nginx, HAProxy, node proxy',
    limitSec: { quick: 110, full: 600 },
    run: async ({ quick, log }) => {
      const { runProxyScenarios } = await import('./lib/proxy-scenarios.js');
      return runProxyScenarios({ quick, distDir: DIST, which, log });
    },
  },
  {
    name: 'xds-gcp',
    what: 'S4 xDS convergence, Weft vs go-control-plane',
    limitSec: { quick: 60, full: 300 },
    run: async ({ quick, log }) => {
      const { runXdsVersusGcp } = await import('./lib/xds-vs-gcp.js');
      return { rows: await runXdsVersusGcp({ quick, distDir: DIST, gcpBin: gcpBinary(), log }) };
    },
  },
  {
    name: 'xds',
    what: 'S4 xDS convergence vs a pre-encoded replay server (bench/xds.ts)',
    limitSec: { quick: 45, full: 240 },
    run: async ({ quick }) => {
      const m = (await import('./xds.js')) as { run?: (o: { quick: boolean }) => Promise<BenchRow[]> };
      if (typeof m.run !== 'function') throw new Error('bench/xds.ts has no run({quick}) export');
      return { rows: (await m.run({ quick })).map((r) => ({ ...r, scenario: `S4 ${r.scenario}` })) };
    },
  },
  {
    name: 'injector',
    what: 'S5 injector reviews/s and p99 (bench/injector.ts)',
    limitSec: { quick: 45, full: 180 },
    run: async ({ quick }) => {
      const m = (await import('./injector.js')) as { runInjectorBench?: (q: boolean) => Promise<BenchRow[]> };
      if (typeof m.runInjectorBench !== 'function') throw new Error('bench/injector.ts has no runInjectorBench export');
      // Full: 5 repetitions of the module's short budget; quick: one.
      const rows = await repeat(quick ? 1 : 5, () => m.runInjectorBench!(true));
      return { rows: rows.map((r) => ({ ...r, scenario: `S5 ${r.scenario}` })) };
    },
  },
  {
    name: 'ca',
    what: 'S6 CA certs/s vs raw P-256 sign (bench/ca.ts)',
    limitSec: { quick: 45, full: 180 },
    run: async ({ quick }) => {
      const m = (await import('./ca.js')) as { runCaBench?: (q: boolean) => Promise<{ rows: BenchRow[] } | BenchRow[]> };
      if (typeof m.runCaBench !== 'function') throw new Error('bench/ca.ts has no runCaBench export');
      const once = async (): Promise<BenchRow[]> => {
        const r = await m.runCaBench!(true);
        return Array.isArray(r) ? r : r.rows;
      };
      // bench/ca.ts names the re-issue row after how far it got ("extrapolated from N"); one name
      // per row lets repetitions fold together.
      const once2 = async (): Promise<BenchRow[]> => (await once()).map((r) => {
        const base = r.scenario.replace(/\s*\(extrapolated from \d+\)/, '');
        return { ...r, scenario: base.startsWith('re-issue') ? `${base} (extrapolated if time-bound)` : base };
      });
      const rows = await repeat(quick ? 1 : 5, once2);
      return { rows: rows.map((r) => ({ ...r, scenario: `S6 ${r.scenario}` })) };
    },
  },
  {
    name: 'operator',
    what: 'S7 operator apply->applied and no-op reconcile (bench/operator.ts, needs the cluster)',
    limitSec: { quick: 60, full: 240 },
    run: async ({ quick }) => {
      const down = clusterUp();
      if (down) throw new Error(down);
      const m = (await import('./operator.js')) as { runOperatorBench?: (q: boolean) => Promise<{ rows: BenchRow[]; noopWrites?: number }> };
      if (typeof m.runOperatorBench !== 'function') throw new Error('bench/operator.ts has no runOperatorBench export');
      const r = await m.runOperatorBench(quick);
      const rows = r.rows.map((row) => ({ ...row, scenario: `S7 ${row.scenario}` }));
      if (r.noopWrites !== undefined) {
        rows.push({ scenario: 'S7 no-op reconcile', measure: 'API writes', unit: 'writes', weft: r.noopWrites, anchor: 0, anchorName: 'none expected', goal: '0 writes', better: 'lower', maxAbs: 0 });
      }
      return { rows, notes: ['one repetition with internal iterations; spread is [min, max] (no-op: [min, p99])'] };
    },
  },
  {
    name: 'proxy-self',
    what: "bench/proxy.ts's own figures (in-process load generator)",
    optIn: true,
    limitSec: { quick: 90, full: 300 },
    run: async ({ quick }) => {
      const m = (await import('./proxy.js')) as { runProxyBench?: (q: boolean) => Promise<BenchRow[]> };
      if (typeof m.runProxyBench !== 'function') throw new Error('bench/proxy.ts has no runProxyBench export');
      return { rows: (await m.runProxyBench(quick)).map((r) => ({ ...r, scenario: `proxy.ts ${r.scenario}` })) };
    },
  },
];

// ------------------------------------------------------------------ child: one section

async function runSectionChild(name: string, quick: boolean): Promise<void> {
  const s = SECTIONS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown section ${name}`);
  const res = await s.run({ quick, log: (m) => process.stderr.write(`${m}\n`) });
  const file = process.env.WEFT_BENCH_SECTION_OUT;
  if (!file) throw new Error('WEFT_BENCH_SECTION_OUT not set');
  writeFileSync(file, JSON.stringify(res));
}

function runSectionInChild(s: Section, quick: boolean, limitSec: number): Promise<SectionResult> {
  const out = path.join(os.tmpdir(), `weft-bench-${process.pid}-${s.name}.json`);
  return new Promise((resolve) => {
    // Its own process group, so a time-out (or Ctrl-C here) stops the section and everything it
    // started (nginx, HAProxy, proxies, servers) by that group id, and nothing else.
    const child = spawn(process.execPath, [SELF, '--section', s.name, ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, WEFT_BENCH_SECTION_OUT: out }, detached: true,
    });
    const killGroup = (sig: NodeJS.Signals): void => {
      try { process.kill(-child.pid!, sig); } catch { /* already gone */ }
    };
    const onSignal = (): void => {
      killGroup('SIGTERM');
      setTimeout(() => { killGroup('SIGKILL'); process.exit(130); }, 2000).unref();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      const t = d.toString();
      err = (err + t).slice(-4000);
      if (/^bench: /m.test(t)) process.stderr.write(t.split('\n').filter((l) => l.startsWith('bench: ')).map((l) => `  ${l}\n`).join(''));
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 5000).unref();
    }, limitSec * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      if (!timedOut) killGroup('SIGTERM'); // strays of a crashed section
      if (!timedOut && code === 0 && existsSync(out)) {
        try {
          const res = JSON.parse(readFileSync(out, 'utf8')) as SectionResult;
          rmSync(out, { force: true });
          resolve(res);
          return;
        } catch (e) {
          err = String(e);
        }
      }
      rmSync(out, { force: true });
      const last = err.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('bench: ') && !l.startsWith('at ')).slice(-1)[0];
      const reason = timedOut ? `exceeded its ${limitSec} s limit` : (last ?? `exited with code ${code}`);
      resolve({ rows: [notMeasuredRow(s.what, reason)], notes: [reason] });
    });
  });
}

// ------------------------------------------------------------------ parent

function machine(): Record<string, string | number> {
  const lscpu = spawnSync('lscpu', { encoding: 'utf8' }).stdout ?? '';
  const model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const nproc = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout?.trim()) || os.cpus().length;
  return { nproc, model, node: process.version, kernel: os.release(), loadavg1: Number(os.loadavg()[0]!.toFixed(2)) };
}

function ensureDeps(log: (m: string) => void): void {
  const script = path.join(process.cwd(), 'hack/bench-deps.sh');
  if (!existsSync(script)) return;
  const ready = ['nginx', 'haproxy', 'wrk'].every((c) => which(c)) && gcpBinary() !== undefined;
  if (ready) return;
  log('bench: installing anchors (hack/bench-deps.sh), once per machine');
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 600_000 });
  for (const l of `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter(Boolean)) log(`  ${l}`);
}

function parseArgs(argv: readonly string[]): { quick: boolean; only?: string[]; section?: string; deps: boolean; limitSec?: number } {
  const quick = argv.includes('--quick');
  const deps = !argv.includes('--no-deps');
  const i = argv.indexOf('--only');
  let only: string[] | undefined;
  if (i >= 0) {
    const v = argv[i + 1];
    if (!v || v.startsWith('--')) throw new Error('--only needs a comma-separated list of sections');
    only = v.split(',').map((x) => x.trim()).filter(Boolean);
    const unknown = only.filter((n) => !SECTIONS.some((s) => s.name === n));
    if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`);
  }
  const j = argv.indexOf('--section');
  const k = argv.indexOf('--limit');
  let limitSec: number | undefined;
  if (k >= 0) {
    limitSec = Number(argv[k + 1]);
    if (!(limitSec >= 1 && limitSec <= 3600)) throw new Error(`--limit needs seconds per section (1..3600), got ${argv[k + 1] ?? 'nothing'}`);
  }
  return { quick, only, deps, limitSec, section: j >= 0 ? argv[j + 1] : undefined };
}

function latencySummary(lat: Record<string, number[]>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [k, v] of Object.entries(lat)) {
    const s = [...v].sort((a, b) => a - b);
    out[k] = { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), p999: percentile(s, 99.9), max: s[s.length - 1] ?? Number.NaN };
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.section) {
    await runSectionChild(args.section, args.quick);
    return;
  }
  const log = (m: string): void => { process.stderr.write(`${m}\n`); };
  const t0 = performance.now();
  if (args.deps) ensureDeps(log);
  const started = new Date();
  const budgetSec = args.quick ? 175 : 1190;
  const chosen = SECTIONS.filter((s) => (args.only ? args.only.includes(s.name) : !s.optIn));
  const sections: Array<{ name: string; seconds: number; notes: string[] }> = [];
  const rows: BenchRow[] = [];
  let latency: Record<string, number[]> = {};
  const tRun = performance.now();
  for (const s of chosen) {
    const left = budgetSec - (performance.now() - tRun) / 1000;
    const limit = Math.min(args.limitSec ?? (args.quick ? s.limitSec.quick : s.limitSec.full), Math.floor(left));
    if (limit < 10) {
      rows.push(notMeasuredRow(s.what, `skipped: the ${args.quick ? 'quick' : 'full'} run's ${budgetSec} s budget is used up`));
      sections.push({ name: s.name, seconds: 0, notes: ['skipped: time budget'] });
      continue;
    }
    log(`bench: ${s.name}: ${s.what} (limit ${limit} s)`);
    const ts = performance.now();
    const res = await runSectionInChild(s, args.quick, limit);
    const seconds = (performance.now() - ts) / 1000;
    rows.push(...res.rows.map(withAbsoluteGoal));
    if (res.latency) latency = { ...latency, ...res.latency };
    sections.push({ name: s.name, seconds: Number(seconds.toFixed(1)), notes: res.notes ?? [] });
    log(`bench: ${s.name} done in ${seconds.toFixed(1)} s`);
  }
  const totalSec = (performance.now() - t0) / 1000;
  const m = machine();
  const header = `Weft benchmark, ${args.quick ? 'quick' : 'full'} run, ${started.toISOString()} — ${m.nproc} CPUs, ${m.model}, node ${m.node}, load avg ${m.loadavg1} at end; ${totalSec.toFixed(0)} s`;
  console.log(header);
  console.log(formatTable(rows));
  const notes = sections.flatMap((s) => s.notes.map((n) => `${s.name}: ${n}`));
  if (notes.length) console.log(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
  const counts = { pass: rows.filter((r) => verdict(r) === 'pass').length, fail: rows.filter((r) => verdict(r) === 'fail').length, notMeasured: rows.filter((r) => r.notMeasured).length };
  console.log(`\n${rows.length} rows: ${counts.pass} pass, ${counts.fail} fail, ${counts.notMeasured} not measured. Ratio = Weft / anchor, both from this run.`);
  mkdirSync(RESULTS, { recursive: true });
  writeJson(path.join(RESULTS, 'latest.json'), {
    when: started.toISOString(), quick: args.quick, seconds: Number(totalSec.toFixed(1)), machine: m, sections, counts,
    rows: rows.map((r) => ({ ...r, ratio: r.anchor === 0 ? null : r.weft / r.anchor, verdict: verdict(r) })),
    latency: latencySummary(latency),
  });
  const order = ['direct', 'nginx', 'HAProxy', 'node:http proxy', 'Weft, 1 hop', 'nginx, 2 hops + mTLS', 'Weft, 2 hops + mTLS'];
  const series: LatencySeries[] = Object.entries(latency).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([name, samplesMs]) => ({ name, samplesMs }));
  const wrote = [path.join(RESULTS, 'latest.json')];
  // A run without the proxy section keeps the previous chart rather than drawing an empty one.
  if (series.length > 0) {
    writeFileSync(path.join(RESULTS, 'latency.svg'), latencySvg(series, { title: `Latency at 1,000 req/s open loop, 16 conns, 1 KB (${started.toISOString().slice(0, 16)}Z, ${m.nproc} CPUs)` }));
    wrote.push(path.join(RESULTS, 'latency.svg'));
  }
  console.log(`wrote ${wrote.map((f) => path.relative(process.cwd(), f)).join(' and ')}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(() => {
    // Sections may leave handles (grpc channels, agents) open; the report is written.
    process.exit(0);
  }, (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
