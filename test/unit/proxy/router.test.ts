import { describe, expect, it } from '@jest/globals';
import { buildCluster, buildEndpoints, buildListener, buildRetryPolicy, buildRouteTable } from '../../../src/proxy/config/build.js';
import type { ForwardAction, RedirectAction } from '../../../src/proxy/config/model.js';
import {
  mutateRequestHeaders, mutateResponseHeaders, pickCluster, redirectLocation, rewritePath, routeRequest, type HeaderBag, type RequestView,
} from '../../../src/proxy/route/router.js';
import { isWeftError } from '../../../src/errors/errors.js';
import { cla, edsCluster, httpListener, tcpListener } from './fixtures.js';

function req(path: string, opts: { authority?: string; method?: string; headers?: Record<string, string> } = {}): RequestView {
  const headers = opts.headers ?? {};
  return { authority: opts.authority ?? 'svc', path, method: opts.method ?? 'GET', header: (n) => headers[n] };
}

const table = buildRouteTable({
  name: 'r1',
  request_headers_to_add: [{ header: { key: 'x-table', value: 't' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  virtual_hosts: [
    {
      name: 'reviews', domains: ['reviews', 'reviews:9080', 'reviews.default.svc.cluster.local'],
      routes: [
        { name: 'exact', match: { path: '/exact' }, route: { cluster: 'exact' } },
        { name: 'hdr', match: { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }, route: { cluster: 'v2' } },
        { name: 'post', match: { prefix: '/', headers: [{ name: ':method', string_match: { exact: 'POST' } }] }, route: { cluster: 'post' } },
        { name: 'q', match: { prefix: '/', query_parameters: [{ name: 'debug', string_match: { exact: '1' } }] }, route: { cluster: 'debug' } },
        { name: 're', match: { safe_regex: { regex: '/api/v[0-9]+/items' } }, route: { cluster: 'api', regex_rewrite: { pattern: { regex: '/v[0-9]+/' }, substitution: '/' } } },
        { name: 'rw', match: { prefix: '/old/' }, route: { cluster: 'new', prefix_rewrite: '/new/', host_rewrite_literal: 'new.example' } },
        { name: 'redir', match: { prefix: '/go' }, redirect: { https_redirect: true, host_redirect: 'other.example', response_code: 'FOUND' } },
        { name: 'direct', match: { path: '/health' }, direct_response: { status: 204 } },
        {
          name: 'split', match: { prefix: '/' },
          route: { weighted_clusters: { clusters: [{ name: 'v1', weight: { value: 90 } }, { name: 'v3', weight: { value: 10 } }] }, timeout: { seconds: 2, nanos: 500_000_000 } },
          request_headers_to_add: [{ header: { key: 'x-route', value: 'split' }, append_action: 'ADD_IF_ABSENT' }],
          request_headers_to_remove: ['x-secret'],
          response_headers_to_add: [{ header: { key: 'x-resp', value: 'yes' } }],
          response_headers_to_remove: ['server'],
        },
      ],
    },
    { name: 'wild-suffix', domains: ['*.example.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'suffix' } }] },
    { name: 'wild-prefix', domains: ['api.*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'prefix' } }] },
    { name: 'any', domains: ['*'], routes: [{ match: { prefix: '/only' }, route: { cluster: 'any' } }] },
  ],
});

function clusterOf(path: string, opts?: Parameters<typeof req>[1]): string | undefined {
  const r = routeRequest(table, req(path, { authority: 'reviews', ...opts }));
  if (!r) return undefined;
  return r.route.action.kind === 'forward' ? pickCluster(r.route.action, 0) : r.route.action.kind;
}

describe('virtual host selection', () => {
  it('prefers exact, then suffix wildcard, then prefix wildcard, then *', () => {
    expect(routeRequest(table, req('/x', { authority: 'reviews' }))?.vhost.name).toBe('reviews');
    expect(routeRequest(table, req('/x', { authority: 'REVIEWS:9080' }))?.vhost.name).toBe('reviews');
    expect(routeRequest(table, req('/x', { authority: 'reviews:1234' }))?.vhost.name).toBe('reviews');
    expect(routeRequest(table, req('/x', { authority: 'a.example.com' }))?.vhost.name).toBe('wild-suffix');
    expect(routeRequest(table, req('/x', { authority: 'api.foo' }))?.vhost.name).toBe('wild-prefix');
    expect(routeRequest(table, req('/only', { authority: 'nobody' }))?.vhost.name).toBe('any');
    expect(routeRequest(table, req('/nothing', { authority: 'nobody' }))).toBeUndefined();
  });
});

describe('route matching', () => {
  it('matches exact path, headers, method, query and regex in order', () => {
    expect(clusterOf('/exact')).toBe('exact');
    expect(clusterOf('/exact/more')).toBe('v1');
    expect(clusterOf('/x', { headers: { 'end-user': 'jason' } })).toBe('v2');
    expect(clusterOf('/x', { headers: { 'end-user': 'bob' } })).toBe('v1');
    expect(clusterOf('/x', { method: 'POST' })).toBe('post');
    expect(clusterOf('/x?a=b&debug=1')).toBe('debug');
    expect(clusterOf('/x?debug=2')).toBe('v1');
    expect(clusterOf('/api/v2/items')).toBe('api');
    expect(clusterOf('/api/v2/items/1')).toBe('v1'); // regex is anchored
    expect(clusterOf('/health')).toBe('direct');
  });

  it('splits by weight', () => {
    const r = routeRequest(table, req('/', { authority: 'reviews' }))!;
    const a = r.route.action as ForwardAction;
    expect(a.timeoutMs).toBe(2500);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) { const c = pickCluster(a, i / 1000); counts[c] = (counts[c] ?? 0) + 1; }
    expect(counts).toEqual({ v1: 900, v3: 100 });
  });

  it('rewrites prefix, regex and builds redirects', () => {
    const rw = routeRequest(table, req('/old/a?x=1', { authority: 'reviews' }))!;
    expect(rewritePath(rw.route, rw.route.action as ForwardAction, '/old/a?x=1')).toBe('/new/a?x=1');
    expect((rw.route.action as ForwardAction).hostRewrite).toBe('new.example');
    const re = routeRequest(table, req('/api/v7/items', { authority: 'reviews' }))!;
    expect(rewritePath(re.route, re.route.action as ForwardAction, '/api/v7/items')).toBe('/api/items');
    const rd = routeRequest(table, req('/go/x?q=1', { authority: 'reviews:9080' }))!;
    const action = rd.route.action as RedirectAction;
    expect(action.status).toBe(302);
    expect(redirectLocation(rd.route, action, { scheme: 'http', authority: 'reviews:9080', path: '/go/x?q=1' })).toBe('https://other.example/go/x?q=1');
  });

  it('applies header add/remove at table, vhost and route level', () => {
    const rr = routeRequest(table, req('/', { authority: 'reviews' }))!;
    const h: HeaderBag = { 'x-secret': 's', 'x-route': 'client', 'x-table': 'old' };
    mutateRequestHeaders(h, table, rr);
    expect(h).toEqual({ 'x-route': 'client', 'x-table': 't' });
    const resp: HeaderBag = { server: 'up', 'x-resp': 'a' };
    mutateResponseHeaders(resp, table, rr);
    expect(resp).toEqual({ 'x-resp': ['a', 'yes'] });
  });
});

describe('config validation', () => {
  const cases: [string, () => unknown, string][] = [
    ['bad regex', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: { safe_regex: { regex: '(' } }, route: { cluster: 'c' } }] }] }), 'invalid regex'],
    ['no action', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: { prefix: '/' } }] }] }), 'route has no action'],
    ['no path specifier', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: {}, route: { cluster: 'c' } }] }] }), 'no path specifier'],
    ['duplicate domain', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['a'], routes: [] }, { domains: ['a'], routes: [] }] }), 'more than one virtual host'],
    ['zero weights', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } } }] }] }), 'total weight is 0'],
    ['bad retry_on', () => buildRetryPolicy({ retry_on: '5xx,bogus' }, 'rp'), 'unknown retry_on'],
    ['unsupported lb', () => buildCluster({ name: 'c', type: 'EDS', lb_policy: 'CLUSTER_PROVIDED' }), 'unsupported lb_policy'],
    ['endpoint without address', () => buildEndpoints({ cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: {} }] }] }), 'no socket address'],
    ['listener without address', () => buildListener({ name: 'l', filter_chains: [] }), 'no socket address'],
    ['listener without chains', () => buildListener({ name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 1 } } }), 'no filter chains'],
    ['rate limit without tokens', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': { '@type': 'x', token_bucket: { fill_interval: { seconds: 1 } } } } }] }] }), 'max_tokens'],
    ['fault abort without status', () => buildRouteTable({ name: 'x', virtual_hosts: [{ domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'x', abort: { percentage: { numerator: 1 } } } } }] }] }), 'http_status'],
    ['packed Any', () => buildListener({ name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 1 } }, filter_chains: [{ filters: [{ typed_config: { type_url: 'type.googleapis.com/x.HttpConnectionManager', value: new Uint8Array() } }] }] }), 'packed Any'],
  ];
  it.each(cases)('rejects %s with a specific error', (_name, fn, msg) => {
    let err: unknown;
    try { fn(); } catch (e) { err = e; }
    expect(isWeftError(err, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(msg);
  });
});

