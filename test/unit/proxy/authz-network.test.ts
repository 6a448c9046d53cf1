// Network RBAC (envoy.filters.network.rbac in front of tcp_proxy): compiling listeners the way
// the control plane renders them (round-tripped through protobuf), connection-level evaluation,
// and one test per refused config.
import { describe, it, expect } from '@jest/globals';
import { decodeResource, encodeResource, TYPE_URLS } from '../../../src/envoy/index.js';
import { buildListener } from '../../../src/proxy/config/build.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import type { FilterChain } from '../../../src/proxy/config/model.js';
import { compileNetworkRbacFilter, evaluateNetworkRbac, type AuthzConnection, type RbacFilter } from '../../../src/proxy/authz/index.js';
import { WeftError } from '../../../src/errors/errors.js';
import { HCM_TYPE, TCP_TYPE } from './fixtures.js';

const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';

type Json = Record<string, unknown>;

/** A network RBAC filter as translate (src/xds/translate/rbac.ts) renders it. */
function netRbac(action: string, policies: Json, extra: Json = {}): Json {
  return { name: 'envoy.filters.network.rbac', typed_config: { '@type': NET_RBAC, stat_prefix: 'tcp.', rules: { action, policies }, ...extra } };
}

const tcpProxy = { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_TYPE, stat_prefix: 'inbound|9000||', cluster: 'inbound|9000||' } };

function listener(filters: Json[]): ListenerShape {
  const l = {
    name: 'virtualInbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    filter_chains: [{ name: 'inbound|9000||-plaintext', filter_chain_match: { destination_port: { value: 9000 }, transport_protocol: 'raw_buffer' }, filters }],
  };
  // Through protobuf, so the proxy sees exactly what it decodes from ADS (enum names, defaults dropped).
  return decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, l)) as ListenerShape;
}

function chainOf(filters: Json[]): FilterChain {
  return buildListener(listener(filters)).filterChains[0]!;
}

const DENY_PORT = netRbac('DENY', { 'ns[default]-policy[deny-port]-rule[0]': {
  permissions: [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 9001 }] } }] } }],
  principals: [{ and_ids: { ids: [{ any: true }] } }],
} });
const ALLOW_IP = netRbac('ALLOW', { 'ns[default]-policy[allow-ip]-rule[0]': {
  permissions: [{ and_rules: { rules: [{ any: true }] } }],
  principals: [{ and_ids: { ids: [{ or_ids: { ids: [{ direct_remote_ip: { address_prefix: '127.0.0.2', prefix_len: { value: 32 } } }] } }] } }],
} });

const conn = (over: Partial<AuthzConnection> = {}): AuthzConnection => ({ remoteIp: '127.0.0.2', localIp: '127.0.0.1', destinationPort: 9000, ...over });

describe('network RBAC compiled from a TCP filter chain', () => {
  const chain = chainOf([DENY_PORT, ALLOW_IP, tcpProxy]);
  const f = chain.networkRbac!;

  it('keeps the tcp_proxy and compiles DENY then ALLOW in filter order', () => {
    expect(chain.filter.kind).toBe('tcp');
    expect(f.map((x) => [x.name, x.action])).toEqual([['envoy.filters.network.rbac', 'DENY'], ['envoy.filters.network.rbac', 'ALLOW']]);
  });

  it('ALLOW by source IP: 127.0.0.2 admitted, 127.0.0.3 refused, IPv4-mapped peers seen as IPv4', () => {
    expect(evaluateNetworkRbac(f, conn())).toEqual({ allowed: true });
    expect(evaluateNetworkRbac(f, conn({ remoteIp: '::ffff:127.0.0.2' }))).toEqual({ allowed: true });
    expect(evaluateNetworkRbac(f, conn({ remoteIp: '127.0.0.3' }))).toEqual({ allowed: false, filter: 'envoy.filters.network.rbac' });
    expect(evaluateNetworkRbac(f, conn({ remoteIp: undefined })).allowed).toBe(false);
  });

  it('DENY by destination port wins over the ALLOW', () => {
    expect(evaluateNetworkRbac(f, conn({ destinationPort: 9001 }))).toEqual({
      allowed: false, filter: 'envoy.filters.network.rbac', policy: 'ns[default]-policy[deny-port]-rule[0]',
    });
  });

  it('a chain without network RBAC has none; the HTTP chain RBAC is unaffected', () => {
    expect(chainOf([tcpProxy]).networkRbac).toBeUndefined();
  });
});

