// Request and connection statistics in Istio's metric names and labels, exposed through a
// per-proxy prom-client Registry (never the global one: tests run many proxies in one process).
// Label values are bounded: at most MAX_SERIES series per metric; further combinations fold
// into one {overflow="true"} series (the CVE-2025-43915 class of issue).
// Hot path: prom-client hashes the full label set on every inc()/observe(), even through a
// labels() child (~2-3 us for Istio's ten labels, bench/stats.ts). So each series is looked up
// once, cached, and accumulates plain numbers; prom-client's registry reads them at scrape time
// through Counter/Histogram subclasses whose get() returns the accumulated samples.
import { Counter, Histogram, Registry } from 'prom-client';

/** Series kept per metric; further label combinations fold into the overflow series. */
export const MAX_SERIES = 2000;
const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];
/** Istio's request/response size buckets: 1 B to 100 MB, factor 10. */
const BYTES_BUCKETS = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];
const OVERFLOW_LABEL = 'overflow';
const OVERFLOW: Readonly<Record<string, string>> = Object.freeze({ [OVERFLOW_LABEL]: 'true' });
const UNKNOWN = 'unknown';

export interface RequestRecord {
  cluster: string; status: number; flags: string; durationMs: number; direction: 'inbound' | 'outbound';
  reqBytes: number; respBytes: number;
  /** The peer's SPIFFE ID when the connection carried a verified client certificate (inbound). */
  peerPrincipal?: string;
}

/** This proxy's workload, for the source_* (outbound) or destination_* (inbound) labels. */
export interface WorkloadLabels {
  workload: string;
  namespace: string;
  /** SPIFFE ID; '' when the proxy has no certificate. */
  principal: string;
}

/** Istio's standard labels on istio_requests_total and the request histograms, in Istio's order. */
const REQUEST_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal',
  'destination_workload', 'destination_workload_namespace', 'destination_principal',
  'destination_service', 'response_code', 'response_flags',
] as const;

/** Istio's labels on the TCP metrics (istio_tcp_*), in Istio's order. */
const TCP_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal',
  'destination_workload', 'destination_workload_namespace', 'destination_principal',
  'destination_service', 'connection_security_policy',
] as const;

/** One TCP connection as the metrics see it. */
export interface TcpRecord {
  cluster: string; direction: 'inbound' | 'outbound';
  /** The verified mTLS peer's SPIFFE ID (inbound). */
  peerPrincipal?: string;
  /** The downstream connection is mutual TLS (inbound). */
  mtls: boolean;
}

/** The TCP counters one connection updates. */
export type TcpEvent = 'istio_tcp_connections_opened_total' | 'istio_tcp_connections_closed_total' | 'istio_tcp_connections_refused_total'
  | 'istio_tcp_sent_bytes_total' | 'istio_tcp_received_bytes_total';

const TCP_HELP: Readonly<Record<TcpEvent, string>> = {
  istio_tcp_connections_opened_total: 'TCP connections opened, by Istio standard labels.',
  istio_tcp_connections_closed_total: 'TCP connections closed, by Istio standard labels.',
  istio_tcp_connections_refused_total: 'TCP connections refused (no cluster or no healthy host).',
  istio_tcp_sent_bytes_total: 'Bytes sent to the downstream peer of TCP connections.',
  istio_tcp_received_bytes_total: 'Bytes received from the downstream peer of TCP connections.',
};

/** One label combination's accumulators: a counter's total, or a histogram's per-bucket counts. */
interface Series {
  readonly labels: Record<string, string>;
  value: number;
  /** Histograms: per-bucket (not cumulative) counts, the last slot is +Inf; and the sum. */
  readonly buckets: Float64Array | undefined;
  sum: number;
}

/** A label set's identity within one metric (callers pass names in a stable order). */
function seriesKey(labels: Record<string, string>): string {
  let k = '';
  for (const n in labels) k += `${n}\u0000${labels[n]}\u0001`;
  return k;
}

/** One metric's series, capped at MAX_SERIES; the rest share one overflow series. */
class BoundedSeries {
  private readonly byObject = new WeakMap<Record<string, string>, Series>();
  private readonly byKey = new Map<string, Series>();
  private overflow: Series | undefined;

