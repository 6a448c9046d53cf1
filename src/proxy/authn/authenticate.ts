// Per-request jwt_authn: find each provider's token, verify it, evaluate the matched rule's
// requirement, and say what to do: pass (with metadata and header edits) or refuse with 401.
// Pure: keys and the clock come in as parameters.
import { FAILURE_TEXT, type JwtFailure } from './failures.js';
import type { VerifyKey } from '../../api/jwks.js';
import type { DecodedJws } from './jws.js';
import type { JwtAuthnFilter, JwtProvider, Requirement, TokenLocation } from './model.js';
import { verifyJwt } from './verify.js';

export interface AuthnRequest {
  method: string;
  rawPath: string;
  authority: string;
  scheme: 'http' | 'https';
  header: (name: string) => string | undefined;
}

/** Filter metadata as RBAC's metadata matchers see it: filter name -> JSON-like value. */
export type AuthnMetadata = Record<string, Record<string, unknown>>;

export interface AuthnPass {
  kind: 'pass';
  metadata: AuthnMetadata;
  /** Headers that carried a verified token (forward: false): removed before forwarding. */
  removeHeaders: string[];
  /** forward_payload_header and claim_to_headers values. */
  setHeaders: Record<string, string>;
}

export interface AuthnDeny { kind: 'deny'; status: 401; body: string; headers: Record<string, string>; reason: JwtFailure; provider?: string }

export type AuthnOutcome = AuthnPass | AuthnDeny;

export type KeyResolver = (p: JwtProvider) => readonly VerifyKey[] | undefined;

type ProviderResult =
  | { status: 'missing' }
  | { status: 'ok'; jws: DecodedJws; location: TokenLocation }
  | { status: 'fail'; reason: JwtFailure };

type ReqResult = { status: 'ok' } | { status: 'missing' } | { status: 'fail'; reason: JwtFailure; provider?: string };

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function extract(loc: TokenLocation, req: AuthnRequest, query: () => URLSearchParams): string | undefined {
  if (loc.kind === 'header') {
    const v = req.header(loc.name);
    if (v === undefined) return undefined;
    const has = loc.ignoreCase ? v.slice(0, loc.prefix.length).toLowerCase() === loc.prefix.toLowerCase() : v.startsWith(loc.prefix);
    return has ? v.slice(loc.prefix.length).trim() || undefined : undefined;
  }
  if (loc.kind === 'param') return query().get(loc.name) ?? undefined;
  return cookie(req.header('cookie'), loc.name);
}

function isCorsPreflight(req: AuthnRequest): boolean {
  return req.method === 'OPTIONS' && req.header('origin') !== undefined && req.header('access-control-request-method') !== undefined;
}

/** Istio's authn view of a verified payload (what RBAC's istio_authn matchers read). */
function claimValue(v: unknown): unknown {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean').map(String);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, claimValue(x)]));
  return [String(v)];
}

export function istioAuthn(payload: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const iss = payload['iss'];
  const sub = payload['sub'];
  if (typeof iss === 'string' && typeof sub === 'string') out['request.auth.principal'] = `${iss}/${sub}`;
  const aud = payload['aud'];
  if (typeof aud === 'string') out['request.auth.audiences'] = aud;
  else if (Array.isArray(aud)) out['request.auth.audiences'] = aud.filter((a) => typeof a === 'string');
  if (typeof payload['azp'] === 'string') out['request.auth.presenter'] = payload['azp'];
  out['request.auth.claims'] = claimValue(payload);
  return out;
}