describe('network RBAC evaluation', () => {
  const one = (action: string, perm: Json, id: Json): RbacFilter[] =>
    [compileNetworkRbacFilter('n', { stat_prefix: 'tcp.', rules: { action, policies: { p: { permissions: [perm], principals: [id] } } } }, 'f')];

  it('authenticated principal_name uses the verified mTLS peer only', () => {
    const f = one('ALLOW', { any: true }, { authenticated: { principal_name: { exact: CLIENT } } });
    expect(evaluateNetworkRbac(f, conn({ peerPrincipal: CLIENT })).allowed).toBe(true);
    expect(evaluateNetworkRbac(f, conn({ peerPrincipal: 'spiffe://cluster.local/ns/default/sa/other' })).allowed).toBe(false);
    expect(evaluateNetworkRbac(f, conn()).allowed).toBe(false);
    const anyPeer = one('ALLOW', { any: true }, { authenticated: {} });
    expect(evaluateNetworkRbac(anyPeer, conn({ peerPrincipal: CLIENT })).allowed).toBe(true);
    expect(evaluateNetworkRbac(anyPeer, conn()).allowed).toBe(false);
  });

  it('destination_ip, destination_port_range, source_ip, remote_ip, not_rule and not_id', () => {
    const ip = one('DENY', { destination_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }, { any: true });
    expect(evaluateNetworkRbac(ip, conn({ localIp: '10.1.2.3' })).allowed).toBe(false);
    expect(evaluateNetworkRbac(ip, conn()).allowed).toBe(true);
    const range = one('DENY', { destination_port_range: { start: 9000, end: 9002 } }, { source_ip: { address_prefix: '127.0.0.0', prefix_len: { value: 8 } } });
    expect(evaluateNetworkRbac(range, conn({ destinationPort: 9001 })).allowed).toBe(false);
    expect(evaluateNetworkRbac(range, conn({ destinationPort: 9002 })).allowed).toBe(true);
    expect(evaluateNetworkRbac(range, conn({ remoteIp: '10.0.0.1' })).allowed).toBe(true);
    const notPort = one('ALLOW', { not_rule: { destination_port: 22 } }, { not_id: { remote_ip: { address_prefix: '127.0.0.3', prefix_len: { value: 32 } } } });
    expect(evaluateNetworkRbac(notPort, conn()).allowed).toBe(true);
    expect(evaluateNetworkRbac(notPort, conn({ destinationPort: 22 })).allowed).toBe(false);
    expect(evaluateNetworkRbac(notPort, conn({ remoteIp: '127.0.0.3' })).allowed).toBe(false);
  });

  it('no rules enforces nothing; ALLOW with no policies refuses everything; LOG never refuses', () => {
    expect(evaluateNetworkRbac([compileNetworkRbacFilter('n', { stat_prefix: 's' }, 'f')], conn()).allowed).toBe(true);
    expect(evaluateNetworkRbac([compileNetworkRbacFilter('n', { stat_prefix: 's', rules: { policies: {} } }, 'f')], conn()).allowed).toBe(false);
    expect(evaluateNetworkRbac(one('LOG', { any: true }, { any: true }), conn()).allowed).toBe(true);
    expect(evaluateNetworkRbac([], conn()).allowed).toBe(true);
  });

  it('enforcement_type CONTINUOUS is accepted (the connection facts never change)', () => {
    const f = compileNetworkRbacFilter('n', { stat_prefix: 's', enforcement_type: 'CONTINUOUS', rules: { action: 'DENY', policies: {} } }, 'f');
    expect(f.action).toBe('DENY');
  });
});

