// The data-plane health gate, read from the proxies' own metrics (Istio metric names, as
// src/proxy serves them on the metrics port): inbound request success rate and p99 latency
// of the pods restarted so far. Restarted pods are new processes, so their cumulative
// counters cover exactly the time since the restart: one scrape after the observation window
// is enough, and nothing has to be remembered across an operator restart.
// Parsing and judging are pure; scraping is a small injected MetricsSource.
import http from 'node:http';
import { PROXY_PORTS } from '../api/sidecar.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (counters, gauges, histogram series). Pure. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export interface TrafficSummary {
  requests: number;
  errors: number;
  successRatePercent: number;
  p99Ms: number;
}

/** Aggregates inbound (reporter="destination") requests over many scrapes. Pure. */
export function summarize(scrapes: readonly string[]): TrafficSummary {
  let requests = 0;
  let errors = 0;
  const buckets = new Map<number, number>();
  for (const text of scrapes) {
    for (const s of parsePrometheus(text)) {
      if (s.labels.reporter !== undefined && s.labels.reporter !== 'destination') continue;
      if (s.name === 'istio_requests_total') {
        requests += s.value;
        if (Number(s.labels.response_code ?? '0') >= 500 || s.labels.response_code === '0') errors += s.value;
      } else if (s.name === 'istio_request_duration_milliseconds_bucket') {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        buckets.set(le, (buckets.get(le) ?? 0) + s.value);
      }
    }
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? Math.max(0, ...buckets.values());
  let p99Ms = 0;
  if (total > 0) {
    p99Ms = Infinity;
    for (const b of bounds) {
      if ((buckets.get(b) ?? 0) >= 0.99 * total) {
        p99Ms = b;
        break;
      }
    }
  }
  return { requests, errors, successRatePercent: requests === 0 ? 100 : ((requests - errors) / requests) * 100, p99Ms };
}

export interface GateThresholds {
  minSuccessRatePercent: number;
  maxP99LatencyMs: number;
}

/** Pass/fail with a reason a human can act on. No traffic is not a failure. Pure. */
export function judgeHealthGate(s: TrafficSummary, t: GateThresholds): { ok: boolean; message: string } {
  if (s.requests === 0) return { ok: true, message: 'no inbound traffic observed' };
  const problems: string[] = [];
  if (s.successRatePercent < t.minSuccessRatePercent) problems.push(`success rate ${s.successRatePercent.toFixed(2)}% < ${t.minSuccessRatePercent}% (${s.errors}/${s.requests} failed)`);
  if (s.p99Ms > t.maxP99LatencyMs) problems.push(`p99 latency ${Number.isFinite(s.p99Ms) ? `${s.p99Ms}ms` : 'beyond the largest bucket'} > ${t.maxP99LatencyMs}ms`);
  return problems.length
    ? { ok: false, message: problems.join('; ') }
    : { ok: true, message: `success rate ${s.successRatePercent.toFixed(2)}%, p99 ≤ ${s.p99Ms}ms over ${s.requests} requests` };
}

export interface ScrapeTarget {
  namespace: string;
  name: string;
  podIP: string;
}

/** Where metrics come from: injected so tests and other transports can supply them. */
export interface MetricsSource {
  scrape(pod: ScrapeTarget): Promise<string>;
}

/** Plain HTTP GET of a proxy's Prometheus endpoint (bounded by a timeout). */
export class HttpMetricsSource implements MetricsSource {
  constructor(
    private readonly port: number = PROXY_PORTS.metrics,
    private readonly path: string = '/stats/prometheus',
    private readonly timeoutMs = 2000,
  ) {}

  async scrape(pod: ScrapeTarget): Promise<string> {
    return await new Promise((resolve, reject) => {
      const req = http.get({ host: pod.podIP, port: this.port, path: this.path, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ((res.statusCode ?? 500) < 400 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('metrics scrape timed out')));
      req.on('error', reject);
    });
  }
}
