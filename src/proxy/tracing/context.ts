// Trace context propagation headers, pure: W3C traceparent (tracestate is passed through as
// is) and B3 in its single-header (`b3`) and multi-header (`x-b3-*`) forms. Anything
// malformed is ignored, so the request starts a new trace instead of failing.
import type { HeaderBag } from '../route/router.js';

export type B3Style = 'none' | 'single' | 'multi';

/** What the caller sent: its trace and span ids (when valid), its sampling decision, its B3 style. */
export interface IncomingContext {
  traceId?: string;
  /** The caller's span: the parent of this proxy's span. */
  parentSpanId?: string;
  /** undefined = the caller made no decision. */
  sampled?: boolean;
  b3: B3Style;
}

export type HeaderGetter = (name: string) => string | undefined;

const HEX = /^[0-9a-f]+$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

function hexId(v: string | undefined, len: number): string | undefined {
  if (v === undefined || v.length !== len || !HEX.test(v)) return undefined;
  return v === (len === 32 ? ZERO32 : ZERO16) ? undefined : v;
}

/** W3C trace-context level 1: `00-<32 hex>-<16 hex>-<2 hex flags>`; later versions may append fields. */
export function parseTraceparent(v: string | undefined): { traceId: string; parentSpanId: string; sampled: boolean } | undefined {
  if (v === undefined || v.length < 55 || v.length > 512) return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return undefined;
  if (v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  const traceId = hexId(v.slice(3, 35), 32);
  const parentSpanId = hexId(v.slice(36, 52), 16);
  const flags = v.slice(53, 55);
  if (!traceId || !parentSpanId || !HEX.test(flags)) return undefined;
  return { traceId, parentSpanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** B3 trace ids may be 64-bit; they are widened to 128 bits with leading zeros. */
function b3TraceId(v: string | undefined): string | undefined {
  const lower = v?.toLowerCase();
  if (lower?.length === 16) return hexId(lower, 16) ? ZERO16 + lower : undefined;
  return hexId(lower, 32);
}

function b3Sampled(v: string | undefined): boolean | undefined {
  switch (v?.toLowerCase()) {
    case '1': case 'true': case 'd': return true;
    case '0': case 'false': return false;
    default: return undefined;
  }
}

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or just the sampling state (`0`, `1`, `d`). */
export function parseB3Single(v: string | undefined): Omit<IncomingContext, 'b3'> | undefined {
  if (!v || v.length > 512) return undefined;
  const parts = v.split('-');
  if (parts.length === 1) {
    const sampled = b3Sampled(parts[0]);
    return sampled === undefined ? undefined : { sampled };
  }
  if (parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0]);
  const parentSpanId = hexId(parts[1]?.toLowerCase(), 16);
  if (!traceId || !parentSpanId) return undefined;
  const sampled = parts[2] === undefined ? undefined : b3Sampled(parts[2]);
  if (parts[2] !== undefined && sampled === undefined) return undefined;
  return { traceId, parentSpanId, ...(sampled !== undefined ? { sampled } : {}) };
}

/** `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags: 1` (debug = sampled). */
export function parseB3Multi(get: HeaderGetter): Omit<IncomingContext, 'b3'> | undefined {
  const t = get('x-b3-traceid');
  const sampled = get('x-b3-flags') === '1' ? true : b3Sampled(get('x-b3-sampled'));
  if (t === undefined) return sampled === undefined ? undefined : { sampled };
  const traceId = b3TraceId(t);
  const parentSpanId = hexId(get('x-b3-spanid')?.toLowerCase(), 16);
  if (!traceId || !parentSpanId) return sampled === undefined ? undefined : { sampled };
  return { traceId, parentSpanId, ...(sampled !== undefined ? { sampled } : {}) };
}

/** The caller's context: traceparent first, then b3, then x-b3-*; invalid headers count as absent. */
export function extractContext(get: HeaderGetter): IncomingContext {
  const single = get('b3');
  const b3: B3Style = single !== undefined ? 'single' : get('x-b3-traceid') !== undefined || get('x-b3-sampled') !== undefined ? 'multi' : 'none';
  const w3c = parseTraceparent(get('traceparent'));
  if (w3c) return { ...w3c, b3 };
  const fromB3 = (single !== undefined ? parseB3Single(single) : undefined) ?? parseB3Multi(get);
  return { ...(fromB3 ?? {}), b3 };
}

/** This proxy's span, as the next hop should see it. */
export interface OutgoingContext { traceId: string; spanId: string; parentSpanId?: string; sampled: boolean; b3: B3Style }

/**
 * Writes the context onward: traceparent always; B3 in the caller's style, and multi-header
 * B3 when the caller sent none (what Istio apps such as Bookinfo forward). tracestate and
 * other headers are left as the caller sent them.
 */
export function injectContext(h: HeaderBag, c: OutgoingContext): void {
  const flag = c.sampled ? '1' : '0';
  h['traceparent'] = `00-${c.traceId}-${c.spanId}-0${flag}`;
  if (c.b3 === 'single') {
    h['b3'] = `${c.traceId}-${c.spanId}-${flag}${c.parentSpanId ? `-${c.parentSpanId}` : ''}`;
    return;
  }
  h['x-b3-traceid'] = c.traceId;
  h['x-b3-spanid'] = c.spanId;
  h['x-b3-sampled'] = flag;
  if (c.parentSpanId) h['x-b3-parentspanid'] = c.parentSpanId;
  else delete h['x-b3-parentspanid'];
}
