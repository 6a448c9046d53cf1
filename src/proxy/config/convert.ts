// Small converters from protobuf-shaped values (wrappers, Durations, enums, int64) to plain
// numbers and names. Pure; every failure is an INVALID_CONFIG WeftError naming the field.
import { WeftError } from '../../errors/errors.js';
import type { AnyLike, BoolValue, Duration, EnumLike, Int64Like, StringMatcher, UInt32Value } from './envoy-shapes.js';
import type { StringMatch } from './model.js';

export function invalidConfig(message: string, details: Record<string, unknown> = {}): WeftError {
  return new WeftError('WEFT_E_INVALID_CONFIG', message, details);
}

export function int64(v: Int64Like | undefined): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const n = Number(String(v));
  return Number.isFinite(n) ? n : 0;
}

export function durationMs(d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  return int64(d.seconds) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

export function u32(w: UInt32Value | undefined, dflt: number): number {
  return w && typeof w.value === 'number' ? w.value : dflt;
}

export function bool(w: BoolValue | undefined, dflt: boolean): boolean {
  return w && typeof w.value === 'boolean' ? w.value : dflt;
}

/** Enum value as its proto name, given the enum's names in number order (gaps as ''). */
export function enumName(v: EnumLike | undefined, names: readonly string[]): string {
  if (v === undefined) return names[0] ?? '';
  if (typeof v === 'string') return v;
  return names[v] ?? String(v);
}

/** Anchored JS RegExp for an RE2 pattern (Envoy regexes must match the whole input). */
export function fullRegex(pattern: string | undefined, field: string, flags = ''): RegExp {
  if (pattern === undefined) throw invalidConfig('regex missing', { field });
  try {
    return new RegExp(`^(?:${pattern})$`, flags);
  } catch (e) {
    throw invalidConfig('invalid regex', { field, pattern, reason: e instanceof Error ? e.message : String(e) });
  }
}

export function stringMatch(m: StringMatcher | undefined, field: string): StringMatch {
  if (!m) throw invalidConfig('string matcher missing', { field });
  const ignoreCase = m.ignore_case === true;
  if (m.exact !== undefined) return { kind: 'exact', value: ignoreCase ? m.exact.toLowerCase() : m.exact, ignoreCase };
  if (m.prefix !== undefined) return { kind: 'prefix', value: ignoreCase ? m.prefix.toLowerCase() : m.prefix, ignoreCase };
  if (m.suffix !== undefined) return { kind: 'suffix', value: ignoreCase ? m.suffix.toLowerCase() : m.suffix, ignoreCase };
  if (m.contains !== undefined) return { kind: 'contains', value: ignoreCase ? m.contains.toLowerCase() : m.contains, ignoreCase };
  if (m.safe_regex !== undefined) return { kind: 'regex', re: fullRegex(m.safe_regex.regex, `${field}.safe_regex`) };
  throw invalidConfig('string matcher has no match kind', { field });
}

export function testStringMatch(m: StringMatch, input: string): boolean {
  if (m.kind === 'regex') return m.re.test(input);
  const v = m.ignoreCase ? input.toLowerCase() : input;
  switch (m.kind) {
    case 'exact': return v === m.value;
    case 'prefix': return v.startsWith(m.value);
    case 'suffix': return v.endsWith(m.value);
    case 'contains': return v.includes(m.value);
  }
}

/** Type URL of an Any in either decoded (`@type`) or packed (`type_url`) form. */
export function anyTypeUrl(a: AnyLike | undefined): string {
  return a?.['@type'] ?? a?.type_url ?? '';
}

/** The message name an Any carries, without the type.googleapis.com/ prefix. */
export function anyTypeName(a: AnyLike | undefined): string {
  const url = anyTypeUrl(a);
  return url.slice(url.lastIndexOf('/') + 1);
}
