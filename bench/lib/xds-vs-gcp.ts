// Scenario 4, side by side: Weft's ADS server and go-control-plane's (hack/gcp), each in its
// own process on core 1, each serving the same shape (N services -> N EDS clusters + endpoints,
// one listener, one RouteConfiguration with N virtual hosts), to the same N lean ADS clients,
// which run in child processes of their own on core 0 (ads-client-pool.ts). So the server's
// process holds only the server: its RSS growth per connected client and its CPU per push are
// read from /proc/<pid>. One change (svc-0's route weight) is triggered the same way, by POST
// /change on the server's control port; the figure is the time until every client has the new
// RouteConfiguration and has ACKed it. Both servers push at once (Weft with pushNow; the
// deployed 100 ms debounce is measured by bench/xds.ts).
import path from 'node:path';
import http from 'node:http';
import { TYPE_URLS } from '../../src/envoy/index.js';
import { AdsClientPool, convergence, type Convergence } from './ads-client-pool.js';
import { announcedPort, cpuSeconds, rssMb, startProcess, type Started } from './procs.js';
import { aggregateReps, type BenchRow } from './report.js';

export interface XdsCompareOptions {
  quick: boolean;
  distDir: string;
  gcpBin: string | undefined;
  log: (msg: string) => void;
}

interface ServerRun {
  syncMs: number;
  /** Server RSS before any client connected, and with all clients connected and synced. */
  idleRssMb: number;
  rssMb: number;
  rdsBytes: number;
  changes: Array<Convergence & { cpuMs: number }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function post(port: number, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST ${p}: HTTP ${res.statusCode}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function measureServer(server: Started, clients: number, changes: number, timeoutMs: number): Promise<ServerRun> {
  const ads = announcedPort(server.out, 'ADS')!;
  const ctl = announcedPort(server.out, 'CTL')!;
  const pid = server.proc.pid!;
  await sleep(500);
  const idleRssMb = rssMb(pid);
  const t0 = performance.now();
  const { pool, sizes } = await AdsClientPool.connect(`127.0.0.1:${ads}`, clients, { core: 0, timeoutMs });
  try {
    const syncMs = performance.now() - t0;
    await sleep(1000); // ACKs drain
    const rss = rssMb(pid);
    const out: ServerRun['changes'] = [];
    for (let k = 0; k < changes; k++) {
      const cpu0 = cpuSeconds(pid);
      const delays = await pool.measure(TYPE_URLS.route, () => post(ctl, '/change'), timeoutMs);
      await sleep(300); // the server reads the last ACKs: part of the push's cost
      out.push({ ...convergence(delays), cpuMs: (cpuSeconds(pid) - cpu0) * 1000 });
    }
    return { syncMs, idleRssMb, rssMb: rss, rdsBytes: sizes[TYPE_URLS.route] ?? Number.NaN, changes: out };
  } finally {
    pool.close();
  }
}

export async function runXdsVersusGcp(o: XdsCompareOptions): Promise<BenchRow[]> {
  if (!o.gcpBin) throw new Error('go-control-plane server not built (run hack/bench-deps.sh)');
  const clients = o.quick ? 200 : 1000;
  const services = 1000;
  const changes = o.quick ? 3 : 5;
  const timeoutMs = o.quick ? 60_000 : 120_000;
  const results: Record<string, ServerRun> = {};
  for (const [name, cmd, args] of [
    ['weft', process.execPath, [path.join(o.distDir, 'bench/anchors/weft-xds.js'), '--services', String(services)]],
    ['gcp', o.gcpBin, ['--services', String(services)]],
  ] as const) {
    o.log(`bench: xDS ${name}: ${clients} clients x ${services} services, ${changes} changes`);
    const server = await startProcess({ name: `${name} ADS server`, cmd, args: [...args], core: 1, timeoutMs: 60_000, ready: (out) => announcedPort(out, 'CTL') !== undefined });
    try {
      results[name] = await measureServer(server, clients, changes, timeoutMs);
    } finally {
      await server.stop();
    }
  }
  const w = results.weft!;
  const g = results.gcp!;
  const sc = `S4 xDS ${clients} clients x ${services} services, one route change`;
  const perClient = (r: ServerRun): number => (r.rssMb - r.idleRssMb) / clients;
  const perChange: BenchRow[][] = w.changes.map((wc, i) => {
    const gc = g.changes[i]!;
    return [
      { scenario: sc, measure: 'change -> all clients p50', unit: 'ms', weft: wc.p50, anchor: gc.p50, anchorName: 'go-control-plane', better: 'lower' },
      { scenario: sc, measure: 'change -> all clients p99', unit: 'ms', weft: wc.p99, anchor: gc.p99, anchorName: 'go-control-plane', better: 'lower', goal: '< 1 s absolute', maxAbs: 1000 },
      { scenario: sc, measure: 'change -> last client', unit: 'ms', weft: wc.max, anchor: gc.max, anchorName: 'go-control-plane', better: 'lower' },
      { scenario: sc, measure: 'server CPU per push (user+sys)', unit: 'ms', weft: wc.cpuMs, anchor: gc.cpuMs, anchorName: 'go-control-plane', better: 'lower' },
    ];
  });
  return [
    ...aggregateReps(perChange),
    { scenario: sc, measure: `initial sync of ${clients} clients`, unit: 'ms', weft: w.syncMs, anchor: g.syncMs, anchorName: 'go-control-plane', better: 'lower' },
    { scenario: sc, measure: 'server RSS after sync', unit: 'MB', weft: w.rssMb, anchor: g.rssMb, anchorName: 'go-control-plane', better: 'lower' },
    { scenario: sc, measure: 'server RSS with 0 clients', unit: 'MB', weft: w.idleRssMb, anchor: g.idleRssMb, anchorName: 'go-control-plane', better: 'lower' },
    { scenario: sc, measure: 'server RSS per connected client', unit: 'MB', weft: perClient(w), anchor: perClient(g), anchorName: 'go-control-plane', better: 'lower', goal: '<= 0.5 MB absolute', maxAbs: 0.5 },
    { scenario: sc, measure: 'RDS response size', unit: 'kB', weft: w.rdsBytes / 1024, anchor: g.rdsBytes / 1024, anchorName: 'go-control-plane', better: 'lower' },
  ];
}
