// Pure compiler: Envoy JwtAuthentication -> JwtAuthnFilter. Anything that would narrow who is
// accepted (subjects, max_lifetime, filter_state_rules, route-match headers) and is not
// implemented is an INVALID_CONFIG (a NACK): ignoring it would widen a security policy.
import { durationMs, fullRegex, invalidConfig } from '../config/convert.js';
import { parseJwks } from '../../api/jwks.js';
import {
  DEFAULT_CLOCK_SKEW_SEC, DEFAULT_JWKS_CACHE_MS, DEFAULT_JWKS_TIMEOUT_MS,
  type JwksSource, type JwtAuthnFilter, type JwtProvider, type Requirement, type RequirementRule, type TokenLocation,
} from './model.js';
import type { JwtAuthenticationShape, JwtProviderShape, JwtRequirementShape, RequirementRuleShape } from './shapes.js';

/** Envoy's default locations: `Authorization: Bearer <token>`, then the access_token query parameter. */
const DEFAULT_LOCATIONS: TokenLocation[] = [
  { kind: 'header', name: 'authorization', prefix: 'Bearer ', ignoreCase: true },
  { kind: 'param', name: 'access_token' },
];

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

function headerName(v: string | undefined, field: string): string {
  if (!v || !HEADER_NAME.test(v)) throw invalidConfig('jwt_authn header name is not a valid HTTP header name', { field, value: v });
  return v.toLowerCase();
}

function jwksSource(p: JwtProviderShape, field: string): JwksSource {
  if (p.local_jwks && p.remote_jwks) throw invalidConfig('jwt_authn provider sets both local_jwks and remote_jwks', { field });
  if (p.local_jwks) {
    const l = p.local_jwks;
    if (l.filename !== undefined || l.environment_variable !== undefined) {
      throw invalidConfig('jwt_authn local_jwks supports inline_string and inline_bytes only', { field: `${field}.local_jwks` });
    }
    const text = l.inline_string ?? (l.inline_bytes !== undefined ? Buffer.from(l.inline_bytes).toString('utf8') : undefined);
    if (text === undefined) throw invalidConfig('jwt_authn local_jwks has no inline data', { field: `${field}.local_jwks` });
    const parsed = parseJwks(text);
    if (!parsed.ok) throw invalidConfig(`jwt_authn local_jwks is invalid: ${parsed.error}`, { field: `${field}.local_jwks.inline_string` });
    return { kind: 'local', keys: parsed.keys };
  }
  if (p.remote_jwks) {
    const h = p.remote_jwks.http_uri;
    let url: URL | undefined;
    try { url = h?.uri ? new URL(h.uri) : undefined; } catch { url = undefined; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw invalidConfig('jwt_authn remote_jwks.http_uri.uri must be an http(s) URL', { field: `${field}.remote_jwks.http_uri.uri`, value: h?.uri });
    }
    if (!h?.cluster) throw invalidConfig('jwt_authn remote_jwks.http_uri needs a cluster', { field: `${field}.remote_jwks.http_uri.cluster` });
    return {
      kind: 'remote',
      remote: {
        uri: url.toString(), cluster: h.cluster,
        timeoutMs: durationMs(h.timeout) || DEFAULT_JWKS_TIMEOUT_MS,
        cacheMs: durationMs(p.remote_jwks.cache_duration) || DEFAULT_JWKS_CACHE_MS,
      },
    };
  }
  throw invalidConfig('jwt_authn provider needs local_jwks or remote_jwks', { field });
}

function locations(p: JwtProviderShape, field: string): TokenLocation[] {
  const out: TokenLocation[] = [];
  (p.from_headers ?? []).forEach((h, i) => {
    out.push({ kind: 'header', name: headerName(h.name, `${field}.from_headers[${i}].name`), prefix: h.value_prefix ?? '', ignoreCase: false });
  });
  for (const name of p.from_params ?? []) out.push({ kind: 'param', name });
  for (const name of p.from_cookies ?? []) out.push({ kind: 'cookie', name });
  return out.length ? out : DEFAULT_LOCATIONS;
}

function compileProvider(name: string, p: JwtProviderShape, field: string): JwtProvider {
  for (const k of ['subjects', 'max_lifetime'] as const) {
    if (p[k] !== undefined) throw invalidConfig(`jwt_authn provider field '${k}' is not supported`, { field: `${field}.${k}` });
  }
  const out: JwtProvider = {
    name,
    policy: {
      issuer: p.issuer ?? '',
      audiences: p.audiences ?? [],
      clockSkewSec: p.clock_skew_seconds ?? DEFAULT_CLOCK_SKEW_SEC,
      requireExpiration: p.require_expiration === true,
    },
    jwks: jwksSource(p, field),
    locations: locations(p, field),
    forward: p.forward === true,
    claimToHeaders: (p.claim_to_headers ?? []).map((c, i) => {
      if (!c.claim_name) throw invalidConfig('jwt_authn claim_to_headers needs claim_name', { field: `${field}.claim_to_headers[${i}].claim_name` });
      return { header: headerName(c.header_name, `${field}.claim_to_headers[${i}].header_name`), claim: c.claim_name };
    }),
  };
  if (p.forward_payload_header) out.forwardPayloadHeader = headerName(p.forward_payload_header, `${field}.forward_payload_header`);
  if (p.payload_in_metadata) out.payloadInMetadata = p.payload_in_metadata;
  return out;
}

