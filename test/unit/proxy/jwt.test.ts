// JWT verification (every rejection reason), JWKS parsing, the compiled jwt_authn filter as the
// control plane renders it from RequestAuthentication (round-tripped through protobuf), and its
// refused configs. Keys are generated here; the clock is a parameter.
import { describe, it, expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeResource, encodeResource, TYPE_URLS } from '../../../src/envoy/index.js';
import { parseJwks } from '../../../src/api/jwks.js';
import { verifyJwt, type VerifyPolicy } from '../../../src/proxy/authn/verify.js';
import { MAX_TOKEN_BYTES } from '../../../src/proxy/authn/jws.js';
import { authenticate, compileJwtAuthnFilter, FAILURE_TEXT, JwksCache, type AuthnRequest, type JwtAuthnFilter } from '../../../src/proxy/authn/index.js';
import type { JwtAuthenticationShape } from '../../../src/proxy/authn/shapes.js';
import { checkRequest, compileRbacFilter, type RbacFilter } from '../../../src/proxy/authz/index.js';
import { localKeysOnly } from '../../../src/proxy/http-proxy.js';
import { buildListener } from '../../../src/proxy/config/build.js';
import { ClusterManager } from '../../../src/proxy/cluster-manager.js';
import { silentLogger } from '../../../src/log/logger.js';
import { buildJwtFilters, buildRbacFilters } from '../../../src/xds/translate/index.js';
import { emptyModel, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import type { AuthorizationPolicy, JWTRule, RequestAuthentication } from '../../../src/api/istio/types.js';
import { WeftError } from '../../../src/errors/errors.js';
import { istioClaims, jwksOf, makeKey, signJwt, type TestAlg, type TestKey } from '../../helpers/jwt.js';

const NOW = 1_800_000_000_000;
const NOW_SEC = NOW / 1000;
const ISS = 'testing@secure.istio.io';
const policy = (over: Partial<VerifyPolicy> = {}): VerifyPolicy => ({ issuer: ISS, audiences: [], clockSkewSec: 60, requireExpiration: false, ...over });

const rsa = makeKey('RS256', 'rsa-1');
const keysOf = (...k: TestKey[]) => { const r = parseJwks(jwksOf(...k)); if (!r.ok) throw new Error(r.error); return r.keys; };
const rsaKeys = keysOf(rsa);
const fail = (token: string, over: Partial<VerifyPolicy> = {}, keys = rsaKeys, now = NOW): string | undefined => {
  const r = verifyJwt(token, policy(over), keys, now);
  return r.ok ? undefined : r.reason;
};
const seg = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('verifyJwt: accepted algorithms', () => {
  it.each(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] as TestAlg[])('%s', (alg) => {
    const k = makeKey(alg);
    const r = verifyJwt(signJwt(k, istioClaims(NOW_SEC)), policy(), keysOf(k), NOW);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.jws.payload['sub']).toBe(ISS);
  });

  it('tries every key without a kid in the token', () => {
    const other = makeKey('RS256', 'other');
    const token = signJwt(rsa, istioClaims(NOW_SEC), { kid: undefined });
    expect(verifyJwt(token, policy(), keysOf(other, rsa), NOW).ok).toBe(true);
  });
});

