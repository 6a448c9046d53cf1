// RBAC compiler and Envoy evaluation semantics, fed with the control plane's golden
// virtualInbound listeners (test/golden/xds/testdata/authz-*), round-tripped through protobuf
// so the proxy sees exactly what it would decode from ADS.
import { describe, it, expect } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { decodeResource, encodeResource, TYPE_URLS } from '../../../src/envoy/index.js';
import { buildListener } from '../../../src/proxy/config/build.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { compileRbacFilter, evaluateRbac, type AuthzRequest, type RbacFilter } from '../../../src/proxy/authz/index.js';
import { parseIp, cidrContains, parseCidr } from '../../../src/proxy/authz/cidr.js';
import { WeftError } from '../../../src/errors/errors.js';

function goldenListener(name: string): ListenerShape {
  const file = path.join(process.cwd(), 'test/golden/xds/testdata', name, 'expected.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { listeners: Record<string, unknown>[] };
  const l = json.listeners.find((x) => x['name'] === 'virtualInbound')!;
  return decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, l)) as ListenerShape;
}

/** The RBAC filters of the inbound HTTP chain for `port` with transport `tp`. */
function rbacOf(name: string, port = 9080, tp = 'raw_buffer'): RbacFilter[] {
  const l = buildListener(goldenListener(name));
  const fc = l.filterChains.find((c) => c.match.destinationPort === port && c.match.transportProtocol === tp)!;
  if (fc.filter.kind !== 'http') throw new Error('not http');
  return fc.filter.rbac;
}

function req(over: Partial<AuthzRequest> & { headers?: Record<string, string> } = {}): AuthzRequest {
  const headers = over.headers ?? {};
  return {
    method: 'GET', rawPath: '/', authority: 'productpage.example.com', destinationPort: 9080, remoteIp: '127.0.0.1', localIp: '127.0.0.1',
    header: (n) => headers[n], ...over,
  };
}

const GATEWAY = 'spiffe://cluster.local/ns/default/sa/bookinfo-gateway';

describe('golden authz-allow-get-from-namespace (ALLOW by principal/namespace, GET, paths)', () => {
  const f = rbacOf('authz-allow-get-from-namespace');
  const tls = rbacOf('authz-allow-get-from-namespace', 9080, 'tls');

  it('compiles one ALLOW filter on both the mTLS and the plaintext chain', () => {
    expect(f.map((x) => x.action)).toEqual(['ALLOW']);
    expect(tls.map((x) => x.action)).toEqual(['ALLOW']);
  });

  it('admits the gateway principal on GET /productpage and /static/*', () => {
    expect(evaluateRbac(tls, req({ peerPrincipal: GATEWAY, rawPath: '/productpage' })).allowed).toBe(true);
    expect(evaluateRbac(tls, req({ peerPrincipal: GATEWAY, rawPath: '/static/app.js?v=1' })).allowed).toBe(true);
    expect(evaluateRbac(tls, req({ peerPrincipal: 'spiffe://cluster.local/ns/istio-system/sa/ingress', rawPath: '/productpage' })).allowed).toBe(true);
  });

  it('refuses other principals, plaintext peers, other methods and other paths', () => {
    expect(evaluateRbac(tls, req({ peerPrincipal: 'spiffe://cluster.local/ns/default/sa/other', rawPath: '/productpage' }))).toEqual({
      allowed: false, filter: 'envoy.filters.http.rbac.allow',
    });
    expect(evaluateRbac(f, req({ rawPath: '/productpage' })).allowed).toBe(false);
    expect(evaluateRbac(tls, req({ peerPrincipal: GATEWAY, method: 'POST', rawPath: '/productpage' })).allowed).toBe(false);
    expect(evaluateRbac(tls, req({ peerPrincipal: GATEWAY, rawPath: '/productpage/x' })).allowed).toBe(false);
    expect(evaluateRbac(tls, req({ peerPrincipal: GATEWAY, rawPath: '/admin' })).allowed).toBe(false);
  });

  it('path normalisation: equivalent spellings of an allowed path are admitted, traversal out of /static is not', () => {
    const ok = (p: string): boolean => evaluateRbac(tls, req({ peerPrincipal: GATEWAY, rawPath: p })).allowed;
    expect(ok('//productpage')).toBe(true);
    expect(ok('/static/../productpage')).toBe(true);
    expect(ok('/%70roductpage')).toBe(true);
    expect(ok('/productpage#frag')).toBe(true);
    expect(ok('/static/../admin')).toBe(false);
    expect(ok('/static/%2e%2e/admin')).toBe(false);
    expect(ok('/static%2f..%2fadmin')).toBe(false);
    expect(ok('/static/..%5cadmin')).toBe(false);
  });

  it('a forged principal-like header does not authenticate', () => {
    expect(evaluateRbac(tls, req({ rawPath: '/productpage', headers: { 'x-forwarded-client-cert': `By=;URI=${GATEWAY}` } })).allowed).toBe(false);
  });
});

