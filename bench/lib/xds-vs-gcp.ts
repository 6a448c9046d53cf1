// Scenario 4, side by side: Weft's ADS server and go-control-plane's (hack/gcp), each in its
// own process on core 1, each serving the same shape (N services -> N EDS clusters + endpoints,
// one listener, one RouteConfiguration with N virtual hosts), to the same N lean ADS clients
// in this process on core 0. One change (svc-0's route weight) is triggered the same way, by
// POST /change on the server's control port; the figure is the time until every client has
// the new RouteConfiguration. Both servers push at once (Weft with pushNow; the deployed
// 100 ms debounce is measured by bench/xds.ts).
import path from 'node:path';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { TYPE_URLS } from '../../src/envoy/index.js';
import { AdsBenchClient } from './ads-client.js';
import { announcedPort, startProcess, treeRssMb, type Started } from './procs.js';
import { aggregateReps, percentile, type BenchRow } from './report.js';

export interface XdsCompareOptions {
  quick: boolean;
  distDir: string;
  gcpBin: string | undefined;
  log: (msg: string) => void;
}

interface ServerRun {
  syncMs: number;
  rssMb: number;
  rdsBytes: number;
  changes: Array<{ p50: number; p99: number; max: number }>;
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
  const cs: AdsBenchClient[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < clients; i++) {
      cs.push(new AdsBenchClient(`127.0.0.1:${ads}`, `sidecar~10.90.${i >> 8}.${i & 255}~client-${i}.bench~bench.svc.cluster.local`));
      if (i % 100 === 99) await new Promise((r) => setImmediate(r)); // let connections progress
    }
    await until(`${clients} clients to receive the initial config`, () => cs.every((c) => c.synced()), timeoutMs);
    const syncMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 500)); // ACKs drain
    const rssMb = treeRssMb(server.proc.pid!);
    const out: ServerRun['changes'] = [];
    for (let k = 0; k < changes; k++) {
      for (const c of cs) c.arm(TYPE_URLS.route);
      const start = performance.now();
      await post(ctl, '/change');
      await until('every client to receive the change', () => cs.every((c) => c.changedAt !== undefined), timeoutMs);
      const ds = cs.map((c) => c.changedAt! - start).sort((a, b) => a - b);
      out.push({ p50: percentile(ds, 50), p99: percentile(ds, 99), max: ds[ds.length - 1]! });
      await new Promise((r) => setTimeout(r, 300)); // ACKs drain before the next change
    }
    return { syncMs, rssMb, rdsBytes: cs[0]!.sizes.get(TYPE_URLS.route) ?? Number.NaN, changes: out };
  } finally {
    for (const c of cs) c.close();
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
  const perChange: BenchRow[][] = w.changes.map((wc, i) => {
    const gc = g.changes[i]!;
    return [
      { scenario: sc, measure: 'change -> all clients p50', unit: 'ms', weft: wc.p50, anchor: gc.p50, anchorName: 'go-control-plane', better: 'lower' },
      { scenario: sc, measure: 'change -> all clients p99', unit: 'ms', weft: wc.p99, anchor: gc.p99, anchorName: 'go-control-plane', better: 'lower', goal: '< 1 s absolute', maxAbs: 1000 },
      { scenario: sc, measure: 'change -> last client', unit: 'ms', weft: wc.max, anchor: gc.max, anchorName: 'go-control-plane', better: 'lower' },
    ];
  });
  return [
    ...aggregateReps(perChange),
    { scenario: sc, measure: `initial sync of ${clients} clients`, unit: 'ms', weft: w.syncMs, anchor: g.syncMs, anchorName: 'go-control-plane', better: 'lower' },
    { scenario: sc, measure: 'server RSS after sync', unit: 'MB', weft: w.rssMb, anchor: g.rssMb, anchorName: 'go-control-plane', better: 'lower' },
    { scenario: sc, measure: 'RDS response size', unit: 'kB', weft: w.rdsBytes / 1024, anchor: g.rdsBytes / 1024, anchorName: 'go-control-plane', better: 'lower' },
  ];
}