describe('bad network RBAC configs are refused (NACK), never ignored', () => {
  const bad = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return e instanceof WeftError ? { code: e.code, message: e.message, field: (e.details as { field?: string } | undefined)?.field } : e;
    }
    return 'no error';
  };
  const pol = (perm: unknown, id: unknown = { any: true }): Json => ({ stat_prefix: 'tcp.', rules: { action: 'ALLOW', policies: { p: { permissions: [perm], principals: [id] } } } });
  const compile = (cfg: Json) => (): unknown => compileNetworkRbacFilter('n', cfg, 'fc.filters[0]');
  const header = { header: { name: ':path', string_match: { prefix: '/admin' } } };
  const urlPath = { url_path: { path: { prefix: '/admin' } } };

  it.each([
    ['header permission', pol(header), 'header', 'fc.filters[0].rules.policies[p].permissions[0].header'],
    ['url_path permission', pol(urlPath), 'url_path', 'fc.filters[0].rules.policies[p].permissions[0].url_path'],
    ['header permission nested in and_rules', pol({ and_rules: { rules: [{ any: true }, header] } }), 'header',
      'fc.filters[0].rules.policies[p].permissions[0].and_rules.rules[1].header'],
    ['url_path permission under not_rule', pol({ not_rule: urlPath }), 'url_path', 'fc.filters[0].rules.policies[p].permissions[0].not_rule.url_path'],
    ['header principal', pol({ any: true }, header), 'header', 'fc.filters[0].rules.policies[p].principals[0].header'],
    ['url_path principal in or_ids', pol({ any: true }, { or_ids: { ids: [urlPath] } }), 'url_path',
      'fc.filters[0].rules.policies[p].principals[0].or_ids.ids[0].url_path'],
    ['metadata principal (request authentication)', pol({ any: true }, { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { exact: 'x' } } } }),
      'metadata', 'fc.filters[0].rules.policies[p].principals[0].metadata'],
  ])('%s', (_name, cfg, kind, field) => {
    const what = field.includes('permissions') ? 'permission' : 'principal';
    expect(bad(compile(cfg))).toEqual({
      code: 'WEFT_E_INVALID_CONFIG', field,
      message: `RBAC ${what} kind '${kind}' is not supported by the network RBAC filter (connection-level rules only)`,
    });
  });

  it.each([
    ['missing stat_prefix', { rules: { action: 'ALLOW', policies: {} } }, 'network RBAC filter needs a non-empty stat_prefix'],
    ['the matcher API', { stat_prefix: 's', matcher: {} }, 'RBAC matcher API is not supported; use rules'],
    ['unknown action', { stat_prefix: 's', rules: { action: 'AUDIT' } }, 'unknown RBAC action'],
    ['unknown enforcement_type', { stat_prefix: 's', enforcement_type: 'SOMETIMES' }, 'unknown network RBAC enforcement_type'],
    ['unsupported kind', pol({ requested_server_name: { exact: 'x' } }), 'unsupported RBAC permission kind'],
    ['bad CIDR', pol({ any: true }, { source_ip: { address_prefix: '127.0.0.300', prefix_len: { value: 32 } } }), 'RBAC CIDR has an invalid address_prefix'],
  ])('%s', (_name, cfg, message) => {
    expect(bad(compile(cfg))).toMatchObject({ code: 'WEFT_E_INVALID_CONFIG', message });
  });

  it('a listener with a request-level rule in its network RBAC fails to build (the xDS client NACKs it)', () => {
    const l = listener([netRbac('DENY', { p: { permissions: [header], principals: [{ any: true }] } }), tcpProxy]);
    expect(() => buildListener(l)).toThrow("RBAC permission kind 'header' is not supported by the network RBAC filter");
  });

  it('network RBAC after the terminal tcp_proxy is refused (it could never run)', () => {
    expect(() => buildListener(listener([tcpProxy, ALLOW_IP]))).toThrow('network RBAC filter after the terminal filter is never reached');
  });

  it('the HTTP RBAC type among network filters, and the network type among http_filters, are refused', () => {
    const httpRbacAsNetwork = { name: 'envoy.filters.http.rbac', typed_config: { '@type': HTTP_RBAC, rules: { action: 'ALLOW', policies: {} } } };
    expect(() => buildListener(listener([httpRbacAsNetwork, tcpProxy]))).toThrow('HTTP RBAC filter configured as a network filter');
    const hcm = { name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: 'x', rds: { route_config_name: 'r' }, http_filters: [
      { name: 'rbac', typed_config: { '@type': NET_RBAC, stat_prefix: 'tcp.', rules: { action: 'ALLOW', policies: {} } } },
    ] } };
    expect(() => buildListener(listener([hcm]))).toThrow('network RBAC filter configured as an HTTP filter');
  });

  it('network RBAC in front of an HTTP connection manager is compiled too', () => {
    const hcm = { name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: 'x', rds: { route_config_name: 'r' } } };
    const c = chainOf([ALLOW_IP, hcm]);
    expect(c.filter.kind).toBe('http');
    expect(c.networkRbac?.map((x) => x.action)).toEqual(['ALLOW']);
  });
});