describe('golden authz-deny-when-header-and-ip (DENY on path/port/host + not header + source ip)', () => {
  const f = rbacOf('authz-deny-when-header-and-ip');
  const attacker = { remoteIp: '10.1.2.3', authority: 'productpage.example.com' };

  it('denies /admin* from 10.1/16 without the admin token, first policy named', () => {
    expect(evaluateRbac(f, req({ ...attacker, rawPath: '/admin' }))).toEqual({
      allowed: false, filter: 'envoy.filters.http.rbac.deny', policy: 'ns[default]-policy[deny-admin]-rule[0]',
    });
    expect(evaluateRbac(f, req({ ...attacker, rawPath: '/adminpanel?x=1' })).allowed).toBe(false);
  });

  it('bypass payloads still hit the /admin prefix rule', () => {
    for (const p of ['//admin', '/x/../admin', '/./admin', '/%61dmin', '/%2e%2e/admin', '/x/%2e%2e/admin', '/x%2f..%2fadmin', '\\admin', '/admin?', '/admin#x']) {
      expect([p, evaluateRbac(f, req({ ...attacker, rawPath: p })).allowed]).toEqual([p, false]);
    }
  });

  it('host matching ignores case (the authority matcher has ignore_case)', () => {
    expect(evaluateRbac(f, req({ ...attacker, authority: 'ProductPage.Example.COM', rawPath: '/admin' })).allowed).toBe(false);
  });

  it('allows with the admin token, from other IPs, on other ports, hosts and paths', () => {
    expect(evaluateRbac(f, req({ ...attacker, rawPath: '/admin', headers: { 'x-token': 'admin' } })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ ...attacker, remoteIp: '10.2.0.1', rawPath: '/admin' })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ ...attacker, remoteIp: '::ffff:10.1.0.9', rawPath: '/admin' })).allowed).toBe(false);
    expect(evaluateRbac(f, req({ ...attacker, destinationPort: 9081, rawPath: '/admin' })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ ...attacker, authority: 'other.example.com', rawPath: '/admin' })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ ...attacker, rawPath: '/public' })).allowed).toBe(true);
  });
});

describe('golden authz-allow-nothing', () => {
  it('an ALLOW filter with no policies denies everything', () => {
    const f = rbacOf('authz-allow-nothing');
    expect(f).toHaveLength(1);
    expect(f[0]!.action).toBe('ALLOW');
    expect(f[0]!.policies).toHaveLength(0);
    expect(evaluateRbac(f, req({ peerPrincipal: GATEWAY })).allowed).toBe(false);
  });
});

