// VirtualService HTTP routes -> Envoy RouteConfigurations. Sidecars get one per outbound
// port (named by the port, as Istio does); proxyless clients one per listener (host:port);
// gateways one per server port (http.<port>).
import type { Destination, HTTPMatchRequest, HTTPRoute, Headers, VirtualService } from '../../api/istio/types.js';
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { isHttpProtocol, labelsMatch, outboundClusterName, resolveHost, type MeshModel, type ProxyContext, type Service } from '../model.js';
import { PASSTHROUGH_CLUSTER, allowAnyOutbound, destinationRuleFor, effectivePolicy } from './clusters.js';
import { compact, fractionalPercent, parseDuration, stringMatcher } from './convert.js';
import { visibleServices } from './scope.js';
import { gatewayListenPorts } from './gateway-ports.js';

export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';

/** Istio's default retry policy, applied when a route says nothing about retries. */
const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
/** Istio's default retriable status codes: 503 only (pilot retry.DefaultPolicy). */
const DEFAULT_RETRIABLE_CODES = [503];

/**
 * Istio's retryOn: Envoy conditions and bare HTTP status codes mixed in one list. Codes move to
 * retriable_status_codes and switch on `retriable-status-codes`, as istiod's parseRetryOn does.
 */
export function parseRetryOn(retryOn: string | undefined): { retryOn: string; codes: number[] } {
  if (retryOn === undefined) return { retryOn: DEFAULT_RETRY_ON, codes: DEFAULT_RETRIABLE_CODES };
  const conditions: string[] = [];
  const codes: number[] = [];
  for (const part of retryOn.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (/^\d{3}$/.test(part)) codes.push(Number(part));
    else if (!conditions.includes(part)) conditions.push(part);
  }
  if (codes.length > 0 && !conditions.includes('retriable-status-codes')) conditions.push('retriable-status-codes');
  return { retryOn: conditions.join(','), codes };
}

const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT',
};

