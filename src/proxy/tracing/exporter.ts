// Batched span export with a bounded queue. The request path only calls add(), which is
// synchronous and O(1): a full queue drops the span and counts it. Batches go out on a
// timer (or sooner when a batch fills), one POST at a time, each with a deadline; a failed
// batch is dropped and counted (no retry, so memory stays bounded).
import http from 'node:http';
import type { Logger } from '../../log/logger.js';
import type { Stats } from '../stats.js';
import { toOtlpJson, toZipkinJson, type Span } from './span.js';

export type TraceProtocol = 'otlp' | 'zipkin';
export const TRACE_PROTOCOLS: readonly TraceProtocol[] = ['otlp', 'zipkin'];

/** Where spans go: the OTLP/HTTP and Zipkin v2 collector paths. */
export const EXPORT_PATHS: Record<TraceProtocol, string> = { otlp: '/v1/traces', zipkin: '/api/v2/spans' };

export interface SpanSink { add(span: Span): void }

/** Sends one JSON body to the collector; rejects on a non-2xx answer, an error or the deadline. */
export type SpanSender = (path: string, body: string) => Promise<void>;

export interface ExporterOptions {
  /** Collector host:port. */
  endpoint: string;
  protocol: TraceProtocol;
  serviceName: string;
  maxQueue?: number;
  maxBatch?: number;
  flushIntervalMs?: number;
  timeoutMs?: number;
  logger: Logger;
  stats?: Stats;
  /** Defaults to an HTTP POST to the endpoint. */
  send?: SpanSender;
}

export const EXPORTER_DEFAULTS = Object.freeze({ maxQueue: 2048, maxBatch: 512, flushIntervalMs: 1000, timeoutMs: 2000 });

const METRIC = 'weft_tracing_spans_total';
const DROPPED = Object.freeze({ outcome: 'dropped' });
const EXPORTED = Object.freeze({ outcome: 'exported' });
const FAILED = Object.freeze({ outcome: 'failed' });

export function httpSender(endpoint: string, timeoutMs: number): SpanSender {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(endpoint.slice(colon + 1));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return (path, body) => new Promise<void>((resolve, reject) => {
    const req = http.request({
      host, port, path, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(deadline);
        const s = res.statusCode ?? 0;
        if (s >= 200 && s < 300) resolve(); else reject(new Error(`collector answered ${s}`));
      });
      res.on('error', reject);
    });
    const deadline = setTimeout(() => req.destroy(new Error('span export timed out')), timeoutMs);
    deadline.unref();
    req.on('error', (e) => { clearTimeout(deadline); reject(e); });
    req.end(body);
  });
}

export class SpanExporter implements SpanSink {
  readonly counts = { dropped: 0, exported: 0, failed: 0 };
  private queue: Span[] = [];
  private sending: Promise<void> | undefined;
  private kicked = false;
  private readonly timer: NodeJS.Timeout;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly send: SpanSender;
  private readonly path: string;

  constructor(private readonly opts: ExporterOptions) {
    this.maxQueue = opts.maxQueue ?? EXPORTER_DEFAULTS.maxQueue;
    this.maxBatch = opts.maxBatch ?? EXPORTER_DEFAULTS.maxBatch;
    this.send = opts.send ?? httpSender(opts.endpoint, opts.timeoutMs ?? EXPORTER_DEFAULTS.timeoutMs);
    this.path = EXPORT_PATHS[opts.protocol];
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? EXPORTER_DEFAULTS.flushIntervalMs);
    this.timer.unref();
  }

  get queued(): number { return this.queue.length; }

  add(span: Span): void {
    if (this.queue.length >= this.maxQueue) {
      this.counts.dropped++;
      this.opts.stats?.inc(METRIC, DROPPED);
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatch && !this.kicked) {
      // A full batch goes out soon, but never from inside the request that filled it.
      this.kicked = true;
      setImmediate(() => { this.kicked = false; void this.flush(); });
    }
  }

  /** Sends everything queued, a batch at a time; concurrent calls share the run in progress. */
  flush(): Promise<void> {
    this.sending ??= this.drain().finally(() => { this.sending = undefined; });
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const body = JSON.stringify(this.opts.protocol === 'otlp'
        ? toOtlpJson(batch, this.opts.serviceName) : toZipkinJson(batch, this.opts.serviceName));
      try {
        await this.send(this.path, body);
        this.counts.exported += batch.length;
        this.opts.stats?.inc(METRIC, EXPORTED, batch.length);
      } catch (err) {
        this.counts.failed += batch.length;
        this.opts.stats?.inc(METRIC, FAILED, batch.length);
        this.opts.logger.debug({ err, spans: batch.length, endpoint: this.opts.endpoint }, 'span export failed');
      }
    }
  }

  /** Stops the timer and sends what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
