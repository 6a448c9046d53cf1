// Trace context headers (W3C and B3), sampling, spans and their wire forms, the tracer's
// per-request flow, and the bounded export queue.
import { describe, expect, it } from '@jest/globals';
import { extractContext, injectContext, parseB3Multi, parseB3Single, parseTraceparent, type HeaderGetter } from '../../../src/proxy/tracing/context.js';
import { sampleDecision } from '../../../src/proxy/tracing/sampling.js';
import { buildSpan, toOtlpJson, toZipkinJson, type Span } from '../../../src/proxy/tracing/span.js';
import { Tracer } from '../../../src/proxy/tracing/tracer.js';
import { RandomIds, type IdSource } from '../../../src/proxy/tracing/ids.js';
import { SpanExporter } from '../../../src/proxy/tracing/exporter.js';
import { silentLogger } from '../../../src/log/logger.js';
import { Stats } from '../../../src/proxy/stats.js';
import type { HeaderBag } from '../../../src/proxy/route/router.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const P = '00f067aa0ba902b7';
const headers = (h: Record<string, string>): HeaderGetter => (n) => h[n];

describe('W3C traceparent', () => {
  it('parses a valid header and its sampled flag', () => {
    expect(parseTraceparent(`00-${T}-${P}-01`)).toEqual({ traceId: T, parentSpanId: P, sampled: true });
    expect(parseTraceparent(`00-${T}-${P}-00`)).toEqual({ traceId: T, parentSpanId: P, sampled: false });
    expect(parseTraceparent(`00-${T}-${P}-03`)?.sampled).toBe(true); // other flag bits ignored
    // A later version may append fields after a dash.
    expect(parseTraceparent(`01-${T}-${P}-01-extra`)).toEqual({ traceId: T, parentSpanId: P, sampled: true });
  });

  it.each([
    ['empty', ''],
    ['version ff', `ff-${T}-${P}-01`],
    ['version 00 with extra fields', `00-${T}-${P}-01-x`],
    ['upper-case hex', `00-${T.toUpperCase()}-${P}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${P}-01`],
    ['all-zero span id', `00-${T}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${T.slice(2)}-${P}-01`],
    ['bad separators', `00_${T}_${P}_01`],
    ['non-hex flags', `00-${T}-${P}-zz`],
    ['non-hex version', `zz-${T}-${P}-01`],
    ['later version glued to more text', `01-${T}-${P}-01x`],
    ['huge', `00-${T}-${P}-01`.padEnd(600, 'a')],
  ])('rejects %s', (_name, v) => {
    expect(parseTraceparent(v)).toBeUndefined();
  });
});

describe('B3', () => {
  it('single header: full, without sampling, sampling only, debug, 64-bit trace ids widened', () => {
    expect(parseB3Single(`${T}-${P}-1-${'a'.repeat(16)}`)).toEqual({ traceId: T, parentSpanId: P, sampled: true });
    expect(parseB3Single(`${T}-${P}`)).toEqual({ traceId: T, parentSpanId: P });
    expect(parseB3Single('0')).toEqual({ sampled: false });
    expect(parseB3Single(`${T}-${P}-d`)?.sampled).toBe(true);
    expect(parseB3Single(`a3ce929d0e0e4736-${P}-0`)).toEqual({ traceId: `0000000000000000a3ce929d0e0e4736`, parentSpanId: P, sampled: false });
  });
  it.each([['garbage', 'hello'], ['bad sampling', `${T}-${P}-x`], ['too many parts', `${T}-${P}-1-${P}-9`], ['short span', `${T}-abc-1`], ['zero trace', `${'0'.repeat(32)}-${P}-1`]])(
    'single header rejects %s', (_n, v) => expect(parseB3Single(v)).toBeUndefined());

  it('multi header, with x-b3-flags debug and sampled-only requests', () => {
    expect(parseB3Multi(headers({ 'x-b3-traceid': T, 'x-b3-spanid': P, 'x-b3-sampled': '1' }))).toEqual({ traceId: T, parentSpanId: P, sampled: true });
    expect(parseB3Multi(headers({ 'x-b3-traceid': T, 'x-b3-spanid': P, 'x-b3-flags': '1', 'x-b3-sampled': '0' }))?.sampled).toBe(true);
    expect(parseB3Multi(headers({ 'x-b3-sampled': 'false' }))).toEqual({ sampled: false });
    expect(parseB3Multi(headers({ 'x-b3-traceid': 'nothex', 'x-b3-spanid': P }))).toBeUndefined();
  });
});