/** Where routes are being built for: a mesh sidecar/proxyless client, or a named gateway. */
export interface RouteContext {
  model: MeshModel;
  proxy: ProxyContext;
  /** "mesh" for sidecars and proxyless clients; "<ns>/<name>" for a gateway. */
  gateway: string;
  port: number;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** VirtualServices that apply to host in this context (bound to the gateway and exported). */
export function virtualServicesFor(ctx: RouteContext, host: string): VirtualService[] {
  return ctx.model.virtualServices
    .filter((vs) => {
      const ns = vs.metadata.namespace ?? 'default';
      const gateways = (vs.spec.gateways?.length ? vs.spec.gateways : ['mesh']).map((g) => (g === 'mesh' || g.includes('/') ? g : `${ns}/${g}`));
      if (!gateways.includes(ctx.gateway)) return false;
      const exportTo = vs.spec.exportTo ?? ['*'];
      if (!exportTo.some((e) => e === '*' || (e === '.' && ns === ctx.proxy.namespace) || e === ctx.proxy.namespace)) return false;
      return (vs.spec.hosts ?? []).some((h) => hostMatches(resolveHost(h, ns, ctx.model.domain), host));
    })
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
}

function destinationCluster(ctx: RouteContext, d: Destination, vsNamespace: string): string {
  const host = resolveHost(d.host, vsNamespace, ctx.model.domain);
  let port = d.port?.number;
  if (port === undefined) {
    const svc = ctx.model.services.find((s) => s.hostname === host);
    port = svc?.ports.length === 1 ? svc.ports[0]!.port : ctx.port;
  }
  return outboundClusterName(port, d.subset ?? '', host);
}

function headerOps(h: Headers | undefined, which: 'request' | 'response'): Record<string, unknown> {
  const ops = h?.[which];
  if (!ops) return {};
  const add = [
    ...Object.entries(ops.set ?? {}).map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...Object.entries(ops.add ?? {}).map(([key, value]) => ({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
  return compact({
    [`${which}_headers_to_add`]: add.length ? add : undefined,
    [`${which}_headers_to_remove`]: ops.remove?.length ? ops.remove : undefined,
  });
}

function routeMatch(m: HTTPMatchRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.uri?.exact !== undefined) out['path'] = m.uri.exact;
  else if (m.uri?.prefix !== undefined) out['prefix'] = m.uri.prefix;
  else if (m.uri?.regex !== undefined) out['safe_regex'] = { regex: m.uri.regex };
  else out['prefix'] = '/';
  if (m.ignoreUriCase) out['case_sensitive'] = { value: false };
  const headers: Record<string, unknown>[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) headers.push({ name, string_match: stringMatcher(sm) });
  if (m.method) headers.push({ name: ':method', string_match: stringMatcher(m.method) });
  if (m.authority) headers.push({ name: ':authority', string_match: stringMatcher(m.authority) });
  if (m.scheme) headers.push({ name: ':scheme', string_match: stringMatcher(m.scheme) });
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    headers.push(sm.exact === undefined && sm.prefix === undefined && sm.regex === undefined ? { name, present_match: false } : { name, string_match: stringMatcher(sm), invert_match: true });
  }
  if (headers.length) out['headers'] = headers;
  const qp = Object.entries(m.queryParams ?? {}).map(([name, sm]) => ({ name, string_match: stringMatcher(sm) }));
  if (qp.length) out['query_parameters'] = qp;
  return out;
}

function hashPolicy(ctx: RouteContext, host: string, subset: string | undefined, port: number): Record<string, unknown>[] | undefined {
  const ch = effectivePolicy(destinationRuleFor(ctx.model, host, ctx.proxy.namespace), port, subset).loadBalancer?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) return [{ cookie: compact({ name: ch.httpCookie.name, path: ch.httpCookie.path, ttl: parseDuration(ch.httpCookie.ttl) }) }];
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return undefined;
}

function routeAction(ctx: RouteContext, r: HTTPRoute, vsNs: string): Record<string, unknown> {
  const dests = r.route ?? [];
  const action: Record<string, unknown> = {};
  if (dests.length === 1 && !dests[0]!.headers) {
    action['cluster'] = destinationCluster(ctx, dests[0]!.destination, vsNs);
  } else {
    action['weighted_clusters'] = {
      clusters: dests.map((d) => ({
        name: destinationCluster(ctx, d.destination, vsNs),
        weight: { value: d.weight ?? (dests.length === 1 ? 100 : 0) },
        ...headerOps(d.headers, 'request'),
        ...headerOps(d.headers, 'response'),
      })),
    };
  }
  // Istio's default is no timeout (Envoy's would be 15 s).
  action['timeout'] = parseDuration(r.timeout) ?? {};
  if (r.rewrite?.uri !== undefined) action['prefix_rewrite'] = r.rewrite.uri;
  if (r.rewrite?.uriRegexRewrite) action['regex_rewrite'] = { pattern: { regex: r.rewrite.uriRegexRewrite.match ?? '' }, substitution: r.rewrite.uriRegexRewrite.rewrite ?? '' };
  if (r.rewrite?.authority !== undefined) action['host_rewrite_literal'] = r.rewrite.authority;
  const attempts = r.retries?.attempts ?? 2;
  if (attempts > 0) {
    const on = parseRetryOn(r.retries?.retryOn);
    action['retry_policy'] = compact({
      retry_on: on.retryOn,
      retriable_status_codes: on.codes.length > 0 ? on.codes : undefined,
      num_retries: { value: attempts },
      per_try_timeout: parseDuration(r.retries?.perTryTimeout),
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
      host_selection_retry_max_attempts: 5,
    });
  }
  if (r.mirror) {
    action['request_mirror_policies'] = [
      { cluster: destinationCluster(ctx, r.mirror, vsNs), runtime_fraction: { default_value: fractionalPercent(r.mirrorPercentage?.value) } },
    ];
  }
  if (dests.length === 1) {
    const d = dests[0]!.destination;
    const hp = hashPolicy(ctx, resolveHost(d.host, vsNs, ctx.model.domain), d.subset, d.port?.number ?? ctx.port);
    if (hp) action['hash_policy'] = hp;
  }
  return action;
}

function perFilterConfig(ctx: RouteContext, r: HTTPRoute): Record<string, unknown> | undefined {
  const cfg: Record<string, unknown> = {};
  if (r.fault) {
    const f: Record<string, unknown> = { '@type': TYPE_URLS.fault };
    if (r.fault.delay) {
      const pct = r.fault.delay.percentage?.value ?? r.fault.delay.percent;
      f['delay'] = { fixed_delay: parseDuration(r.fault.delay.fixedDelay) ?? {}, percentage: fractionalPercent(pct) };
    }
    if (r.fault.abort) {
      const a = r.fault.abort;
      f['abort'] = compact({
        http_status: a.httpStatus,
        grpc_status: a.grpcStatus !== undefined ? GRPC_CODES[a.grpcStatus] ?? 2 : undefined,
        percentage: fractionalPercent(a.percentage?.value),
      });
    }
    cfg[FAULT_FILTER] = f;
  }
  if (r.corsPolicy && ctx.proxy.flavour !== 'proxyless') {
    const c = r.corsPolicy;
    cfg[CORS_FILTER] = compact({
      '@type': TYPE_URLS.corsPolicy,
      allow_origin_string_match: c.allowOrigins?.map((o) => stringMatcher(o)),
      allow_methods: c.allowMethods?.join(','),
      allow_headers: c.allowHeaders?.join(','),
      expose_headers: c.exposeHeaders?.join(','),
      max_age: c.maxAge ? String(parseDuration(c.maxAge)?.seconds ?? 0) : undefined,
      allow_credentials: c.allowCredentials !== undefined ? { value: c.allowCredentials } : undefined,
    });
  }
  return Object.keys(cfg).length ? cfg : undefined;
}

function matchApplies(ctx: RouteContext, m: HTTPMatchRequest): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && (ctx.gateway !== 'mesh' || !labelsMatch(m.sourceLabels, ctx.proxy.labels))) return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.proxy.namespace) return false;
  if (m.gateways?.length && !m.gateways.includes(ctx.gateway) && !m.gateways.some((g) => ctx.gateway.endsWith(`/${g}`))) return false;
  return true;
}