describe('golden authz-request-principals-claims (istio_authn metadata)', () => {
  const f = rbacOf('authz-request-principals-claims');
  it('without JWT metadata nothing matches, so the ALLOW policy refuses', () => {
    expect(evaluateRbac(f, req()).allowed).toBe(false);
  });
  it('with matching request principal and claim the policy admits', () => {
    const principal = 'testing@secure.istio.io/testing@secure.istio.io';
    const metadata = (groups: unknown): AuthzRequest['metadata'] => ({ istio_authn: { 'request.auth.principal': principal, 'request.auth.claims': { groups } } });
    // Claims are lists in istio_authn (list_match one_of), as Istio's authn filter stores them.
    expect(evaluateRbac(f, req({ metadata: metadata(['group1']) })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ metadata: metadata(['group2', 'group1']) })).allowed).toBe(true);
    expect(evaluateRbac(f, req({ metadata: metadata(['group2']) })).allowed).toBe(false);
    // A bare string is not a list: list_match never matches it (Envoy).
    expect(evaluateRbac(f, req({ metadata: metadata('group1') })).allowed).toBe(false);
    expect(evaluateRbac(f, req({ metadata: { istio_authn: { 'request.auth.principal': principal } } })).allowed).toBe(false);
  });
});

describe('Envoy evaluation semantics', () => {
  const allowAll = compileRbacFilter('a', { rules: { action: 'ALLOW', policies: { p: { permissions: [{ any: true }], principals: [{ any: true }] } } } }, 'f');
  const denyPost = compileRbacFilter('d', { rules: { action: 'DENY', policies: { p: { permissions: [{ header: { name: ':method', string_match: { exact: 'POST' } } }], principals: [{ any: true }] } } } }, 'f');

  it('DENY runs first: a request both denied and allowed is refused', () => {
    expect(evaluateRbac([denyPost, allowAll], req({ method: 'POST' })).allowed).toBe(false);
    expect(evaluateRbac([denyPost, allowAll], req({ method: 'GET' })).allowed).toBe(true);
  });

  it('no rules = no enforcement; LOG never refuses; absent action = ALLOW (proto3 default)', () => {
    expect(evaluateRbac([compileRbacFilter('n', {}, 'f')], req()).allowed).toBe(true);
    expect(evaluateRbac([compileRbacFilter('l', { rules: { action: 'LOG', policies: {} } }, 'f')], req()).allowed).toBe(true);
    expect(evaluateRbac([compileRbacFilter('z', { rules: {} }, 'f')], req()).allowed).toBe(false);
    expect(evaluateRbac([compileRbacFilter('z', { rules: { action: 1, policies: {} } }, 'f')], req()).allowed).toBe(true);
  });

  it('and/or/not, destination port range, destination ip, authenticated without a name, url_path regex, headers', () => {
    const f = compileRbacFilter('x', { rules: { policies: { p: {
      permissions: [{ and_rules: { rules: [
        { or_rules: { rules: [{ destination_port_range: { start: 8000, end: 8100 } }, { destination_port: 9090 }] } },
        { not_rule: { url_path: { path: { safe_regex: { regex: '/private/.*' } } } } },
        { destination_ip: { address_prefix: '127.0.0.0', prefix_len: { value: 8 } } },
      ] } }],
      principals: [{ and_ids: { ids: [{ authenticated: {} }, { not_id: { header: { name: 'x-block', present_match: true } } }] } }],
    } } } }, 'f');
    const ok = (o: Partial<AuthzRequest> & { headers?: Record<string, string> }): boolean => evaluateRbac([f], req({ peerPrincipal: 'spiffe://a', destinationPort: 8080, ...o })).allowed;
    expect(ok({})).toBe(true);
    expect(ok({ destinationPort: 9090 })).toBe(true);
    expect(ok({ destinationPort: 8100 })).toBe(false);
    expect(ok({ rawPath: '/private/x' })).toBe(false);
    expect(ok({ rawPath: '//private//x' })).toBe(false);
    expect(ok({ localIp: '10.0.0.1' })).toBe(false);
    expect(ok({ peerPrincipal: undefined })).toBe(false);
    expect(ok({ headers: { 'x-block': '1' } })).toBe(false);
  });

  it(':path header matchers see the normalised path with its query', () => {
    const f = compileRbacFilter('x', { rules: { action: 'DENY', policies: { p: {
      permissions: [{ header: { name: ':path', string_match: { prefix: '/admin' } } }], principals: [{ any: true }],
    } } } }, 'f');
    expect(evaluateRbac([f], req({ rawPath: '/x/../admin?y=1' })).allowed).toBe(false);
    expect(evaluateRbac([f], req({ rawPath: '/public?next=/admin' })).allowed).toBe(true);
  });

  it('IPv6 CIDRs and IPv4-mapped addresses', () => {
    expect(cidrContains(parseCidr('2001:db8::', 32, 'f'), '2001:db8:1::5')).toBe(true);
    expect(cidrContains(parseCidr('2001:db8::', 32, 'f'), '2001:db9::5')).toBe(false);
    expect(cidrContains(parseCidr('10.0.0.0', 8, 'f'), '::ffff:10.9.9.9')).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0', 8, 'f'), '2001:db8::1')).toBe(false);
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('nope')).toBeUndefined();
  });
});