function compileRequirement(r: JwtRequirementShape | undefined, providers: ReadonlyMap<string, JwtProvider>, field: string): Requirement {
  const keys = Object.keys(r ?? {}).filter((k) => (r as Record<string, unknown>)[k] !== undefined && (r as Record<string, unknown>)[k] !== null);
  if (!r || keys.length !== 1) throw invalidConfig('jwt_authn requirement must set exactly one kind', { field, kinds: keys });
  const known = (name: string | undefined, f: string): string => {
    if (!name || !providers.has(name)) throw invalidConfig('jwt_authn requirement names an unknown provider', { field: f, provider: name });
    return name;
  };
  const list = (l: JwtRequirementShape[] | undefined, f: string): Requirement[] => {
    if (!l || l.length < 2) throw invalidConfig('jwt_authn requires_any/requires_all needs at least two requirements', { field: f });
    return l.map((x, i) => compileRequirement(x, providers, `${f}[${i}]`));
  };
  if (r.provider_name !== undefined) return { kind: 'provider', name: known(r.provider_name, `${field}.provider_name`) };
  if (r.provider_and_audiences) {
    const pa = r.provider_and_audiences;
    return { kind: 'provider', name: known(pa.provider_name, `${field}.provider_and_audiences.provider_name`), audiences: pa.audiences ?? [] };
  }
  if (r.requires_any) return { kind: 'any', list: list(r.requires_any.requirements, `${field}.requires_any.requirements`) };
  if (r.requires_all) return { kind: 'all', list: list(r.requires_all.requirements, `${field}.requires_all.requirements`) };
  if (r.allow_missing) return { kind: 'allow-missing' };
  if (r.allow_missing_or_failed) return { kind: 'allow-missing-or-failed' };
  throw invalidConfig('unsupported jwt_authn requirement kind', { field, kinds: keys });
}

function pathMatcher(m: RequirementRuleShape['match'], field: string): (rawPath: string) => boolean {
  if (!m) throw invalidConfig('jwt_authn rule needs a match', { field });
  const extra = Object.keys(m).filter((k) => !['prefix', 'path', 'safe_regex', 'case_sensitive'].includes(k) && m[k] !== undefined
    && !(Array.isArray(m[k]) && (m[k] as unknown[]).length === 0));
  if (extra.length) throw invalidConfig('jwt_authn rule match supports prefix, path and safe_regex only', { field, kinds: extra });
  const bare = (p: string): string => p.replace(/[?#].*$/, '');
  if (m.prefix !== undefined) { const pre = m.prefix; return (p) => p.startsWith(pre); }
  if (m.path !== undefined) { const exact = m.path; return (p) => bare(p) === exact; }
  if (m.safe_regex !== undefined) { const re = fullRegex(m.safe_regex.regex, `${field}.safe_regex`); return (p) => re.test(bare(p)); }
  throw invalidConfig('jwt_authn rule match needs prefix, path or safe_regex', { field });
}

/** Compiles one envoy.filters.http.jwt_authn config. Throws INVALID_CONFIG (NACK) on anything unsupported. */
export function compileJwtAuthnFilter(name: string, cfg: JwtAuthenticationShape, field: string): JwtAuthnFilter {
  if (cfg.filter_state_rules !== undefined) throw invalidConfig('jwt_authn filter_state_rules is not supported', { field: `${field}.filter_state_rules` });
  const providers = new Map<string, JwtProvider>();
  for (const k of Object.keys(cfg.providers ?? {}).sort()) providers.set(k, compileProvider(k, cfg.providers![k]!, `${field}.providers[${k}]`));
  const named = new Map<string, Requirement>();
  for (const [k, r] of Object.entries(cfg.requirement_map ?? {})) named.set(k, compileRequirement(r, providers, `${field}.requirement_map[${k}]`));
  const rules: RequirementRule[] = (cfg.rules ?? []).map((r, i) => {
    const f = `${field}.rules[${i}]`;
    const out: RequirementRule = { matches: pathMatcher(r.match, `${f}.match`) };
    if (r.requirement_name !== undefined) {
      const found = named.get(r.requirement_name);
      if (!found) throw invalidConfig('jwt_authn rule names an unknown requirement', { field: `${f}.requirement_name`, value: r.requirement_name });
      out.requirement = found;
    } else if (r.requires) out.requirement = compileRequirement(r.requires, providers, `${f}.requires`);
    // No requirement: the matched path is not verified at all (Envoy).
    return out;
  });
  return { name, providers, rules, bypassCorsPreflight: cfg.bypass_cors_preflight === true };
}
