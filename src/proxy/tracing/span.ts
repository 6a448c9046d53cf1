// Finished spans with Istio's attributes, and their two wire forms: OTLP/HTTP JSON
// (/v1/traces) and Zipkin v2 JSON (/api/v2/spans). Pure.

export type SpanKind = 'server' | 'client';

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number>;
  error: boolean;
}

/** What the proxy knows when a request starts. */
export interface SpanStart {
  traceId: string; spanId: string; parentSpanId?: string; kind: SpanKind; startMs: number;
  method: string; url: string; authority: string; requestId?: string;
}

/** What it knows when the request ends. */
export interface SpanEnd { endMs: number; status: number; flags: string; cluster: string; nodeId: string }

/** Envoy/Istio span: named like Istio's route decorator (`<authority>/*`), tagged as Istio tags it. */
export function buildSpan(s: SpanStart, e: SpanEnd): Span {
  const attributes: Record<string, string | number> = {
    'http.method': s.method,
    'http.url': s.url,
    'http.status_code': e.status,
    upstream_cluster: e.cluster,
    node_id: e.nodeId,
    response_flags: e.flags,
    component: 'proxy',
  };
  if (s.requestId) attributes['guid:x-request-id'] = s.requestId;
  const error = e.status === 0 || e.status >= 500;
  if (error) attributes['error'] = 'true';
  return {
    traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    name: `${s.authority}/*`, kind: s.kind, startMs: s.startMs, endMs: Math.max(e.endMs, s.startMs), attributes, error,
  };
}

const OTLP_KIND = { server: 2, client: 3 } as const;

function nanos(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

/** OTLP/HTTP JSON ExportTraceServiceRequest; ids in hex as the OTLP JSON mapping requires. */
export function toOtlpJson(spans: readonly Span[], serviceName: string): unknown {
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
      scopeSpans: [{
        scope: { name: 'weft-proxy' },
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: OTLP_KIND[s.kind],
          startTimeUnixNano: nanos(s.startMs),
          endTimeUnixNano: nanos(s.endMs),
          attributes: Object.entries(s.attributes).map(([key, v]) => ({
            key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
          })),
          status: s.error ? { code: 2 } : {},
        })),
      }],
    }],
  };
}

/** Zipkin v2 JSON span list (timestamps and durations in microseconds, tags as strings). */
export function toZipkinJson(spans: readonly Span[], serviceName: string): unknown {
  return spans.map((s) => ({
    traceId: s.traceId,
    id: s.spanId,
    ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
    name: s.name,
    kind: s.kind === 'server' ? 'SERVER' : 'CLIENT',
    timestamp: Math.round(s.startMs * 1000),
    duration: Math.max(1, Math.round((s.endMs - s.startMs) * 1000)),
    localEndpoint: { serviceName },
    tags: Object.fromEntries(Object.entries(s.attributes).map(([k, v]) => [k, String(v)])),
  }));
}