describe('extractContext', () => {
  it('prefers traceparent, then b3, then x-b3-*', () => {
    const other = 'a'.repeat(32);
    expect(extractContext(headers({ traceparent: `00-${T}-${P}-01`, b3: `${other}-${P}-0` }))).toEqual({ traceId: T, parentSpanId: P, sampled: true, b3: 'single' });
    expect(extractContext(headers({ b3: `${T}-${P}-0` }))).toEqual({ traceId: T, parentSpanId: P, sampled: false, b3: 'single' });
    expect(extractContext(headers({ 'x-b3-traceid': T, 'x-b3-spanid': P }))).toEqual({ traceId: T, parentSpanId: P, b3: 'multi' });
    expect(extractContext(headers({}))).toEqual({ b3: 'none' });
  });
  it('a malformed traceparent is ignored: B3 if any, else a new trace', () => {
    expect(extractContext(headers({ traceparent: 'garbage', 'x-b3-traceid': T, 'x-b3-spanid': P, 'x-b3-sampled': '1' }))).toEqual({ traceId: T, parentSpanId: P, sampled: true, b3: 'multi' });
    expect(extractContext(headers({ traceparent: `00-${T}-${P}` }))).toEqual({ b3: 'none' });
  });
});

describe('injectContext', () => {
  it('writes traceparent and multi-header B3 by default, keeping tracestate', () => {
    const h: HeaderBag = { tracestate: 'vendor=1', 'x-b3-parentspanid': 'stale' };
    injectContext(h, { traceId: T, spanId: 'b'.repeat(16), sampled: true, b3: 'none' });
    expect(h).toEqual({
      tracestate: 'vendor=1', traceparent: `00-${T}-${'b'.repeat(16)}-01`,
      'x-b3-traceid': T, 'x-b3-spanid': 'b'.repeat(16), 'x-b3-sampled': '1',
    });
  });
  it('answers a single-header caller in single-header form, with the parent', () => {
    const h: HeaderBag = {};
    injectContext(h, { traceId: T, spanId: 'b'.repeat(16), parentSpanId: P, sampled: false, b3: 'single' });
    expect(h).toEqual({ traceparent: `00-${T}-${'b'.repeat(16)}-00`, b3: `${T}-${'b'.repeat(16)}-0-${P}` });
  });
});

describe('sampling', () => {
  it('respects the caller either way and samples percent of new traces', () => {
    expect(sampleDecision(true, 0, 0.99)).toBe(true);
    expect(sampleDecision(false, 100, 0)).toBe(false);
    expect(sampleDecision(undefined, 1, 0.009)).toBe(true);
    expect(sampleDecision(undefined, 1, 0.01)).toBe(false);
    expect(sampleDecision(undefined, 0, 0)).toBe(false);
    expect(sampleDecision(undefined, 100, 0.9999)).toBe(true);
  });
});

class CountingIds implements IdSource {
  private n = 0;
  traceId(): string { return (++this.n).toString(16).padStart(32, 'c'); }
  spanId(): string { return (++this.n).toString(16).padStart(16, 'e'); }
}

describe('Tracer', () => {
  const sink = (): { spans: Span[]; add(s: Span): void } => { const spans: Span[] = []; return { spans, add: (s) => spans.push(s) }; };

  it('starts a new sampled trace, propagates its span as the parent, and records a client span', () => {
    const s = sink();
    const tr = new Tracer({ samplingPercent: 100, nodeId: 'sidecar~1~a.ns~ns.svc.cluster.local' }, s, () => 0.5, new CountingIds());
    const t = tr.start(headers({ 'x-request-id': 'rid' }), 'client', 1000, 'GET', 'http://svc/x', 'svc:80');
    const out: HeaderBag = {};
    tr.inject(out, t);
    expect(out['traceparent']).toBe(`00-${t.traceId}-${t.spanId}-01`);
    tr.end(t, 1012, 503, 'URX', 'outbound|80||svc');
    expect(s.spans).toEqual([{
      traceId: t.traceId, spanId: t.spanId, name: 'svc:80/*', kind: 'client', startMs: 1000, endMs: 1012, error: true,
      attributes: {
        'http.method': 'GET', 'http.url': 'http://svc/x', 'http.status_code': 503, upstream_cluster: 'outbound|80||svc',
        node_id: 'sidecar~1~a.ns~ns.svc.cluster.local', response_flags: 'URX', component: 'proxy', 'guid:x-request-id': 'rid', error: 'true',
      },
    }]);
  });

  it('continues the caller\'s trace as a child, and an unsampled caller gets no span but still propagates', () => {
    const s = sink();
    const tr = new Tracer({ samplingPercent: 100, nodeId: 'n' }, s, () => 0, new CountingIds());
    const child = tr.start(headers({ traceparent: `00-${T}-${P}-01` }), 'server', 0, 'GET', 'u', 'a');
    expect([child.traceId, child.parentSpanId, child.sampled]).toEqual([T, P, true]);
    tr.end(child, 1, 200, '-', 'inbound|8080||');
    expect(s.spans[0]).toMatchObject({ traceId: T, parentSpanId: P, kind: 'server' });
    const off = tr.start(headers({ traceparent: `00-${T}-${P}-00` }), 'server', 0, 'GET', 'u', 'a');
    const out: HeaderBag = {};
    tr.inject(out, off);
    expect(out['traceparent']).toBe(`00-${T}-${off.spanId}-00`);
    tr.end(off, 1, 200, '-', 'c');
    expect(s.spans).toHaveLength(1);
  });

  it('samples new traces at the configured percentage and survives malformed headers', () => {
    const s = sink();
    let r = 0;
    const rands = [0.005, 0.5, 0.009, 0.9];
    const tr = new Tracer({ samplingPercent: 1, nodeId: 'n' }, s, () => rands[r++]!, new CountingIds());
    for (const bad of ['', '00-zz', `00-${T}-${P}-0g`, '\u0000\u00ff']) {
      const t = tr.start(headers({ traceparent: bad, b3: 'nonsense' }), 'client', 0, 'GET', 'u', 'a');
      expect(t.parentSpanId).toBeUndefined();
      tr.end(t, 1, 200, '-', 'c');
    }
    expect(s.spans).toHaveLength(2); // 0.005 and 0.009 are under 1%
  });
});