  /** `bounds` undefined = a counter. */
  constructor(readonly name: string, readonly labelNames: readonly string[], readonly bounds?: readonly number[]) {}

  /** The series for `labels`; callers that reuse a labels object skip even the key string. */
  get(labels: Record<string, string>): Series {
    const hit = this.byObject.get(labels);
    if (hit) return hit;
    const key = seriesKey(labels);
    let s = this.byKey.get(key);
    if (!s) {
      if (this.byKey.size >= MAX_SERIES) return this.overflowSeries();
      for (const n in labels) {
        if (!this.labelNames.includes(n)) throw new Error(`metric ${this.name}: label "${n}" is not one of its labels (${this.labelNames.join(', ')})`);
      }
      s = this.newSeries({ ...labels });
      this.byKey.set(key, s);
    }
    this.byObject.set(labels, s);
    return s;
  }

  find(labels: Record<string, string>): Series | undefined {
    return labels[OVERFLOW_LABEL] === 'true' && Object.keys(labels).length === 1 ? this.overflow : this.byKey.get(seriesKey(labels));
  }

  *all(): Iterable<Series> {
    yield* this.byKey.values();
    if (this.overflow) yield this.overflow;
  }

  observe(s: Series, v: number): void {
    const b = this.bounds!;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.buckets![i]!++;
    s.value++;
    s.sum += v;
  }

  private overflowSeries(): Series {
    this.overflow ??= this.newSeries(OVERFLOW);
    return this.overflow;
  }

  private newSeries(labels: Record<string, string>): Series {
    return { labels, value: 0, sum: 0, buckets: this.bounds ? new Float64Array(this.bounds.length + 1) : undefined };
  }
}

/** What prom-client's metrics return from get(): the samples the registry renders. */
type MetricData = Awaited<ReturnType<Histogram['get']>>;
/** One sample. `sharedLabels` (which prom-client's own Histogram uses) is rendered through a cache
 *  keyed by the object, so a series' labels are escaped and joined once, not once per sample per scrape. */
interface Sample { labels: Record<string, string | number>; sharedLabels?: Record<string, string>; value: number; metricName?: string }
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function metricData(name: string, help: string, type: 'counter' | 'histogram', values: Sample[]): MetricData {
  // prom-client's typings give `type` as a numeric enum; at run time (and in the registry) it is the string.
  return { name, help, type, aggregator: 'sum', values } as unknown as MetricData;
}

/** Full label sets, for get() (JSON) callers: prom-client's Histogram splays sharedLabels the same way. */
function splay(d: MetricData): MetricData {
  const values = (d.values as Sample[]).map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...sharedLabels, ...v.labels } }));
  return metricData(d.name, d.help, d.type as unknown as 'counter' | 'histogram', values);
}

/** A prom-client Counter whose samples are the accumulated series, read at scrape time. */
class AccumulatedCounter extends Counter {
  constructor(private readonly series: BoundedSeries, private readonly helpText: string, registry: Registry) {
    super({ name: series.name, help: helpText, labelNames: series.labelNames, registers: [registry] });
  }

  override get(): Promise<MetricData> {
    return Promise.resolve(splay(this.snapshot()));
  }

  /** The registry renders from this when present. */
  getForPromString(): Promise<MetricData> {
    return Promise.resolve(this.snapshot());
  }

  private snapshot(): MetricData {
    const values: Sample[] = [];
    for (const s of this.series.all()) values.push({ labels: NO_LABELS, sharedLabels: s.labels, value: s.value });
    return metricData(this.series.name, this.helpText, 'counter', values);
  }
}

/** A prom-client Histogram whose samples are the accumulated series (prom-client has no bulk observe). */
class AccumulatedHistogram extends Histogram {
  /** One { le } object per bucket, shared by every series and scrape. */
  private readonly le: readonly Readonly<Record<string, string | number>>[];

  constructor(private readonly series: BoundedSeries, private readonly helpText: string, registry: Registry) {
    super({ name: series.name, help: helpText, labelNames: series.labelNames, buckets: [...series.bounds!], registers: [registry] });
    this.le = [...series.bounds!, '+Inf'].map((le) => Object.freeze({ le }));
  }

  override get(): Promise<MetricData> {
    return Promise.resolve(splay(this.snapshot()));
  }