/** Envoy routes for one VirtualService HTTP section, in order. */
export function translateHttpRoutes(ctx: RouteContext, vs: VirtualService): EnvoyResource[] {
  const ns = vs.metadata.namespace ?? 'default';
  const out: EnvoyResource[] = [];
  (vs.spec.http ?? []).forEach((r, i) => {
    const matches = r.match?.length ? r.match.filter((m) => matchApplies(ctx, m)) : [{}];
    const name = r.name ?? `${ns}/${vs.metadata.name ?? ''}.${i}`;
    for (const m of matches) {
      const route: EnvoyResource = { name, match: routeMatch(m) };
      if (r.redirect) {
        const rd = r.redirect;
        route['redirect'] = compact({
          path_redirect: rd.uri,
          host_redirect: rd.authority,
          port_redirect: rd.port,
          scheme_redirect: rd.scheme,
          response_code: rd.redirectCode ? REDIRECT_CODES[rd.redirectCode] : undefined,
        });
      } else if (r.directResponse) {
        route['direct_response'] = compact({
          status: r.directResponse.status,
          body: r.directResponse.body?.string !== undefined ? { inline_string: r.directResponse.body.string } : undefined,
        });
      } else {
        route['route'] = routeAction(ctx, r, ns);
      }
      Object.assign(route, headerOps(r.headers, 'request'), headerOps(r.headers, 'response'));
      const pf = perFilterConfig(ctx, r);
      if (pf) route['typed_per_filter_config'] = pf;
      out.push(route);
    }
  });
  return out;
}

function defaultRoute(svc: Service, port: number): EnvoyResource {
  return {
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster: outboundClusterName(port, '', svc.hostname),
      timeout: {},
      retry_policy: {
        retry_on: DEFAULT_RETRY_ON,
        retriable_status_codes: DEFAULT_RETRIABLE_CODES,
        num_retries: { value: 2 },
        retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
        host_selection_retry_max_attempts: 5,
      },
    },
  };
}

/** Names a client may use for a service: FQDN, short forms in its namespace, ClusterIP. */
export function serviceDomains(svc: Service, port: number, proxyNamespace: string, domain: string): string[] {
  const hosts = [svc.hostname];
  if (svc.hostname.endsWith(`.svc.${domain}`)) {
    hosts.push(`${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}`);
    if (svc.namespace === proxyNamespace) hosts.push(svc.name);
  }
  hosts.push(...svc.addresses);
  return hosts.flatMap((h) => [h, `${h}:${port}`]);
}

function virtualHost(ctx: RouteContext, svc: Service, domains: string[]): EnvoyResource {
  const vss = virtualServicesFor(ctx, svc.hostname);
  const routes = vss.flatMap((vs) => translateHttpRoutes(ctx, vs));
  // The first VirtualService's routes apply; if none matches we still route to the service.
  if (!routes.some((r) => isCatchAll(r))) routes.push(defaultRoute(svc, ctx.port));
  return { name: `${svc.hostname}:${ctx.port}`, domains, routes };
}

function isCatchAll(r: EnvoyResource): boolean {
  const m = r['match'] as Record<string, unknown>;
  return m['prefix'] === '/' && !m['headers'] && !m['query_parameters'] && !m['case_sensitive'];
}