describe('verifyJwt: every rejection reason', () => {
  const good = signJwt(rsa, istioClaims(NOW_SEC));
  const [h, p, s] = good.split('.') as [string, string, string];

  it('alg none is refused, even unsigned', () => {
    expect(fail(`${seg({ alg: 'none' })}.${p}.`)).toBe('bad-format');
    expect(fail(`${seg({ alg: 'none' })}.${p}.${s}`)).toBe('alg-not-supported');
  });
  it('HS256 is refused (no shared secret in a JWKS)', () => expect(fail(`${seg({ alg: 'HS256', kid: 'rsa-1' })}.${p}.${s}`)).toBe('alg-not-supported'));
  it('an unknown alg is refused', () => expect(fail(`${seg({ alg: 'XX999' })}.${p}.${s}`)).toBe('alg-not-supported'));
  it('a header without alg is refused', () => expect(fail(`${seg({ typ: 'JWT' })}.${p}.${s}`)).toBe('header-bad-alg'));
  it('two segments', () => expect(fail(`${h}.${p}`)).toBe('bad-format'));
  it('four segments', () => expect(fail(`${good}.${s}`)).toBe('bad-format'));
  it('an empty segment', () => expect(fail(`${h}..${s}`)).toBe('bad-format'));
  it('a header that is not base64url', () => expect(fail(`!!!.${p}.${s}`)).toBe('header-bad-base64'));
  it('a header with base64 padding', () => expect(fail(`${h}==.${p}.${s}`)).toBe('header-bad-base64'));
  it('a header in standard base64 (+ and /)', () => expect(fail(`${h.slice(0, -2)}+/.${p}.${s}`)).toBe('header-bad-base64'));
  it('a header that is not JSON', () => expect(fail(`${Buffer.from('not json').toString('base64url')}.${p}.${s}`)).toBe('header-bad-json'));
  it('a header that is a JSON array', () => expect(fail(`${seg(['RS256'])}.${p}.${s}`)).toBe('header-bad-json'));
  it('a payload that is not base64url', () => expect(fail(`${h}.pay*load.${s}`)).toBe('payload-bad-base64'));
  it('a payload that is not JSON', () => expect(fail(`${h}.${Buffer.from('{oops').toString('base64url')}.${s}`)).toBe('payload-bad-json'));
  it('a signature that is not base64url', () => expect(fail(`${h}.${p}.sig+/=`)).toBe('signature-bad-base64'));
  it('a huge token is refused before decoding', () => expect(fail(`${h}.${'A'.repeat(MAX_TOKEN_BYTES)}.${s}`)).toBe('too-large'));
  it('another issuer', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { iss: 'evil' })))).toBe('unknown-issuer'));
  it('no iss at all', () => expect(fail(signJwt(rsa, { sub: 'x', exp: NOW_SEC + 60 }))).toBe('unknown-issuer'));
  it('audience not allowed', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { aud: 'other' })), { audiences: ['bookinfo'] })).toBe('audience-not-allowed'));
  it('audience missing when audiences are configured', () => expect(fail(good, { audiences: ['bookinfo'] })).toBe('audience-not-allowed'));
  it('expired beyond the 60 s skew', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { exp: NOW_SEC - 61 })))).toBe('expired'));
  it('not yet valid beyond the 60 s skew', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { nbf: NOW_SEC + 61 })))).toBe('not-yet-valid'));
  it('exp that is not a number', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { exp: 'tomorrow' })))).toBe('bad-time-claim'));
  it('no exp when require_expiration is set', () => expect(fail(signJwt(rsa, { iss: ISS, sub: 's' }), { requireExpiration: true })).toBe('exp-required'));
  it('no key with the token kid', () => expect(fail(signJwt(rsa, istioClaims(NOW_SEC), { kid: 'unknown' }))).toBe('no-matching-key'));
  it('no key of the alg family (EC token, RSA set)', () => {
    const ec = makeKey('ES256', 'rsa-1');
    expect(fail(signJwt(ec, istioClaims(NOW_SEC)))).toBe('no-matching-key');
  });
  it('signed by another key with the same kid', () => expect(fail(signJwt(makeKey('RS256', 'rsa-1'), istioClaims(NOW_SEC)))).toBe('verification-failed'));
  it('a tampered payload', () => expect(fail(`${h}.${seg(istioClaims(NOW_SEC, { sub: 'admin' }))}.${s}`)).toBe('verification-failed'));
  it('an ES256 signature in DER instead of raw r||s', () => {
    const ec = makeKey('ES256');
    const t = signJwt(ec, istioClaims(NOW_SEC)).split('.');
    expect(fail(`${t[0]}.${t[1]}.${randomBytes(71).toString('base64url')}`, {}, keysOf(ec))).toBe('verification-failed');
  });
  it('no keys available (remote JWKS not fetched)', () => expect(verifyJwt(good, policy(), undefined, NOW)).toEqual({ ok: false, reason: 'jwks-unavailable' }));

  it('accepts within the skew, and audiences compared without scheme and trailing slash', () => {
    expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { exp: NOW_SEC - 59, nbf: NOW_SEC + 59 })))).toBeUndefined();
    expect(fail(signJwt(rsa, istioClaims(NOW_SEC, { aud: ['x', 'https://bookinfo/'] })), { audiences: ['bookinfo'] })).toBeUndefined();
  });

  it('garbage never throws: every input is a refusal with a reason', () => {
    const inputs = ['', '.', '..', '...', 'a.b.c', '\u0000.\u0000.\u0000', 'é.é.é', `${'x'.repeat(100)}.${'y'.repeat(100)}.z`];
    for (let i = 0; i < 200; i++) inputs.push(randomBytes(i % 64).toString('latin1'), randomBytes(i % 48).toString('base64url').replace(/(.{8})/g, '$1.'));
    for (const t of inputs) {
      const r = verifyJwt(t, policy(), rsaKeys, NOW);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(FAILURE_TEXT[r.reason]).toBeDefined();
    }
  });
});