  /** The registry renders from this when present (prom-client's Histogram defines it). */
  getForPromString(): Promise<MetricData> {
    return Promise.resolve(this.snapshot());
  }

  private snapshot(): MetricData {
    const { name } = this.series;
    const [bucket, sum, count] = [`${name}_bucket`, `${name}_sum`, `${name}_count`];
    const values: Sample[] = [];
    for (const s of this.series.all()) {
      let cum = 0;
      for (let i = 0; i < this.le.length; i++) {
        cum += s.buckets![i]!;
        values.push({ labels: this.le[i]!, sharedLabels: s.labels, value: cum, metricName: bucket });
      }
      values.push({ labels: NO_LABELS, sharedLabels: s.labels, value: s.sum, metricName: sum });
      values.push({ labels: NO_LABELS, sharedLabels: s.labels, value: s.value, metricName: count });
    }
    return metricData(name, this.helpText, 'histogram', values);
  }
}

/** The four series one request updates, cached per label combination. */
interface RequestSeries { requests: Series; duration: Series; reqBytes: Series; respBytes: Series }

/** Cache key levels: cluster → status → flags → peer principal ('' = none). */
type RequestCache = Map<string, Map<number, Map<string, Map<string, RequestSeries>>>>;

function child<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) { v = make(); m.set(k, v); }
  return v;
}

/** Namespace of a SPIFFE ID spiffe://<td>/ns/<ns>/sa/<sa>; 'unknown' for anything else. */
function spiffeNamespace(principal: string): string {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/[^/]+$/.exec(principal);
  return m ? m[1]! : UNKNOWN;
}

export class Stats {
  readonly registry = new Registry();
  private readonly counters = new Map<string, BoundedSeries>();
  private readonly histograms = new Map<string, BoundedSeries>();
  private readonly requestCache: Record<RequestRecord['direction'], RequestCache> = { inbound: new Map(), outbound: new Map() };
  private cachedRequestSeries = 0;
  /** TCP label objects by direction+cluster+peer+security, reused so series lookups skip the key string; bounded like the series. */
  private readonly tcpLabelCache = new Map<string, Record<string, string>>();
  private readonly self: WorkloadLabels;
  private readonly requests: BoundedSeries;
  private readonly duration: BoundedSeries;
  private readonly reqBytes: BoundedSeries;
  private readonly respBytes: BoundedSeries;

  constructor(workload?: WorkloadLabels) {
    this.self = {
      workload: workload?.workload || UNKNOWN, namespace: workload?.namespace || UNKNOWN, principal: workload?.principal || UNKNOWN,
    };
    this.requests = this.counterSeries('istio_requests_total', REQUEST_LABELS, 'Requests, by Istio standard labels.');
    this.duration = this.histogramSeries('istio_request_duration_milliseconds', REQUEST_LABELS, DURATION_BUCKETS_MS, 'Request duration in milliseconds.');
    this.reqBytes = this.histogramSeries('istio_request_bytes', REQUEST_LABELS, BYTES_BUCKETS, 'Request body sizes in bytes.');
    this.respBytes = this.histogramSeries('istio_response_bytes', REQUEST_LABELS, BYTES_BUCKETS, 'Response body sizes in bytes.');
    for (const [name, help] of Object.entries(TCP_HELP)) this.counterSeries(name, TCP_LABELS, help);
  }

  /** Adds `by` to a counter. A metric's label names are fixed by its first use. */
  inc(metric: string, labels: Record<string, string>, by = 1): void {
    (this.counters.get(metric) ?? this.counterSeries(metric, Object.keys(labels))).get(labels).value += by;
  }

  /** Observes a value in a histogram with the duration buckets (ms). */
  observe(metric: string, labels: Record<string, string>, value: number): void {
    const h = this.histograms.get(metric) ?? this.histogramSeries(metric, Object.keys(labels), DURATION_BUCKETS_MS);
    h.observe(h.get(labels), value);
  }

  /** A counter series' value; { overflow: 'true' } reads the folded series. */
  get(metric: string, labels: Record<string, string>): number {
    return this.counters.get(metric)?.find(labels)?.value ?? 0;
  }

