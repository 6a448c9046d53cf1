// Per-request tracing: read the caller's context, decide sampling, give this proxy's span
// its id, write the context onward, and hand a finished sampled span to the sink. All
// synchronous; the HTTP layers call it only when tracing is configured.
import { extractContext, injectContext, type HeaderGetter, type OutgoingContext } from './context.js';
import { RandomIds, type IdSource } from './ids.js';
import { sampleDecision } from './sampling.js';
import { buildSpan, type SpanKind, type SpanStart } from './span.js';
import type { SpanSink } from './exporter.js';
import type { HeaderBag } from '../route/router.js';

export interface TracingConfig {
  /** Percent of new traces sampled (a caller's decision always wins). */
  samplingPercent: number;
  /** node_id attribute on every span. */
  nodeId: string;
}

/** One request's span while it runs. */
export type ActiveTrace = SpanStart & OutgoingContext;

export class Tracer {
  constructor(
    private readonly cfg: TracingConfig,
    private readonly sink: SpanSink,
    private readonly rand: () => number = Math.random,
    private readonly ids: IdSource = new RandomIds(),
  ) {}

  start(get: HeaderGetter, kind: SpanKind, startMs: number, method: string, url: string, authority: string): ActiveTrace {
    const inc = extractContext(get);
    const requestId = get('x-request-id');
    return {
      traceId: inc.traceId ?? this.ids.traceId(),
      spanId: this.ids.spanId(),
      ...(inc.parentSpanId ? { parentSpanId: inc.parentSpanId } : {}),
      sampled: sampleDecision(inc.sampled, this.cfg.samplingPercent, this.rand()),
      b3: inc.b3,
      kind, startMs, method, url, authority,
      ...(requestId ? { requestId } : {}),
    };
  }

  /** The next hop's parent is this proxy's span. */
  inject(h: HeaderBag, t: ActiveTrace): void {
    injectContext(h, t);
  }

  end(t: ActiveTrace, endMs: number, status: number, flags: string, cluster: string): void {
    if (!t.sampled) return;
    this.sink.add(buildSpan(t, { endMs, status, flags, cluster, nodeId: this.cfg.nodeId }));
  }
}