/** Sidecar: one RouteConfiguration per HTTP port. Proxyless: one per host:port listener. */
export function buildRoutes(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const services = visibleServices(model, proxy);
  if (proxy.flavour === 'gateway') return gatewayRoutes(model, proxy);
  if (proxy.flavour === 'proxyless') {
    const out: EnvoyResource[] = [];
    for (const svc of services) {
      for (const p of svc.ports.filter((pp) => isHttpProtocol(pp.protocol))) {
        const ctx: RouteContext = { model, proxy, gateway: 'mesh', port: p.port };
        for (const name of proxylessListenerNames(svc, p.port)) {
          out.push({ name, virtual_hosts: [virtualHost(ctx, svc, [name])] });
        }
      }
    }
    return out;
  }
  const ports = new Map<number, Service[]>();
  for (const svc of services) {
    for (const p of svc.ports) {
      if (!isHttpProtocol(p.protocol)) continue;
      const list = ports.get(p.port) ?? [];
      list.push(svc);
      ports.set(p.port, list);
    }
  }
  return [...ports.keys()].sort((a, b) => a - b).map((port) => {
    const ctx: RouteContext = { model, proxy, gateway: 'mesh', port };
    const vhosts = ports.get(port)!.map((svc) => virtualHost(ctx, svc, serviceDomains(svc, port, proxy.namespace, model.domain)));
    vhosts.push(catchAllVirtualHost(model));
    return { name: String(port), virtual_hosts: vhosts, validate_clusters: { value: false } };
  });
}

/**
 * The sidecar's `*` virtual host for hosts the registry does not know: Istio's allow_any
 * (PassthroughCluster) under ALLOW_ANY, and block_all (a local 502) under REGISTRY_ONLY.
 */
export function catchAllVirtualHost(model: MeshModel): EnvoyResource {
  return allowAnyOutbound(model)
    ? { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: PASSTHROUGH_CLUSTER, timeout: {} } }] }
    : { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] };
}

/** Listener (and route config) names for a proxyless client: host:port, and host for the first port. */
export function proxylessListenerNames(svc: Service, port: number): string[] {
  const names = [`${svc.hostname}:${port}`];
  const firstHttp = svc.ports.find((p) => isHttpProtocol(p.protocol));
  if (firstHttp?.port === port) names.push(svc.hostname);
  return names;
}

/** Gateway: RouteConfiguration http.<port> with a virtual host per server host. */
/** One route table per gateway listen port (`http.<port>`); VirtualService port matches see the server's own number. */
function gatewayRoutes(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const listenPort = gatewayListenPorts(model, proxy);
  const byPort = new Map<number, { gateway: string; serverPort: number; hosts: string[]; httpsRedirect: boolean }[]>();
  for (const g of model.gateways) {
    if (!g.spec.selector || !labelsMatch(g.spec.selector, proxy.labels)) continue;
    for (const s of g.spec.servers ?? []) {
      if (s.tls?.mode === 'PASSTHROUGH' || s.tls?.mode === 'AUTO_PASSTHROUGH') continue;
      const proto = s.port.protocol.toUpperCase();
      if (proto === 'TCP' || proto === 'TLS') continue;
      const port = listenPort(s.port.number);
      const list = byPort.get(port) ?? [];
      list.push({
        gateway: `${g.metadata.namespace ?? 'default'}/${g.metadata.name ?? ''}`, serverPort: s.port.number,
        hosts: s.hosts.map((h) => h.replace(/^[^/]*\//, '')), httpsRedirect: s.tls?.httpsRedirect ?? false,
      });
      byPort.set(port, list);
    }
  }
  const out: EnvoyResource[] = [];
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const vhosts: EnvoyResource[] = [];
    for (const srv of byPort.get(port)!) {
      const ctx: RouteContext = { model, proxy, gateway: srv.gateway, port: srv.serverPort };
      const vss = model.virtualServices.filter((vs) => (vs.spec.gateways ?? []).some((g) => (g.includes('/') ? g : `${vs.metadata.namespace ?? 'default'}/${g}`) === srv.gateway));
      for (const vs of vss) {
        for (const h of vs.spec.hosts ?? []) {
          if (!srv.hosts.some((sh) => hostMatches(sh, h) || hostMatches(h, sh))) continue;
          if (vhosts.some((v) => v['name'] === `${h}:${srv.serverPort}`)) continue;
          // Istio's hosts: ["*"] (bookinfo-gateway) is the catch-all domain itself ("*:*" is not a valid Envoy domain).
          const vh: EnvoyResource = { name: `${h}:${srv.serverPort}`, domains: h === '*' ? ['*'] : [h, `${h}:*`], routes: translateHttpRoutes(ctx, vs) };
          if (srv.httpsRedirect) vh['require_tls'] = 'ALL';
          vhosts.push(vh);
        }
      }
    }
    // Unmatched hosts get 404, unless a VirtualService already took the catch-all.
    if (!vhosts.some((v) => (v['domains'] as string[]).includes('*'))) {
      vhosts.push({ name: 'blackhole', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, direct_response: { status: 404 } }] });
    }
    out.push({ name: `http.${port}`, virtual_hosts: vhosts, validate_clusters: { value: false } });
  }
  return out;
}
