// Request and connection statistics, in Istio's metric names, kept in plain maps and
// rendered as Prometheus text. Label values are bounded: at most MAX_SERIES per metric,
// further combinations fold into one "overflow" series (CVE-2025-43915 class of issue).

const MAX_SERIES = 2000;
const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

export interface RequestRecord {
  cluster: string; status: number; flags: string; durationMs: number; direction: 'inbound' | 'outbound';
  reqBytes: number; respBytes: number;
}

const keyCache = new WeakMap<Record<string, string>, string>();

function labelKey(labels: Record<string, string>): string {
  const cached = keyCache.get(labels);
  if (cached !== undefined) return cached;
  const k = renderLabels(labels);
  keyCache.set(labels, k);
  return k;
}

function renderLabels(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
}

export class Stats {
  /** recordRequest's label strings, cached per combination (the hot path builds none). */
  private readonly requestKeys = new Map<string, Record<string, string>>();
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly histograms = new Map<string, Map<string, { buckets: number[]; sum: number; count: number }>>();

  inc(metric: string, labels: Record<string, string>, by = 1): void {
    let m = this.counters.get(metric);
    if (!m) { m = new Map(); this.counters.set(metric, m); }
    let key = labelKey(labels);
    if (!m.has(key) && m.size >= MAX_SERIES) key = 'overflow="true"';
    m.set(key, (m.get(key) ?? 0) + by);
  }

  observe(metric: string, labels: Record<string, string>, value: number): void {
    let m = this.histograms.get(metric);
    if (!m) { m = new Map(); this.histograms.set(metric, m); }
    let key = labelKey(labels);
    if (!m.has(key) && m.size >= MAX_SERIES) key = 'overflow="true"';
    let h = m.get(key);
    if (!h) { h = { buckets: DURATION_BUCKETS_MS.map(() => 0), sum: 0, count: 0 }; m.set(key, h); }
    let i = 0;
    while (i < DURATION_BUCKETS_MS.length && value > DURATION_BUCKETS_MS[i]!) i++;
    if (i < DURATION_BUCKETS_MS.length) h.buckets[i]!++; // per-bucket; made cumulative when rendered
    h.sum += value;
    h.count++;
  }

  get(metric: string, labels: Record<string, string>): number {
    return this.counters.get(metric)?.get(labelKey(labels)) ?? 0;
  }

  /** Sum of a counter over every series whose labels include `match`. */
  sum(metric: string, match: Record<string, string> = {}): number {
    const parts = Object.entries(match).map(([k, v]) => `${k}="${v}"`);
    let total = 0;
    for (const [k, v] of this.counters.get(metric) ?? []) if (parts.every((p) => k.split(',').includes(p))) total += v;
    return total;
  }

  recordRequest(r: RequestRecord): void {
    const cacheKey = `${r.direction}|${r.cluster}|${r.status}|${r.flags}`;
    let labels = this.requestKeys.get(cacheKey);
    if (!labels) {
      labels = {
        reporter: r.direction === 'inbound' ? 'destination' : 'source',
        destination_service: r.cluster, response_code: String(r.status), response_flags: r.flags,
      };
      if (this.requestKeys.size < MAX_SERIES) this.requestKeys.set(cacheKey, labels);
    }
    this.inc('istio_requests_total', labels);
    this.observe('istio_request_duration_milliseconds', labels, r.durationMs);
    this.inc('istio_request_bytes_sum', labels, r.reqBytes);
    this.inc('istio_response_bytes_sum', labels, r.respBytes);
  }

  prometheus(): string {
    const out: string[] = [];
    for (const [metric, series] of this.counters) {
      out.push(`# TYPE ${metric} counter`);
      for (const [k, v] of series) out.push(`${metric}{${k}} ${v}`);
    }
    for (const [metric, series] of this.histograms) {
      out.push(`# TYPE ${metric} histogram`);
      for (const [k, h] of series) {
        let cum = 0;
        DURATION_BUCKETS_MS.forEach((b, i) => { cum += h.buckets[i]!; out.push(`${metric}_bucket{${k},le="${b}"} ${cum}`); });
        out.push(`${metric}_bucket{${k},le="+Inf"} ${h.count}`);
        out.push(`${metric}_sum{${k}} ${h.sum}`);
        out.push(`${metric}_count{${k}} ${h.count}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