function claimAt(payload: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = payload;
  for (const k of dotted.split('.')) cur = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

function realm(req: AuthnRequest): string {
  return `${req.scheme}://${req.authority}${req.rawPath.replace(/[?#].*$/, '')}`;
}

export function deny(req: AuthnRequest, reason: JwtFailure, provider?: string): AuthnDeny {
  // Envoy: a missing token gets the bare challenge; a bad one names the error.
  const challenge = reason === 'missing' ? `Bearer realm="${realm(req)}"` : `Bearer realm="${realm(req)}", error="invalid_token"`;
  const out: AuthnDeny = { kind: 'deny', status: 401, body: FAILURE_TEXT[reason], headers: { 'www-authenticate': challenge }, reason };
  if (provider) out.provider = provider;
  return out;
}

/** Runs the filters in order (normally one); the first refusal wins. */
export function authenticate(filters: readonly JwtAuthnFilter[], req: AuthnRequest, keys: KeyResolver, nowMs: number): AuthnOutcome {
  const pass: AuthnPass = { kind: 'pass', metadata: {}, removeHeaders: [], setHeaders: {} };
  let q: URLSearchParams | undefined;
  const query = (): URLSearchParams => (q ??= new URLSearchParams(req.rawPath.includes('?') ? req.rawPath.slice(req.rawPath.indexOf('?') + 1) : ''));
  for (const f of filters) {
    if (f.bypassCorsPreflight && isCorsPreflight(req)) continue;
    const rule = f.rules.find((r) => r.matches(req.rawPath));
    if (!rule?.requirement) continue;
    const results = new Map<string, ProviderResult>();
    const tokenOf = (p: JwtProvider): { token: string; location: TokenLocation } | undefined => {
      for (const loc of p.locations) {
        const token = extract(loc, req, query);
        if (token !== undefined) return { token, location: loc };
      }
      return undefined;
    };
    const provider = (name: string, audiences?: string[]): ProviderResult => {
      const key = audiences ? `${name}\u0000${audiences.join('\u0000')}` : name;
      const cached = results.get(key);
      if (cached) return cached;
      const p = f.providers.get(name)!;
      const found = tokenOf(p);
      let r: ProviderResult;
      if (!found) r = { status: 'missing' };
      else {
        const policy = audiences ? { ...p.policy, audiences } : p.policy;
        const v = verifyJwt(found.token, policy, keys(p), nowMs);
        r = v.ok ? { status: 'ok', jws: v.jws, location: found.location } : { status: 'fail', reason: v.reason };
      }
      results.set(key, r);
      return r;
    };
    const anyTokenPresent = (): boolean => [...f.providers.values()].some((p) => tokenOf(p) !== undefined);
    const evaluate = (r: Requirement): ReqResult => {
      switch (r.kind) {
        case 'provider': {
          const x = provider(r.name, r.audiences);
          return x.status === 'fail' ? { status: 'fail', reason: x.reason, provider: r.name } : { status: x.status };
        }
        case 'allow-missing':
          // Satisfied only when no provider finds a token: a presented token must verify.
          return anyTokenPresent() ? { status: 'missing' } : { status: 'ok' };
        case 'allow-missing-or-failed':
          for (const name of f.providers.keys()) provider(name);
          return { status: 'ok' };
        case 'any': {
          const all = r.list.map(evaluate);
          if (all.some((x) => x.status === 'ok')) return { status: 'ok' };
          return all.find((x) => x.status === 'fail') ?? { status: 'missing' };
        }
        case 'all': {
          for (const x of r.list.map(evaluate)) if (x.status !== 'ok') return x;
          return { status: 'ok' };
        }
      }
    };
    const outcome = evaluate(rule.requirement);
    if (outcome.status === 'missing') return deny(req, 'missing');
    if (outcome.status === 'fail') return deny(req, outcome.reason, outcome.provider);
    // Every verified token contributes, in provider order (Envoy sets metadata per verified JWT).
    for (const [key, r] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
      if (r.status !== 'ok') continue;
      const p = f.providers.get(key.split('\u0000')[0]!)!;
      const payload = r.jws.payload;
      if (p.payloadInMetadata) (pass.metadata['envoy.filters.http.jwt_authn'] ??= {})[p.payloadInMetadata] = payload;
      if (!pass.metadata['istio_authn']) pass.metadata['istio_authn'] = istioAuthn(payload);
      if (!p.forward && r.location.kind === 'header') pass.removeHeaders.push(r.location.name);
      if (p.forwardPayloadHeader) pass.setHeaders[p.forwardPayloadHeader] = r.jws.payloadSegment;
      for (const c of p.claimToHeaders) {
        const v = claimAt(payload, c.claim);
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') pass.setHeaders[c.header] = String(v);
      }
    }
  }
  return pass;
}