describe('clusters, endpoints and listeners', () => {
  it('builds an EDS cluster with Envoy defaults and overrides', () => {
    const c = buildCluster(edsCluster('c1', {
      lb_policy: 1,
      circuit_breakers: { thresholds: [{ max_connections: { value: 5 }, max_retries: { value: 1 } }] },
      outlier_detection: { consecutive_5xx: { value: 3 }, interval: { seconds: '2' } },
    }));
    expect(c).toMatchObject({
      name: 'c1', edsServiceName: 'c1', lbPolicy: 'least-request', connectTimeoutMs: 1000,
      circuitBreakers: { maxConnections: 5, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 1 },
      outlier: { consecutive5xx: 3, intervalMs: 2000, baseEjectionMs: 30000, maxEjectionPercent: 10 },
    });
  });

  it('builds endpoints with health and locality', () => {
    const eps = buildEndpoints(cla('c', [1, 2]));
    expect(eps).toHaveLength(2);
    expect(eps[0]).toMatchObject({ address: '127.0.0.1', port: 1, weight: 1, healthy: true, locality: 'r/z/' });
    const sick = buildEndpoints({ endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'a', port_value: 1 } } }, health_status: 'UNHEALTHY' }] }] });
    expect(sick[0]!.healthy).toBe(false);
  });

  it('builds HTTP and TCP listeners', () => {
    const h = buildListener(httpListener('l', 1, 'r'));
    expect(h.filterChains[0]!.filter).toMatchObject({ kind: 'http', rdsName: 'r', maxRequestHeadersKb: 60 });
    const t = buildListener(tcpListener('t', 2, 'c'));
    expect(t.filterChains[0]!.filter).toMatchObject({ kind: 'tcp', clusters: [{ name: 'c', weight: 1 }] });
  });
});