describe('parseJwks', () => {
  it('refuses non-JSON, a document without keys, and a set without a usable key', () => {
    expect(parseJwks('{nope')).toEqual({ ok: false, error: expect.stringContaining('not valid JSON') });
    expect(parseJwks('[1]')).toEqual({ ok: false, error: 'jwks must be a JSON object' });
    expect(parseJwks('{"foo":1}')).toEqual({ ok: false, error: 'jwks has no "keys" array' });
    expect(parseJwks('{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","n":"!!","e":"AQAB"}]}')).toEqual({ ok: false, error: expect.stringContaining('no usable public key') });
  });
  it('skips unusable keys, keeps the rest, and accepts a single JWK', () => {
    const r = parseJwks(JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }, rsa.jwk] }));
    expect(r.ok && r.keys.map((k) => k.kid)).toEqual(['rsa-1']);
    expect(parseJwks(JSON.stringify(rsa.jwk)).ok).toBe(true);
  });
});

// ---------- the filter as the control plane renders it ----------

const PROXY: ProxyContext = { flavour: 'sidecar', namespace: 'foo', ip: '10.244.0.9', labels: { app: 'httpbin' }, serviceAccount: 'httpbin' } as ProxyContext;

function ra(name: string, rules: JWTRule[]): RequestAuthentication {
  return { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name, namespace: 'foo' }, spec: { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: rules } };
}

function model(ras: RequestAuthentication[], aps: AuthorizationPolicy[] = []): MeshModel {
  const m = emptyModel('cluster.local');
  m.requestAuthentications = ras;
  m.authorizationPolicies = aps;
  return m;
}

/** Translate, encode to protobuf and back (what ADS carries), then compile as the proxy does. */
function compiled(m: MeshModel): { jwt: JwtAuthnFilter[]; rbac: RbacFilter[] } {
  const filters = buildJwtFilters(m, PROXY);
  const hcm = {
    '@type': TYPE_URLS.httpConnectionManager, stat_prefix: 'x', route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] },
    http_filters: [...filters, ...buildRbacFilters(m, PROXY), { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URLS.router } }],
  };
  const listener = { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } }, filter_chains: [{ filters: [{ name: 'hcm', typed_config: hcm }] }] };
  const l = buildListener(decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, listener)) as never);
  const f = l.filterChains[0]!.filter;
  if (f.kind !== 'http') throw new Error('not http');
  return { jwt: f.jwt, rbac: f.rbac };
}

function request(headers: Record<string, string> = {}, rawPath = '/headers', method = 'GET'): AuthnRequest {
  return { method, rawPath, authority: 'httpbin.foo:8000', scheme: 'http', header: (n) => headers[n] };
}