describe('span wire forms', () => {
  const span = buildSpan(
    { traceId: T, spanId: 'b'.repeat(16), parentSpanId: P, kind: 'server', startMs: 1_700_000_000_000.5, method: 'POST', url: 'http://a/b', authority: 'a' },
    { endMs: 1_700_000_000_010, status: 200, flags: '-', cluster: 'c', nodeId: 'n' },
  );
  it('OTLP/HTTP JSON: hex ids, kind numbers, nanosecond strings, typed attributes', () => {
    const body = toOtlpJson([span], 'svc.ns') as { resourceSpans: { resource: unknown; scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    const out = body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(body.resourceSpans[0]!.resource).toEqual({ attributes: [{ key: 'service.name', value: { stringValue: 'svc.ns' } }] });
    expect(out).toMatchObject({ traceId: T, spanId: 'b'.repeat(16), parentSpanId: P, kind: 2, startTimeUnixNano: '1700000000000500000', endTimeUnixNano: '1700000000010000000', status: {} });
    expect(out['attributes']).toContainEqual({ key: 'http.status_code', value: { intValue: '200' } });
    expect(out['attributes']).toContainEqual({ key: 'http.method', value: { stringValue: 'POST' } });
  });
  it('Zipkin v2 JSON: microseconds, string tags, kind names', () => {
    const [z] = toZipkinJson([span], 'svc.ns') as Record<string, unknown>[];
    expect(z).toMatchObject({ traceId: T, id: 'b'.repeat(16), parentId: P, kind: 'SERVER', timestamp: 1_700_000_000_000_500, duration: 9500, localEndpoint: { serviceName: 'svc.ns' } });
    expect((z!['tags'] as Record<string, string>)['http.status_code']).toBe('200');
  });
});

describe('RandomIds', () => {
  it('gives lower-hex ids of the right length, different each time', () => {
    const ids = new RandomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = ids.traceId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      seen.add(t);
      expect(ids.spanId()).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(seen.size).toBe(1000);
  });
});

describe('SpanExporter', () => {
  const span = (i: number): Span => ({ traceId: T, spanId: i.toString(16).padStart(16, '1'), name: 'n', kind: 'client', startMs: 0, endMs: 1, attributes: {}, error: false });

  it('drops and counts spans over the queue bound, then sends batches to the protocol path', async () => {
    const sent: { path: string; n: number }[] = [];
    const stats = new Stats();
    const ex = new SpanExporter({
      endpoint: '127.0.0.1:1', protocol: 'zipkin', serviceName: 's', logger: silentLogger(), stats,
      maxQueue: 5, maxBatch: 2, flushIntervalMs: 60_000,
      send: async (path, body) => { sent.push({ path, n: (JSON.parse(body) as unknown[]).length }); },
    });
    for (let i = 0; i < 8; i++) ex.add(span(i));
    expect(ex.counts.dropped).toBe(3);
    expect(ex.queued).toBe(5);
    await ex.close();
    expect(sent).toEqual([{ path: '/api/v2/spans', n: 2 }, { path: '/api/v2/spans', n: 2 }, { path: '/api/v2/spans', n: 1 }]);
    expect(ex.counts.exported).toBe(5);
    expect(stats.sum('weft_tracing_spans_total', { outcome: 'dropped' })).toBe(3);
    expect(stats.sum('weft_tracing_spans_total', { outcome: 'exported' })).toBe(5);
  });

  it('a failing collector drops the batch and counts it, without blocking later batches', async () => {
    let calls = 0;
    const ex = new SpanExporter({
      endpoint: '127.0.0.1:1', protocol: 'otlp', serviceName: 's', logger: silentLogger(), maxBatch: 1, flushIntervalMs: 60_000,
      send: async (path) => { calls++; expect(path).toBe('/v1/traces'); if (calls === 1) throw new Error('collector down'); },
    });
    ex.add(span(1));
    ex.add(span(2));
    await ex.close();
    expect(ex.counts).toEqual({ dropped: 0, exported: 1, failed: 1 });
  });
});