describe('bad RBAC configs are refused (NACK), never ignored', () => {
  const bad = (rules: unknown): unknown => {
    try {
      compileRbacFilter('b', { rules: rules as never }, 'hcm.http_filters[0]');
    } catch (e) {
      return e instanceof WeftError ? { code: e.code, message: e.message } : e;
    }
    return 'no error';
  };
  const pol = (perm: unknown, id: unknown = { any: true }): unknown => ({ policies: { p: { permissions: [perm], principals: [id] } } });

  it.each([
    ['unknown permission kind', pol({ requested_server_name: { exact: 'x' } }), 'unsupported RBAC permission kind'],
    ['permission metadata', pol({ metadata: { filter: 'x' } }), 'unsupported RBAC permission kind'],
    ['unknown principal kind', pol({ any: true }, { filter_state: { key: 'x' } }), 'unsupported RBAC principal kind'],
    ['two kinds in one permission', pol({ any: true, destination_port: 80 }), 'RBAC permission must set exactly one rule kind'],
    ['empty principal', pol({ any: true }, {}), 'RBAC principal must set exactly one rule kind'],
    ['bad CIDR', pol({ any: true }, { source_ip: { address_prefix: 'x', prefix_len: { value: 8 } } }), 'RBAC CIDR has an invalid address_prefix'],
    ['CIDR too long', pol({ any: true }, { direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 33 } } }), 'RBAC CIDR prefix_len out of range'],
    ['bad regex', pol({ url_path: { path: { safe_regex: { regex: 'a(b' } } } }), 'invalid regex'],
    ['url_path without path', pol({ url_path: {} }), 'RBAC url_path needs a path string matcher'],
    ['bad port', pol({ destination_port: 70000 }), 'RBAC destination_port out of range'],
    ['unknown action', { action: 'AUDIT' }, 'unknown RBAC action'],
    ['CEL condition', { policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: {} } } }, 'RBAC policy conditions (CEL) are not supported'],
    ['metadata value kind', pol({ any: true }, { metadata: { filter: 'istio_authn', path: [{ key: 'k' }], value: { double_match: {} } } }), 'unsupported RBAC metadata value matcher'],
  ])('%s', (_name, rules, message) => {
    expect(bad(rules)).toEqual({ code: 'WEFT_E_INVALID_CONFIG', message });
  });

  it('the matcher API is refused', () => {
    expect(() => compileRbacFilter('m', { matcher: {} }, 'f')).toThrow('RBAC matcher API is not supported; use rules');
  });

  it('a listener carrying a bad RBAC filter fails to build (the xDS client NACKs it)', () => {
    const l = goldenListener('authz-allow-get-from-namespace');
    const hcm = l.filter_chains![0]!.filters![0]!.typed_config as { http_filters: { typed_config: { rules: { policies: Record<string, { permissions: unknown[] }> } } }[] };
    const p = Object.values(hcm.http_filters[0]!.typed_config.rules.policies)[0]!;
    p.permissions = [{ requested_server_name: { exact: 'x' } }];
    expect(() => buildListener(l)).toThrow('unsupported RBAC permission kind');
  });
});