describe('jwt_authn from RequestAuthentication (Istio semantics)', () => {
  const { jwt } = compiled(model([ra('jwt-example', [{ issuer: ISS, jwks: jwksOf(rsa) }])]));
  const run = (headers: Record<string, string> = {}, rawPath?: string, method?: string) => authenticate(jwt, request(headers, rawPath, method), localKeysOnly, NOW);
  const token = signJwt(rsa, istioClaims(NOW_SEC, { groups: ['group1', 'group2'], aud: 'httpbin', azp: 'cli', nested: { key: 'v' } }));

  it('compiles one provider with the inline keys, payload in metadata under the issuer', () => {
    expect(jwt).toHaveLength(1);
    const p = jwt[0]!.providers.get('origins-0')!;
    expect(p.policy.issuer).toBe(ISS);
    expect(p.payloadInMetadata).toBe(ISS);
    expect(p.jwks.kind === 'local' && p.jwks.keys.map((k) => k.kid)).toEqual(['rsa-1']);
  });

  it('a request without a token passes, unauthenticated (no metadata)', () => {
    expect(run()).toEqual({ kind: 'pass', metadata: {}, removeHeaders: [], setHeaders: {} });
  });

  it('a valid Bearer token passes; principal iss/sub and list claims go to istio_authn; the token is stripped', () => {
    const out = run({ authorization: `Bearer ${token}` });
    expect(out.kind).toBe('pass');
    if (out.kind !== 'pass') return;
    expect(out.metadata['istio_authn']).toEqual({
      'request.auth.principal': `${ISS}/${ISS}`,
      'request.auth.audiences': 'httpbin',
      'request.auth.presenter': 'cli',
      'request.auth.claims': expect.objectContaining({ groups: ['group1', 'group2'], iss: [ISS], foo: ['bar'], nested: { key: ['v'] } }),
    });
    expect(out.metadata['envoy.filters.http.jwt_authn']?.[ISS]).toMatchObject({ sub: ISS });
    expect(out.removeHeaders).toEqual(['authorization']);
  });

  it('the Bearer scheme is case-insensitive, and access_token works as the default query location', () => {
    expect(run({ authorization: `bearer ${token}` }).kind).toBe('pass');
    const q = run({}, `/headers?access_token=${token}`);
    expect(q.kind === 'pass' && q.metadata['istio_authn']?.['request.auth.principal']).toBe(`${ISS}/${ISS}`);
  });

  it('an invalid token is refused with 401, Envoy\'s challenge and body', () => {
    const bad = `${token.slice(0, -4)}AAAA`;
    expect(run({ authorization: `Bearer ${bad}` }, '/headers?x=1')).toEqual({
      kind: 'deny', status: 401, reason: 'verification-failed', provider: 'origins-0', body: 'Jwt verification fails',
      headers: { 'www-authenticate': 'Bearer realm="http://httpbin.foo:8000/headers", error="invalid_token"' },
    });
  });

  it('garbage in the Authorization header is 401, never a crash', () => {
    for (const v of ['Bearer x', 'Bearer a.b.c', `Bearer ${'A'.repeat(MAX_TOKEN_BYTES + 10)}`, 'Bearer ....', 'Bearer \u00ff\u00fe.\u0000.x']) {
      const out = run({ authorization: v });
      expect(out.kind).toBe('deny');
    }
  });

  it('an expired token and a token from another issuer are 401 with their reasons', () => {
    const expired = run({ authorization: `Bearer ${signJwt(rsa, istioClaims(NOW_SEC, { exp: NOW_SEC - 3600 }))}` });
    expect(expired.kind === 'deny' && [expired.reason, expired.body]).toEqual(['expired', 'Jwt is expired']);
    const other = run({ authorization: `Bearer ${signJwt(rsa, istioClaims(NOW_SEC, { iss: 'someone-else' }))}` });
    expect(other.kind === 'deny' && other.reason).toBe('unknown-issuer');
  });

  it('a non-Bearer Authorization header is not a token (missing, so it passes)', () => {
    expect(run({ authorization: 'Basic dXNlcjpwYXNz' }).kind).toBe('pass');
  });

  it('CORS preflight bypasses verification', () => {
    expect(run({ authorization: 'Bearer junk', origin: 'https://x', 'access-control-request-method': 'GET' }, '/', 'OPTIONS').kind).toBe('pass');
  });
});

describe('a RequestAuthentication that skipped validation (no webhook) still yields a valid, fail-closed filter', () => {
  it.each<[string, JWTRule]>([
    ['jwks that is not JSON', { issuer: ISS, jwks: '{"keys": [' }],
    ['jwks without usable keys', { issuer: ISS, jwks: '{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}' }],
    ['neither jwks nor jwksUri', { issuer: ISS }],
    ['a jwksUri that is not a URL', { issuer: ISS, jwksUri: 'not a url' }],
  ])('%s: the listener compiles and the issuer\'s tokens are refused', (_n, rule) => {
    const { jwt } = compiled(model([ra('broken', [rule])]));
    const out = authenticate(jwt, request({ authorization: `Bearer ${signJwt(rsa, istioClaims(NOW_SEC))}` }), localKeysOnly, NOW);
    expect(out.kind === 'deny' && out.reason).toBe('no-matching-key');
    expect(authenticate(jwt, request(), localKeysOnly, NOW).kind).toBe('pass');
  });
});