  /** Sum of a counter over every series whose labels include `match`. */
  sum(metric: string, match: Record<string, string> = {}): number {
    let total = 0;
    const wanted = Object.entries(match);
    for (const s of this.counters.get(metric)?.all() ?? []) if (wanted.every(([k, v]) => s.labels[k] === v)) total += s.value;
    return total;
  }

  recordRequest(r: RequestRecord): void {
    const s = this.requestSeries(r);
    s.requests.value++;
    this.duration.observe(s.duration, r.durationMs);
    this.reqBytes.observe(s.reqBytes, r.reqBytes);
    this.respBytes.observe(s.respBytes, r.respBytes);
  }

  /** Adds `by` to one of Istio's TCP counters, with Istio's TCP labels for this connection. */
  recordTcp(event: TcpEvent, r: TcpRecord, by = 1): void {
    this.inc(event, this.tcpLabels(r), by);
  }

  /** Prometheus text exposition, rendered by prom-client. */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  private requestSeries(r: RequestRecord): RequestSeries {
    const peer = r.peerPrincipal ?? '';
    const hit = this.requestCache[r.direction].get(r.cluster)?.get(r.status)?.get(r.flags)?.get(peer);
    if (hit) return hit;
    const labels = this.requestLabels(r, peer);
    const s: RequestSeries = {
      requests: this.requests.get(labels), duration: this.duration.get(labels), reqBytes: this.reqBytes.get(labels), respBytes: this.respBytes.get(labels),
    };
    // The cache is bounded like the series: past it, a request builds its labels (slow path, bounded memory).
    if (this.cachedRequestSeries < MAX_SERIES) {
      const m = this.requestCache[r.direction];
      child(child(child(m, r.cluster, () => new Map()), r.status, () => new Map()), r.flags, () => new Map()).set(peer, s);
      this.cachedRequestSeries++;
    }
    return s;
  }

  private requestLabels(r: RequestRecord, peer: string): Record<string, string> {
    return { ...this.peerLabels(r.direction, r.cluster, peer), response_code: String(r.status), response_flags: r.flags };
  }

  private tcpLabels(r: TcpRecord): Record<string, string> {
    const peer = r.peerPrincipal ?? '';
    const key = `${r.direction}\u0000${r.cluster}\u0000${peer}\u0000${r.mtls}`;
    const hit = this.tcpLabelCache.get(key);
    if (hit) return hit;
    // Istio: mutual_tls or none as the destination sees it; the source cannot know the server's policy.
    const policy = r.direction === 'inbound' ? (r.mtls ? 'mutual_tls' : 'none') : UNKNOWN;
    const labels = { ...this.peerLabels(r.direction, r.cluster, peer), connection_security_policy: policy };
    if (this.tcpLabelCache.size < MAX_SERIES) this.tcpLabelCache.set(key, labels);
    return labels;
  }

  /** Istio's reporter, source_*, destination_* and destination_service labels: this proxy on one side, the peer on the other. */
  private peerLabels(direction: RequestRecord['direction'], cluster: string, peer: string): Record<string, string> {
    const inbound = direction === 'inbound';
    const me = this.self;
    return {
      reporter: inbound ? 'destination' : 'source',
      source_workload: inbound ? UNKNOWN : me.workload,
      source_workload_namespace: inbound ? (peer ? spiffeNamespace(peer) : UNKNOWN) : me.namespace,
      source_principal: inbound ? peer || UNKNOWN : me.principal,
      destination_workload: inbound ? me.workload : UNKNOWN,
      destination_workload_namespace: inbound ? me.namespace : UNKNOWN,
      destination_principal: inbound ? me.principal : UNKNOWN,
      destination_service: cluster,
    };
  }

  private counterSeries(name: string, labelNames: readonly string[], help = `Weft counter ${name}.`): BoundedSeries {
    const series = new BoundedSeries(name, [...labelNames, OVERFLOW_LABEL]);
    new AccumulatedCounter(series, help, this.registry);
    this.counters.set(name, series);
    return series;
  }

  private histogramSeries(name: string, labelNames: readonly string[], bounds: readonly number[], help = `Weft histogram ${name}.`): BoundedSeries {
    const series = new BoundedSeries(name, [...labelNames, OVERFLOW_LABEL], bounds);
    new AccumulatedHistogram(series, help, this.registry);
    this.histograms.set(name, series);
    return series;
  }
}
