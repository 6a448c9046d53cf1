// Per-record CPU cost of the proxy's metrics (src/proxy/stats.ts), the work every request adds,
// and the cost of one /stats/prometheus scrape with every request metric at its series cap:
//   node dist/bench/stats.js [--count N] [--scrapes K]
// recordRequest over a realistic mix of 24 label combinations (3 clusters x 4 codes x 2 flags),
// plus the generic inc() the TCP proxy uses. Anchor, measured in the same run: one Map lookup and
// number add per record (the floor of any keyed counter); and, for comparison, the same four
// updates through prom-client's own labels() children (what Stats avoids on the hot path). Bounded: N records per case
// (default 500,000, at most 5,000,000), no network.
// Scrape case: MAX_SERIES request label combinations (so four metrics at the cap), K scrapes (default 5,
// at most 50). Anchor: joining the same exposition lines from pre-rendered label strings (the floor
// of producing those bytes); comparison: prom-client rendering every sample's full label set (what
// Stats did before it passed each series' labels as prom-client's cached sharedLabels).
import { performance } from 'node:perf_hooks';
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { MAX_SERIES, Stats, type RequestRecord } from '../src/proxy/stats.js';

const args = process.argv.slice(2);
const count = Math.min(5_000_000, Number(args[args.indexOf('--count') + 1]) || 500_000);
/** prom-client's own children are ~50x slower; fewer iterations keep the run short. */
const directCount = Math.max(1, Math.floor(count / 20));

const records: RequestRecord[] = [];
for (const cluster of ['outbound|9080||reviews.default.svc.cluster.local', 'outbound|9080||ratings.default.svc.cluster.local', 'inbound|8080||']) {
  for (const status of [200, 404, 503, 500]) {
    for (const flags of ['-', 'UF']) {
      records.push({ cluster, status, flags, durationMs: 3, direction: cluster.startsWith('in') ? 'inbound' : 'outbound', reqBytes: 120, respBytes: 900 });
    }
  }
}

function time(name: string, fn: (i: number) => void, n = count): number {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  const ns = ((performance.now() - t0) * 1e6) / n;
  process.stdout.write(`${name.padEnd(40)} ${ns.toFixed(0).padStart(6)} ns/record\n`);
  return ns;
}

const anchorMap = new Map<RequestRecord, number>();
const anchor = time('anchor: Map get+set', (i) => { const r = records[i % records.length]!; anchorMap.set(r, (anchorMap.get(r) ?? 0) + 1); });
const stats = new Stats();
const rec = time('recordRequest', (i) => { const r = records[i % records.length]!; stats.recordRequest({ ...r, durationMs: i % 700 }); });
const tcp = { cluster: 'outbound|3306||mysql.default.svc.cluster.local', direction: 'outbound', mtls: false } as const;
const inc = time('recordTcp (tcp bytes counter)', (i) => stats.recordTcp('istio_tcp_sent_bytes_total', tcp, i & 1023));

// prom-client children, cached per combination, with Istio's ten request labels.
const registry = new Registry();
const labelNames = ['reporter', 'source_workload', 'source_workload_namespace', 'source_principal', 'destination_workload',
  'destination_workload_namespace', 'destination_principal', 'destination_service', 'response_code', 'response_flags'];
const c = new Counter({ name: 'req', help: 'h', labelNames, registers: [registry] });
const hs = ['dur', 'reqb', 'respb'].map((name) => new Histogram({ name, help: 'h', labelNames, registers: [registry] }));
const children = records.map((r) => {
  const labels = { reporter: 'source', source_workload: 'reviews-v1', source_workload_namespace: 'default', source_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
    destination_workload: 'unknown', destination_workload_namespace: 'unknown', destination_principal: 'unknown', destination_service: r.cluster,
    response_code: String(r.status), response_flags: r.flags };
  return { c: c.labels(labels), h: hs.map((h) => h.labels(labels)) };
});
const direct = time('prom-client children (comparison)', (i) => {
  const k = children[i % children.length]!;
  k.c.inc();
  k.h[0]!.observe(i % 700); k.h[1]!.observe(120); k.h[2]!.observe(900);
}, directCount);
process.stdout.write(`ratio to anchor: recordRequest ${(rec / anchor).toFixed(1)}x, recordTcp ${(inc / anchor).toFixed(1)}x, prom-client children ${(direct / anchor).toFixed(1)}x\n`);

// Scrape at the cap.
const scrapes = Math.min(50, Number(args[args.indexOf('--scrapes') + 1]) || 5);
const capped = new Stats({ workload: 'reviews-v1', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/reviews' });
for (let i = 0; i < MAX_SERIES; i++) {
  capped.recordRequest({ cluster: `outbound|9080||svc-${i}.default.svc.cluster.local`, status: 200, flags: '-', durationMs: i % 700, direction: 'outbound', reqBytes: 120, respBytes: 900 });
}
/** The registry's old path: full labels on every sample (get() splays them, as prom-client's Histogram does). */
const fullLabels = new Registry();
for (const m of capped.registry.getMetricsAsArray()) {
  const source = m as unknown as { name: string; type: string; get(): Promise<unknown> };
  fullLabels.registerMetric({ name: source.name, help: 'h', type: source.type, get: () => source.get() } as unknown as Metric);
}
const lines: { prefix: string; labels: string; value: number }[] = [];
for (const m of await capped.registry.getMetricsAsJSON()) {
  for (const v of m.values) {
    const labels = Object.entries(v.labels).map(([k, x]) => `${k}="${String(x)}"`).join(',');
    lines.push({ prefix: (v as { metricName?: string }).metricName ?? m.name, labels: `{${labels}}`, value: v.value });
  }
}

async function scrape(name: string, render: () => Promise<string> | string): Promise<number> {
  await render(); // warm-up
  let bytes = 0;
  let heap = 0;
  const t0 = performance.now();
  for (let k = 0; k < scrapes; k++) {
    const before = process.memoryUsage().heapUsed;
    bytes = (await render()).length;
    heap = Math.max(heap, process.memoryUsage().heapUsed - before);
  }
  const ms = (performance.now() - t0) / scrapes;
  process.stdout.write(`${name.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms/scrape, ${(bytes / 1e6).toFixed(1)} MB text, heap +${(heap / 1e6).toFixed(0)} MB\n`);
  return ms;
}

process.stdout.write(`scrape at the cap (${MAX_SERIES} series per request metric, ${lines.length} samples):\n`);
const floor = await scrape('anchor: join pre-rendered lines', () => lines.map((l) => `${l.prefix}${l.labels} ${l.value}`).join('\n'));
const now = await scrape('Stats.prometheus()', () => capped.prometheus());
const before = await scrape('prom-client, full labels per sample', () => fullLabels.metrics());
process.stdout.write(`ratio to anchor: Stats.prometheus() ${(now / floor).toFixed(1)}x, full labels per sample ${(before / floor).toFixed(1)}x\n`);