describe('golden jwt listeners compile in the proxy (protobuf round trip)', () => {
  const golden = (name: string, listener: string) => {
    const file = path.join(process.cwd(), 'test/golden/xds/testdata', name, 'expected.json');
    const l = (JSON.parse(fs.readFileSync(file, 'utf8')) as { listeners: Record<string, unknown>[] }).listeners.find((x) => x['name'] === listener)!;
    return buildListener(decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, l)) as never);
  };
  it('ingress gateway: jwt_authn with the remote JWKS through its dedicated cluster', () => {
    const f = golden('gateway-jwt-ingress', '0.0.0.0_8080').filterChains[0]!.filter;
    const p = f.kind === 'http' ? f.jwt[0]!.providers.get('origins-0') : undefined;
    expect(p?.jwks).toEqual({ kind: 'remote', remote: {
      uri: 'https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json',
      cluster: 'jwks|raw.githubusercontent.com|443', timeoutMs: 5000, cacheMs: 300_000,
    } });
  });
  it('sidecar: jwt_authn and RBAC on both inbound chains of the task golden', () => {
    for (const c of golden('jwt-inline-jwks-task', 'virtualInbound').filterChains.filter((x) => x.filter.kind === 'http')) {
      expect(c.filter.kind === 'http' && [c.filter.jwt.length, c.filter.rbac.length]).toEqual([1, 1]);
    }
  });
});

describe('jwt_authn rule fields', () => {
  const ec = makeKey('ES256', 'ec-1');
  const { jwt } = compiled(model([ra('custom', [{
    issuer: 'issuer-ec', jwks: jwksOf(ec), audiences: ['httpbin'], fromHeaders: [{ name: 'x-jwt-assertion', prefix: 'Token ' }], fromParams: ['token'], fromCookies: ['session'],
    forwardOriginalToken: true, outputPayloadToHeader: 'x-jwt-payload', outputClaimToHeaders: [{ header: 'x-jwt-sub', claim: 'sub' }, { header: 'x-jwt-team', claim: 'org.team' }],
  }])]));
  const token = signJwt(ec, { iss: 'issuer-ec', sub: 'alice', aud: 'httpbin', exp: NOW_SEC + 60, org: { team: 'blue' } });
  const run = (headers: Record<string, string>, rawPath = '/') => authenticate(jwt, request(headers, rawPath), localKeysOnly, NOW);

  it('reads the configured header with its prefix, the query parameter and the cookie', () => {
    for (const out of [run({ 'x-jwt-assertion': `Token ${token}` }), run({}, `/?token=${token}`), run({ cookie: `a=b; session=${token}` })]) {
      expect(out.kind === 'pass' && out.metadata['istio_authn']?.['request.auth.principal']).toBe('issuer-ec/alice');
    }
  });

  it('does not look at Authorization when locations are configured', () => {
    expect(run({ authorization: `Bearer ${token}` })).toMatchObject({ kind: 'pass', metadata: {} });
  });

  it('forwardOriginalToken keeps the token; payload and claims go to headers', () => {
    const out = run({ 'x-jwt-assertion': `Token ${token}` });
    expect(out.kind === 'pass' && out.removeHeaders).toEqual([]);
    expect(out.kind === 'pass' && out.setHeaders).toEqual({ 'x-jwt-payload': token.split('.')[1], 'x-jwt-sub': 'alice', 'x-jwt-team': 'blue' });
  });

  it('the audience is enforced', () => {
    const wrong = signJwt(ec, { iss: 'issuer-ec', sub: 'alice', aud: 'other', exp: NOW_SEC + 60 });
    expect(run({ 'x-jwt-assertion': `Token ${wrong}` })).toMatchObject({ kind: 'deny', reason: 'audience-not-allowed', body: 'Audiences in Jwt are not allowed' });
  });
});

