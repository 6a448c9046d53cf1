// Small pure conversions from Istio field formats to Envoy's.
import type { StringMatch } from '../../api/istio/types.js';

export interface Duration {
  seconds?: number;
  nanos?: number;
}

/** "1.5s", "100ms", "2m", "1h", "500us" -> Duration; undefined when malformed. */
export function parseDuration(s: string | undefined): Duration | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitNanos: Record<string, number> = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, µs: 1e3, ns: 1 };
  const total = Math.round(n * unitNanos[m[2]!]!);
  const seconds = Math.floor(total / 1e9);
  const nanos = total - seconds * 1e9;
  const d: Duration = {};
  if (seconds) d.seconds = seconds;
  if (nanos) d.nanos = nanos;
  return d;
}

/** Istio Percent (0..100, fractional) -> Envoy FractionalPercent per million. */
export function fractionalPercent(value: number | undefined): { numerator: number; denominator: string } {
  const v = value === undefined ? 100 : Math.max(0, Math.min(100, value));
  return { numerator: Math.round(v * 10000), denominator: 'MILLION' };
}

/** Istio StringMatch -> Envoy StringMatcher. */
export function stringMatcher(m: StringMatch, ignoreCase = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.exact !== undefined) out['exact'] = m.exact;
  else if (m.prefix !== undefined) out['prefix'] = m.prefix;
  else if (m.regex !== undefined) out['safe_regex'] = { regex: m.regex };
  if (ignoreCase && m.regex === undefined) out['ignore_case'] = true;
  return out;
}

export function u32(v: number | undefined): { value: number } | undefined {
  return v === undefined ? undefined : { value: v };
}

/** Drops undefined values so goldens and encodings stay minimal. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