describe('two issuers sharing the Authorization header', () => {
  const a = makeKey('RS256', 'a');
  const b = makeKey('ES256', 'b');
  const { jwt } = compiled(model([ra('a', [{ issuer: 'issuer-a', jwks: jwksOf(a) }]), ra('b', [{ issuer: 'issuer-b', jwks: jwksOf(b) }])]));
  const run = (t: string) => authenticate(jwt, request({ authorization: `Bearer ${t}` }), localKeysOnly, NOW);

  it('a valid token of either issuer passes; an unknown issuer is refused', () => {
    expect(run(signJwt(a, { iss: 'issuer-a', sub: 'x' }))).toMatchObject({ kind: 'pass', metadata: { istio_authn: { 'request.auth.principal': 'issuer-a/x' } } });
    expect(run(signJwt(b, { iss: 'issuer-b', sub: 'y' }))).toMatchObject({ kind: 'pass', metadata: { istio_authn: { 'request.auth.principal': 'issuer-b/y' } } });
    expect(run(signJwt(b, { iss: 'issuer-c', sub: 'y' })).kind).toBe('deny');
    expect(authenticate(jwt, request(), localKeysOnly, NOW).kind).toBe('pass');
  });
});

describe('jwt_authn then RBAC (AuthorizationPolicy requestPrincipals and claims)', () => {
  const ap = (name: string, spec: AuthorizationPolicy['spec']): AuthorizationPolicy => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'foo' }, spec });
  const m = model([ra('jwt-example', [{ issuer: ISS, jwks: jwksOf(rsa) }])], [
    ap('require-jwt', { selector: { matchLabels: { app: 'httpbin' } }, action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/${ISS}`] } }], when: [{ key: 'request.auth.claims[groups]', values: ['group1'] }] }] }),
    ap('deny-anonymous-admin', { selector: { matchLabels: { app: 'httpbin' } }, action: 'DENY', rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/admin'] } }] }] }),
  ]);
  const { jwt, rbac } = compiled(m);
  const check = (headers: Record<string, string>, rawPath = '/headers') => checkRequest({ filters: rbac, jwt, conn: {} }, { method: 'GET', rawPath, authority: 'h', header: (n) => headers[n] }, { scheme: 'http', keys: localKeysOnly, now: NOW }).kind;
  const withGroups = (groups: unknown) => ({ authorization: `Bearer ${signJwt(rsa, istioClaims(NOW_SEC, { groups }))}` });

  it('missing token: 403 from RBAC; invalid token: 401 from jwt_authn', () => {
    expect(check({})).toBe('forbidden');
    expect(check({ authorization: 'Bearer not.a.jwt' })).toBe('unauthenticated');
  });
  it('claims decide: group1 allowed, group2 refused, a string claim counts as a one-element list', () => {
    expect(check(withGroups(['group1']))).toBe('pass');
    expect(check(withGroups(['group2']))).toBe('forbidden');
    expect(check(withGroups('group1'))).toBe('pass');
  });
  it('notRequestPrincipals ["*"] refuses anonymous requests only', () => {
    expect(check({}, '/admin')).toBe('forbidden');
    expect(check(withGroups(['group1']), '/admin')).toBe('pass');
  });
});

describe('refused jwt_authn configs (NACK)', () => {
  const jwks = jwksOf(rsa);
  const base = (): JwtAuthenticationShape => ({ providers: { p: { issuer: 'i', local_jwks: { inline_string: jwks } } }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }] });
  const bad = (mut: (c: JwtAuthenticationShape) => void): unknown => {
    const c = base();
    mut(c);
    try {
      compileJwtAuthnFilter('jwt', c, 'hcm.http_filters[0]');
    } catch (e) {
      return e instanceof WeftError ? { code: e.code, message: e.message } : e;
    }
    return 'no error';
  };
  it.each<[string, (c: JwtAuthenticationShape) => void, string]>([
    ['provider without keys', (c) => { delete c.providers!['p']!.local_jwks; }, 'jwt_authn provider needs local_jwks or remote_jwks'],
    ['invalid inline jwks', (c) => { c.providers!['p']!.local_jwks = { inline_string: '{"keys":' }; }, 'jwt_authn local_jwks is invalid: jwks is not valid JSON'],
    ['jwks from a file', (c) => { c.providers!['p']!.local_jwks = { filename: '/etc/jwks' }; }, 'jwt_authn local_jwks supports inline_string and inline_bytes only'],
    ['both key sources', (c) => { c.providers!['p']!.remote_jwks = { http_uri: { uri: 'http://x/j', cluster: 'c' } }; }, 'jwt_authn provider sets both local_jwks and remote_jwks'],
    ['remote without cluster', (c) => { delete c.providers!['p']!.local_jwks; c.providers!['p']!.remote_jwks = { http_uri: { uri: 'http://x/j' } }; }, 'jwt_authn remote_jwks.http_uri needs a cluster'],
    ['remote with a bad uri', (c) => { delete c.providers!['p']!.local_jwks; c.providers!['p']!.remote_jwks = { http_uri: { uri: 'file:///j', cluster: 'c' } }; }, 'jwt_authn remote_jwks.http_uri.uri must be an http(s) URL'],
    ['subjects (would widen if ignored)', (c) => { c.providers!['p']!.subjects = { exact: 'x' }; }, "jwt_authn provider field 'subjects' is not supported"],
    ['unknown provider', (c) => { c.rules![0]!.requires = { provider_name: 'nope' }; }, 'jwt_authn requirement names an unknown provider'],
    ['requires_any with one entry', (c) => { c.rules![0]!.requires = { requires_any: { requirements: [{ provider_name: 'p' }] } }; }, 'jwt_authn requires_any/requires_all needs at least two requirements'],
    ['unknown requirement name', (c) => { c.rules![0] = { match: { prefix: '/' }, requirement_name: 'r' }; }, 'jwt_authn rule names an unknown requirement'],
    ['rule matching headers', (c) => { c.rules![0]!.match = { prefix: '/', headers: [{ name: 'x' }] }; }, 'jwt_authn rule match supports prefix, path and safe_regex only'],
    ['bad header name', (c) => { c.providers!['p']!.from_headers = [{ name: 'bad header' }]; }, 'jwt_authn header name is not a valid HTTP header name'],
    ['filter_state_rules', (c) => { c.filter_state_rules = {}; }, 'jwt_authn filter_state_rules is not supported'],
  ])('%s', (_n, mut, message) => {
    expect(bad(mut)).toEqual({ code: 'WEFT_E_INVALID_CONFIG', message: expect.stringContaining(message) });
  });

  it('jwt_authn after an RBAC filter fails the listener build', () => {
    const rbac = { name: 'rbac', typed_config: { '@type': TYPE_URLS.httpRbac, rules: { action: 'ALLOW', policies: {} } } };
    const jwtF = { name: 'jwt', typed_config: { '@type': TYPE_URLS.jwtAuthn, ...base() } };
    const hcm = { '@type': TYPE_URLS.httpConnectionManager, stat_prefix: 'x', rds: { route_config_name: 'r' }, http_filters: [rbac, jwtF] };
    const listener = { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 1 } }, filter_chains: [{ filters: [{ name: 'hcm', typed_config: hcm }] }] };
    expect(() => buildListener(listener as never)).toThrow('jwt_authn filter after an RBAC filter is not supported; put it first');
  });

  it('rules without a requirement do not verify that path', () => {
    const f = compileJwtAuthnFilter('jwt', { ...base(), rules: [{ match: { path: '/health' } }, { match: { prefix: '/' }, requires: { provider_name: 'p' } }] }, 'f');
    expect(authenticate([f], request({}, '/health?x'), localKeysOnly, NOW).kind).toBe('pass');
    expect(authenticate([f], request({}, '/other'), localKeysOnly, NOW)).toMatchObject({ kind: 'deny', reason: 'missing', body: 'Jwt is missing', headers: { 'www-authenticate': 'Bearer realm="http://httpbin.foo:8000/other"' } });
  });

  it('an RBAC metadata matcher without a path is refused', () => {
    expect(() => compileRbacFilter('r', { rules: { policies: { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [], value: { present_match: true } } }] } } } }, 'f'))
      .toThrow('RBAC metadata matcher needs a filter and a path of keys');
    expect(() => compileRbacFilter('r', { rules: { policies: { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'k' }], value: { list_match: {} } } }] } } } }, 'f'))
      .toThrow('RBAC metadata value matcher must set exactly one kind');
  });
});

describe('remote JWKS without its cluster', () => {
  it('has no keys (so tokens are refused), fetches nothing else, and retries later', async () => {
    const clusters = new ClusterManager({ now: () => NOW, rand: Math.random, identity: () => undefined });
    const cache = new JwksCache({ clusters, logger: silentLogger(), now: () => NOW });
    const remote = { uri: 'http://127.0.0.1:1/jwks.json', cluster: 'jwks|127.0.0.1|1', timeoutMs: 100, cacheMs: 1000 };
    expect(cache.keysFor(remote)).toBeUndefined();
    await cache.refresh(remote);
    expect(cache.keysFor(remote)).toBeUndefined();
  });
});
