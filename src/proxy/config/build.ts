// Pure translation from Envoy v3 resources (snake_case objects) to the proxy's routing model.
// Throws INVALID_CONFIG WeftErrors with the offending field, which the xDS client turns
// into a NACK error_detail.
import type {
  AnyLike, ClusterLoadAssignmentShape, ClusterShape, FilterChainShape, HeaderMatcher, HeaderValueOption,
  HttpConnectionManagerShape, ListenerShape, RetryPolicyShape, RouteActionShape, RouteConfigurationShape, RouteShape,
  TcpProxyShape, ThresholdsShape, TransportSocketShape, CommonTlsContextShape, VirtualHostShape, RedirectActionShape,
} from './envoy-shapes.js';
import {
  anyTypeName, bool, durationMs, enumName, fullRegex, int64, invalidConfig, stringMatch, u32,
} from './convert.js';
import {
  compileNetworkRbacFilter, compileRbacFilter, HTTP_RBAC_TYPE, NETWORK_RBAC_TYPE, type HttpRbacShape, type NetworkRbacShape, type RbacFilter,
} from '../authz/index.js';
import { compileJwtAuthnFilter, JWT_AUTHN_TYPE, type JwtAuthenticationShape, type JwtAuthnFilter } from '../authn/index.js';
import {
  ENVOY_DEFAULTS, type Cluster, type DownstreamTls, type Endpoint, type FaultPolicy, type FilterChain, type ForwardAction, type HashPolicy,
  type HeaderAdd, type HeaderMatch, type HeaderMutations, type LbPolicy, type Listener, type NetworkFilter, type PathMatch,
  type QueryMatch, type RedirectAction, type RetryBudget, type RetryCondition, type RetryPolicy, type Route, type RouteTable, type UpstreamTls,
  type VirtualHost,
} from './model.js';

/** Turns an Any into its message fields. The default accepts only already-decoded Anys. */
export type AnyUnpacker = (a: AnyLike) => Record<string, unknown>;

export const decodedAnyOnly: AnyUnpacker = (a) => {
  if (a['@type'] !== undefined) return a;
  throw invalidConfig('packed Any needs a decoder', { typeUrl: a.type_url });
};

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'];
const REDIRECT_CODES: Record<string, number> = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
};
const REDIRECT_NAMES = Object.keys(REDIRECT_CODES);
const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };
const DENOMINATOR_NAMES = Object.keys(DENOMINATORS);
const CLUSTER_TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'];
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH', 'RANDOM', '', 'MAGLEV', 'CLUSTER_PROVIDED', 'LOAD_BALANCING_POLICY_CONFIG'];
const HEALTH = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'];
const RETRY_CONDITIONS: ReadonlySet<string> = new Set<RetryCondition>([
  '5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-status-codes', 'refused-stream', 'retriable-4xx',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

// ---------- routes ----------

function headerAdds(opts: HeaderValueOption[] | undefined, field: string): HeaderAdd[] {
  return (opts ?? []).map((o, i) => {
    const name = o.header?.key?.toLowerCase();
    if (!name) throw invalidConfig('header to add has no key', { field: `${field}[${i}]` });
    let mode: HeaderAdd['mode'];
    if (o.append_action !== undefined) {
      const a = enumName(o.append_action, APPEND_ACTIONS);
      mode = a === 'ADD_IF_ABSENT' ? 'add-if-absent' : a === 'OVERWRITE_IF_EXISTS_OR_ADD' ? 'overwrite'
        : a === 'OVERWRITE_IF_EXISTS' ? 'overwrite-if-exists' : 'append';
    } else {
      // The deprecated `append` wrapper defaults to true.
      mode = bool(o.append, true) ? 'append' : 'overwrite';
    }
    return { name, value: o.header?.value ?? '', mode };
  });
}

function mutations(
  s: { request_headers_to_add?: HeaderValueOption[]; request_headers_to_remove?: string[];
       response_headers_to_add?: HeaderValueOption[]; response_headers_to_remove?: string[] },
  field: string,
): HeaderMutations {
  return {
    requestAdd: headerAdds(s.request_headers_to_add, `${field}.request_headers_to_add`),
    requestRemove: (s.request_headers_to_remove ?? []).map((h) => h.toLowerCase()),
    responseAdd: headerAdds(s.response_headers_to_add, `${field}.response_headers_to_add`),
    responseRemove: (s.response_headers_to_remove ?? []).map((h) => h.toLowerCase()),
  };
}

export function headerMatch(h: HeaderMatcher, field: string): HeaderMatch {
  const name = h.name?.toLowerCase();
  if (!name) throw invalidConfig('header matcher has no name', { field });
  const invert = h.invert_match === true;
  const cs = (kind: 'exact' | 'prefix' | 'suffix' | 'contains', value: string): HeaderMatch =>
    ({ name, invert, match: { kind, value, ignoreCase: false } });
  if (h.exact_match !== undefined) return cs('exact', h.exact_match);
  if (h.prefix_match !== undefined) return cs('prefix', h.prefix_match);
  if (h.suffix_match !== undefined) return cs('suffix', h.suffix_match);
  if (h.contains_match !== undefined) return cs('contains', h.contains_match);
  if (h.safe_regex_match !== undefined) {
    return { name, invert, match: { kind: 'regex', re: fullRegex(h.safe_regex_match.regex, `${field}.safe_regex_match`) } };
  }
  if (h.string_match !== undefined) return { name, invert, match: stringMatch(h.string_match, `${field}.string_match`) };
  if (h.range_match !== undefined) {
    return { name, invert, match: { kind: 'range', start: int64(h.range_match.start), end: int64(h.range_match.end) } };
  }
  // present_match, or no specifier at all, means "header is present" (Envoy semantics).
  return { name, invert, match: { kind: 'present', present: h.present_match ?? true } };
}

function pathMatch(r: RouteShape, field: string): PathMatch {
  const m = r.match ?? {};
  const caseSensitive = bool(m.case_sensitive, true);
  if (m.prefix !== undefined) return { kind: 'prefix', value: caseSensitive ? m.prefix : m.prefix.toLowerCase(), caseSensitive };
  if (m.path !== undefined) return { kind: 'exact', value: caseSensitive ? m.path : m.path.toLowerCase(), caseSensitive };
  if (m.path_separated_prefix !== undefined) {
    const v = m.path_separated_prefix;
    return { kind: 'separated-prefix', value: caseSensitive ? v : v.toLowerCase(), caseSensitive };
  }
  if (m.safe_regex !== undefined) return { kind: 'regex', re: fullRegex(m.safe_regex.regex, `${field}.match.safe_regex`) };
  throw invalidConfig('route match has no path specifier', { field: `${field}.match` });
}

export function buildRetryPolicy(p: RetryPolicyShape | undefined, field: string): RetryPolicy | undefined {
  if (!p || !p.retry_on) return undefined;
  const retryOn = new Set<RetryCondition>();
  for (const raw of p.retry_on.split(',')) {
    const c = raw.trim();
    if (!c) continue;
    if (!RETRY_CONDITIONS.has(c)) throw invalidConfig('unknown retry_on condition', { field: `${field}.retry_on`, condition: c });
    retryOn.add(c as RetryCondition);
  }
  const codes = new Set(p.retriable_status_codes ?? []);
  return {
    retryOn,
    numRetries: u32(p.num_retries, 1),
    perTryTimeoutMs: durationMs(p.per_try_timeout) ?? 0,
    retriableStatusCodes: codes,
    avoidPreviousHosts: (p.retry_host_predicate ?? []).some((h) => h.name === 'envoy.retry_host_predicates.previous_hosts'),
    hostSelectionMaxAttempts: Math.max(1, int64(p.host_selection_retry_max_attempts) || 1),
    backoffBaseMs: durationMs(p.retry_back_off?.base_interval) ?? ENVOY_DEFAULTS.retryBackoffBaseMs,
    backoffMaxMs: durationMs(p.retry_back_off?.max_interval)
      ?? 10 * (durationMs(p.retry_back_off?.base_interval) ?? ENVOY_DEFAULTS.retryBackoffBaseMs),
  };
}

function fraction(f: { default_value?: { numerator?: number; denominator?: string | number } } | undefined): number {
  if (!f?.default_value) return 1;
  const den = DENOMINATORS[enumName(f.default_value.denominator, DENOMINATOR_NAMES)] ?? 100;
  return Math.min(1, (f.default_value.numerator ?? 0) / den);
}

function forwardAction(a: RouteActionShape, vhostRetry: RetryPolicy | undefined, field: string): ForwardAction {
  let clusters: { name: string; weight: number }[];
  if (a.cluster) clusters = [{ name: a.cluster, weight: 1 }];
  else if (a.weighted_clusters) {
    clusters = (a.weighted_clusters.clusters ?? []).map((c, i) => {
      if (!c.name) throw invalidConfig('weighted cluster has no name', { field: `${field}.route.weighted_clusters.clusters[${i}]` });
      return { name: c.name, weight: u32(c.weight, 0) };
    });
    if (clusters.length === 0) throw invalidConfig('weighted_clusters is empty', { field: `${field}.route.weighted_clusters` });
  } else {
    throw invalidConfig('route action names no cluster', { field: `${field}.route` });
  }
  const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
  if (totalWeight <= 0) throw invalidConfig('weighted clusters total weight is 0', { field: `${field}.route.weighted_clusters` });
  const hashPolicy: HashPolicy[] = [];
  for (const h of a.hash_policy ?? []) {
    if (h.header?.header_name) hashPolicy.push({ kind: 'header', name: h.header.header_name.toLowerCase() });
    else if (h.cookie?.name) hashPolicy.push({ kind: 'cookie', name: h.cookie.name });
    else if (h.connection_properties?.source_ip) hashPolicy.push({ kind: 'source-ip' });
  }
  const out: ForwardAction = {
    kind: 'forward',
    clusters,
    totalWeight,
    timeoutMs: durationMs(a.timeout) ?? ENVOY_DEFAULTS.routeTimeoutMs,
    retry: buildRetryPolicy(a.retry_policy, `${field}.route.retry_policy`) ?? vhostRetry,
    mirrors: (a.request_mirror_policies ?? []).filter((m) => m.cluster).map((m) => ({
      cluster: m.cluster as string, fraction: fraction(m.runtime_fraction),
    })),
    hashPolicy,
  };
  if (a.prefix_rewrite !== undefined) out.prefixRewrite = a.prefix_rewrite;
  if (a.regex_rewrite?.pattern) {
    const re = fullRegex(a.regex_rewrite.pattern.regex, `${field}.route.regex_rewrite.pattern`);
    // Rewrites replace every match, so drop the anchors and go global.
    out.regexRewrite = { re: new RegExp(re.source.slice(4, -2), 'g'), substitution: (a.regex_rewrite.substitution ?? '').replace(/\\(\d)/g, '$$$1') };
  }
  if (a.host_rewrite_literal) out.hostRewrite = a.host_rewrite_literal;
  return out;
}

function redirectAction(r: RedirectActionShape): RedirectAction {
  const out: RedirectAction = {
    kind: 'redirect',
    status: REDIRECT_CODES[enumName(r.response_code, REDIRECT_NAMES)] ?? 301,
    stripQuery: r.strip_query === true,
  };
  if (r.https_redirect) out.scheme = 'https';
  else if (r.scheme_redirect) out.scheme = r.scheme_redirect;
  if (r.host_redirect) out.host = r.host_redirect;
  if (r.port_redirect) out.port = r.port_redirect;
  if (r.path_redirect) out.path = r.path_redirect;
  if (r.prefix_rewrite !== undefined) out.prefixRewrite = r.prefix_rewrite;
  return out;
}

interface HttpFaultShape {
  delay?: { fixed_delay?: { seconds?: number | string; nanos?: number }; percentage?: { numerator?: number; denominator?: string | number } };
  abort?: { http_status?: number; grpc_status?: number; percentage?: { numerator?: number; denominator?: string | number } };
}

function faultPolicy(r: RouteShape, field: string): FaultPolicy | undefined {
  const any = r.typed_per_filter_config?.['envoy.filters.http.fault'];
  if (!any) return undefined;
  const f = any as unknown as HttpFaultShape;
  const out: FaultPolicy = {};
  if (f.delay) {
    const ms = durationMs(f.delay.fixed_delay);
    if (ms === undefined) throw invalidConfig('fault delay needs fixed_delay', { field: `${field}.typed_per_filter_config.fault.delay` });
    out.delay = { ms, fraction: fraction({ default_value: f.delay.percentage ?? { numerator: 100 } }) };
  }
  if (f.abort) {
    const status = f.abort.http_status ?? (f.abort.grpc_status !== undefined ? 200 : undefined);
    if (status === undefined || status < 200 || status > 599) {
      throw invalidConfig('fault abort needs an http_status in 200-599', { field: `${field}.typed_per_filter_config.fault.abort`, status });
    }
    out.abort = { status, fraction: fraction({ default_value: f.abort.percentage ?? { numerator: 100 } }), ...(f.abort.grpc_status !== undefined ? { grpcStatus: f.abort.grpc_status } : {}) };
  }
  return out;
}

interface LocalRateLimitShape {
  token_bucket?: { max_tokens?: number; tokens_per_fill?: { value?: number }; fill_interval?: { seconds?: number | string; nanos?: number } };
}

function localRateLimit(r: RouteShape, field: string): Route['rateLimit'] {
  const any = r.typed_per_filter_config?.['envoy.filters.http.local_ratelimit'];
  if (!any) return undefined;
  const tb = (any as unknown as LocalRateLimitShape).token_bucket;
  const f = `${field}.typed_per_filter_config.local_ratelimit.token_bucket`;
  if (!tb?.max_tokens) throw invalidConfig('local rate limit needs token_bucket.max_tokens > 0', { field: f });
  const fillIntervalMs = durationMs(tb.fill_interval) ?? 0;
  if (fillIntervalMs < 50) throw invalidConfig('token_bucket.fill_interval must be at least 50ms', { field: f });
  return { maxTokens: tb.max_tokens, tokensPerFill: u32(tb.tokens_per_fill, 1), fillIntervalMs };
}

function buildRoute(r: RouteShape, vhostRetry: RetryPolicy | undefined, field: string): Route {
  const headers = (r.match?.headers ?? []).map((h, i) => headerMatch(h, `${field}.match.headers[${i}]`));
  const query: QueryMatch[] = (r.match?.query_parameters ?? []).map((q, i) => {
    if (!q.name) throw invalidConfig('query parameter matcher has no name', { field: `${field}.match.query_parameters[${i}]` });
    return q.string_match
      ? { name: q.name, match: stringMatch(q.string_match, `${field}.match.query_parameters[${i}].string_match`) }
      : { name: q.name, match: { kind: 'present' as const } };
  });
  let action: Route['action'];
  if (r.route) action = forwardAction(r.route, vhostRetry, field);
  else if (r.redirect) action = redirectAction(r.redirect);
  else if (r.direct_response) action = { kind: 'direct', status: r.direct_response.status ?? 200, body: r.direct_response.body?.inline_string ?? '' };
  else throw invalidConfig('route has no action (route, redirect or direct_response)', { field });
  const fault = faultPolicy(r, field);
  const rateLimit = localRateLimit(r, field);
  return {
    name: r.name ?? '', match: { path: pathMatch(r, field), headers, query }, action, headers: mutations(r, field),
    ...(fault ? { fault } : {}), ...(rateLimit ? { rateLimit } : {}),
  };
}

function buildVirtualHost(v: VirtualHostShape, field: string): VirtualHost {
  const retry = buildRetryPolicy(v.retry_policy, `${field}.retry_policy`);
  return {
    name: v.name ?? '',
    domains: (v.domains ?? []).map((d) => d.toLowerCase()),
    routes: (v.routes ?? []).map((r, i) => buildRoute(r, retry, `${field}.routes[${i}]`)),
    headers: mutations(v, field),
    ...(retry ? { retry } : {}),
  };
}

export function buildRouteTable(rc: RouteConfigurationShape): RouteTable {
  const name = rc.name ?? '';
  const field = `RouteConfiguration(${name})`;
  const table: RouteTable = {
    name, exact: new Map(), suffix: [], prefix: [], virtualHosts: [], headers: mutations(rc, field),
  };
  (rc.virtual_hosts ?? []).forEach((vs, i) => {
    const vh = buildVirtualHost(vs, `${field}.virtual_hosts[${i}]`);
    table.virtualHosts.push(vh);
    for (const d of vh.domains) {
      const dup = (): never => { throw invalidConfig('domain appears in more than one virtual host', { field, domain: d }); };
      if (d === '*') { if (table.wildcard) dup(); table.wildcard = vh; }
      else if (d.startsWith('*')) { if (table.suffix.some((s) => s.suffix === d.slice(1))) dup(); table.suffix.push({ suffix: d.slice(1), vhost: vh }); }
      else if (d.endsWith('*')) { if (table.prefix.some((s) => s.prefix === d.slice(0, -1))) dup(); table.prefix.push({ prefix: d.slice(0, -1), vhost: vh }); }
      else { if (table.exact.has(d)) dup(); table.exact.set(d, vh); }
    }
  });
  table.suffix.sort((a, b) => b.suffix.length - a.suffix.length);
  table.prefix.sort((a, b) => b.prefix.length - a.prefix.length);
  return table;
}

// ---------- clusters and endpoints ----------

function commonTlsSans(c: CommonTlsContextShape | undefined): string[] {
  const ctx = c?.combined_validation_context?.default_validation_context ?? c?.validation_context;
  const out: string[] = [];
  for (const m of ctx?.match_subject_alt_names ?? []) if (m.exact) out.push(m.exact);
  for (const m of ctx?.match_typed_subject_alt_names ?? []) if (m.matcher?.exact) out.push(m.matcher.exact);
  return out;
}

function upstreamTls(ts: TransportSocketShape | undefined, unpack: AnyUnpacker): UpstreamTls | undefined {
  if (!ts?.typed_config || !anyTypeName(ts.typed_config).endsWith('UpstreamTlsContext')) return undefined;
  const u = unpack(ts.typed_config) as { sni?: string; common_tls_context?: CommonTlsContextShape };
  return {
    ...(u.sni ? { sni: u.sni } : {}),
    expectedSans: commonTlsSans(u.common_tls_context),
    alpn: u.common_tls_context?.alpn_protocols ?? [],
  };
}

export function buildEndpoints(cla: ClusterLoadAssignmentShape): Endpoint[] {
  const out: Endpoint[] = [];
  (cla.endpoints ?? []).forEach((loc, i) => {
    const priority = loc.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > 127) {
      throw invalidConfig('locality priority must be an integer in [0, 127]', {
        field: `ClusterLoadAssignment(${cla.cluster_name ?? ''}).endpoints[${i}].priority`, value: priority,
      });
    }
    const locality = `${loc.locality?.region ?? ''}/${loc.locality?.zone ?? ''}/${loc.locality?.sub_zone ?? ''}`;
    (loc.lb_endpoints ?? []).forEach((e, j) => {
      const sa = e.endpoint?.address?.socket_address;
      if (!sa?.address || !sa.port_value) {
        throw invalidConfig('endpoint has no socket address', {
          field: `ClusterLoadAssignment(${cla.cluster_name ?? ''}).endpoints[${i}].lb_endpoints[${j}]`,
        });
      }
      const health = enumName(e.health_status, HEALTH);
      out.push({
        address: sa.address, port: sa.port_value, weight: u32(e.load_balancing_weight, 1),
        healthy: health === 'UNKNOWN' || health === 'HEALTHY' || health === 'DEGRADED',
        locality, priority: loc.priority ?? 0,
        ...(loc.load_balancing_weight?.value !== undefined ? { localityWeight: loc.load_balancing_weight.value } : {}),
      });
    });
  });
  return out;
}

function retryBudget(b: NonNullable<ThresholdsShape['retry_budget']>, field: string): RetryBudget {
  const pct = b.budget_percent?.value ?? ENVOY_DEFAULTS.retryBudgetPercent;
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) {
    throw invalidConfig('retry_budget.budget_percent must be a number in [0, 100]', { field: `${field}.budget_percent`, value: pct });
  }
  return { budgetPercent: pct, minRetryConcurrency: u32(b.min_retry_concurrency, ENVOY_DEFAULTS.retryBudgetMinConcurrency) };
}

export function buildCluster(c: ClusterShape, unpack: AnyUnpacker = decodedAnyOnly): Cluster {
  const name = c.name;
  if (!name) throw invalidConfig('cluster has no name', { field: 'Cluster.name' });
  const type = enumName(c.type, CLUSTER_TYPES);
  const lbName = enumName(c.lb_policy, LB_POLICIES);
  const lbMap: Record<string, LbPolicy> = {
    ROUND_ROBIN: 'round-robin', LEAST_REQUEST: 'least-request', RANDOM: 'random', RING_HASH: 'ring-hash', MAGLEV: 'ring-hash',
  };
  // ORIGINAL_DST + CLUSTER_PROVIDED (Istio's PassthroughCluster): the cluster picks the host
  // itself, so the lb_policy is moot. Accepted so one passthrough cluster never NACKs all of CDS.
  const lbPolicy = lbMap[lbName] ?? (type === 'ORIGINAL_DST' && lbName === 'CLUSTER_PROVIDED' ? 'round-robin' : undefined);
  if (!lbPolicy) throw invalidConfig('unsupported lb_policy', { field: `Cluster(${name}).lb_policy`, value: lbName });
  const t = (c.circuit_breakers?.thresholds ?? []).find((x) => enumName(x.priority, ['DEFAULT', 'HIGH']) === 'DEFAULT');
  const d = ENVOY_DEFAULTS.circuitBreakers;
  const od = c.outlier_detection;
  const httpOpts = c.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  let http2 = c.http2_protocol_options !== undefined;
  if (httpOpts) {
    const o = unpack(httpOpts) as { explicit_http_config?: { http2_protocol_options?: unknown }; use_downstream_protocol_config?: unknown };
    http2 ||= o.explicit_http_config?.http2_protocol_options !== undefined;
  }
  const cluster: Cluster = {
    name,
    connectTimeoutMs: durationMs(c.connect_timeout) ?? ENVOY_DEFAULTS.connectTimeoutMs,
    lbPolicy,
    circuitBreakers: {
      maxConnections: u32(t?.max_connections, d.maxConnections),
      maxPendingRequests: u32(t?.max_pending_requests, d.maxPendingRequests),
      maxRequests: u32(t?.max_requests, d.maxRequests),
      maxRetries: u32(t?.max_retries, d.maxRetries),
      ...(t?.retry_budget ? { retryBudget: retryBudget(t.retry_budget, `Cluster(${name}).circuit_breakers.thresholds.retry_budget`) } : {}),
    },
    http2,
  };
  if (od) {
    cluster.outlier = {
      consecutive5xx: u32(od.enforcing_consecutive_5xx, 100) === 0 ? 0 : u32(od.consecutive_5xx, ENVOY_DEFAULTS.outlierConsecutive5xx),
      consecutiveGatewayFailure: u32(od.enforcing_consecutive_gateway_failure, 0) === 0 ? 0 : u32(od.consecutive_gateway_failure, 5),
      intervalMs: durationMs(od.interval) ?? ENVOY_DEFAULTS.outlierIntervalMs,
      baseEjectionMs: durationMs(od.base_ejection_time) ?? ENVOY_DEFAULTS.outlierBaseEjectionMs,
      maxEjectionPercent: u32(od.max_ejection_percent, ENVOY_DEFAULTS.outlierMaxEjectionPercent),
    };
  }
  if (c.common_lb_config?.locality_weighted_lb_config !== undefined) cluster.localityWeighted = true;
  const tls = upstreamTls(c.transport_socket, unpack);
  if (tls) cluster.tls = tls;
  const bind = c.upstream_bind_config?.source_address?.address;
  if (bind) cluster.bindAddress = bind;
  if (type === 'EDS') cluster.edsServiceName = c.eds_cluster_config?.service_name || name;
  else if (type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    cluster.staticEndpoints = buildEndpoints(c.load_assignment ?? {});
  } else if (type === 'ORIGINAL_DST') {
    // Hosts come from each connection's original destination (cluster-manager makes them on
    // demand); a load_assignment would be ignored by Envoy, so none is read.
    if (lbName !== 'CLUSTER_PROVIDED') {
      throw invalidConfig('ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED', { field: `Cluster(${name}).lb_policy`, value: lbName });
    }
    const header = c.original_dst_lb_config?.http_header_name;
    if (header && header.toLowerCase() !== 'x-envoy-original-dst-host') {
      throw invalidConfig('original_dst_lb_config.http_header_name is not supported', { field: `Cluster(${name}).original_dst_lb_config.http_header_name`, value: header });
    }
    cluster.originalDst = {
      useHttpHeader: c.original_dst_lb_config?.use_http_header === true,
      cleanupIntervalMs: durationMs(c.cleanup_interval) ?? 5_000,
    };
    cluster.staticEndpoints = [];
  } else {
    throw invalidConfig('unsupported cluster type', { field: `Cluster(${name}).type`, value: type });
  }
  return cluster;
}

// ---------- listeners ----------

function downstreamTls(ts: TransportSocketShape | undefined, unpack: AnyUnpacker): DownstreamTls | undefined {
  if (!ts?.typed_config || !anyTypeName(ts.typed_config).endsWith('DownstreamTlsContext')) return undefined;
  const d = unpack(ts.typed_config) as { require_client_certificate?: { value?: boolean }; common_tls_context?: CommonTlsContextShape };
  const out: DownstreamTls = {
    requireClientCert: bool(d.require_client_certificate, false),
    expectedSans: commonTlsSans(d.common_tls_context),
    alpn: d.common_tls_context?.alpn_protocols ?? [],
  };
  const credential = credentialSecretName(d.common_tls_context?.tls_certificate_sds_secret_configs?.[0]?.name);
  if (credential) out.credentialName = credential;
  return out;
}

/** SDS name `default` is the workload identity; anything else names a Secret (Istio spells it `kubernetes://<name>`). */
export function credentialSecretName(sdsName: string | undefined): string | undefined {
  if (!sdsName || sdsName === 'default') return undefined;
  const name = sdsName.startsWith('kubernetes://') ? sdsName.slice('kubernetes://'.length) : sdsName;
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) {
    throw invalidConfig('tls_certificate_sds_secret_configs names no valid Secret', { field: 'DownstreamTlsContext.common_tls_context.tls_certificate_sds_secret_configs[0].name', value: sdsName });
  }
  return name;
}

/** envoy.filters.http.rbac filters in http_filters order (Istio: DENY before ALLOW). */
function rbacFilters(h: HttpConnectionManagerShape, unpack: AnyUnpacker, field: string): RbacFilter[] {
  const out: RbacFilter[] = [];
  (h.http_filters ?? []).forEach((f, i) => {
    const tn = f.typed_config ? anyTypeName(f.typed_config) : '';
    // The network flavour in http_filters would otherwise be skipped silently, dropping a policy.
    if (tn === NETWORK_RBAC_TYPE) {
      throw invalidConfig('network RBAC filter configured as an HTTP filter', { field: `${field}.http_filters[${i}]`, typeUrl: tn });
    }
    if (!f.typed_config || tn !== HTTP_RBAC_TYPE) return;
    out.push(compileRbacFilter(f.name ?? `rbac[${i}]`, unpack(f.typed_config) as HttpRbacShape, `${field}.http_filters[${i}]`));
  });
  return out;
}

/**
 * envoy.filters.http.jwt_authn filters in http_filters order. They must come before every RBAC
 * filter: the proxy authenticates once, ahead of authorization, so a jwt_authn placed after an
 * RBAC filter (whose rules could then never see its metadata) is refused rather than reordered.
 */
function jwtFilters(h: HttpConnectionManagerShape, unpack: AnyUnpacker, field: string): JwtAuthnFilter[] {
  const out: JwtAuthnFilter[] = [];
  let rbacSeen = false;
  (h.http_filters ?? []).forEach((f, i) => {
    const tn = f.typed_config ? anyTypeName(f.typed_config) : '';
    if (tn === HTTP_RBAC_TYPE) rbacSeen = true;
    if (!f.typed_config || tn !== JWT_AUTHN_TYPE) return;
    const at = `${field}.http_filters[${i}]`;
    if (rbacSeen) throw invalidConfig('jwt_authn filter after an RBAC filter is not supported; put it first', { field: at });
    out.push(compileJwtAuthnFilter(f.name ?? `jwt_authn[${i}]`, unpack(f.typed_config) as JwtAuthenticationShape, at));
  });
  return out;
}

function networkFilter(fc: FilterChainShape, unpack: AnyUnpacker, field: string): NetworkFilter {
  for (const f of fc.filters ?? []) {
    const tn = anyTypeName(f.typed_config);
    if (tn.endsWith('HttpConnectionManager') && f.typed_config) {
      const h = unpack(f.typed_config) as HttpConnectionManagerShape;
      const out: NetworkFilter = {
        kind: 'http',
        maxRequestHeadersKb: u32(h.max_request_headers_kb, ENVOY_DEFAULTS.maxRequestHeadersKb),
        maxHeadersCount: u32(h.common_http_protocol_options?.max_headers_count, ENVOY_DEFAULTS.maxHeadersCount),
        requestTimeoutMs: durationMs(h.request_timeout) ?? 0,
        streamIdleTimeoutMs: durationMs(h.stream_idle_timeout) ?? 300_000,
        rbac: rbacFilters(h, unpack, field),
        jwt: jwtFilters(h, unpack, field),
      };
      if (h.rds?.route_config_name) out.rdsName = h.rds.route_config_name;
      else if (h.route_config) out.inlineRoutes = buildRouteTable(h.route_config);
      else throw invalidConfig('HttpConnectionManager has neither rds nor route_config', { field });
      return out;
    }
    if (tn.endsWith('TcpProxy') && f.typed_config) {
      const t = unpack(f.typed_config) as TcpProxyShape;
      const clusters = t.cluster ? [{ name: t.cluster, weight: 1 }]
        : (t.weighted_clusters?.clusters ?? []).map((c) => ({ name: c.name ?? '', weight: c.weight ?? 0 }));
      const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
      if (clusters.length === 0 || totalWeight <= 0) throw invalidConfig('TcpProxy names no cluster', { field });
      return { kind: 'tcp', clusters, totalWeight, idleTimeoutMs: durationMs(t.idle_timeout) ?? 3_600_000 };
    }
  }
  throw invalidConfig('filter chain has no HttpConnectionManager or TcpProxy', { field });
}

function isTerminal(typeName: string): boolean {
  return typeName.endsWith('HttpConnectionManager') || typeName.endsWith('TcpProxy');
}

/**
 * envoy.filters.network.rbac filters in a chain's `filters` ahead of the terminal filter
 * (HCM or tcp_proxy), in order. RBAC after the terminal filter, or the HTTP flavour among
 * network filters, is refused: it could never be enforced, and ignoring it drops a policy.
 */
function networkRbacFilters(fc: FilterChainShape, unpack: AnyUnpacker, field: string): RbacFilter[] {
  const out: RbacFilter[] = [];
  let terminal: string | undefined;
  (fc.filters ?? []).forEach((f, i) => {
    const tn = f.typed_config ? anyTypeName(f.typed_config) : '';
    const at = `${field}.filters[${i}]`;
    if (tn === HTTP_RBAC_TYPE) throw invalidConfig('HTTP RBAC filter configured as a network filter', { field: at, typeUrl: tn });
    if (tn === NETWORK_RBAC_TYPE && f.typed_config) {
      if (terminal) throw invalidConfig('network RBAC filter after the terminal filter is never reached', { field: at, terminal });
      out.push(compileNetworkRbacFilter(f.name ?? `rbac[${i}]`, unpack(f.typed_config) as NetworkRbacShape, at));
    } else if (!terminal && isTerminal(tn)) terminal = tn;
  });
  return out;
}

function filterChain(fc: FilterChainShape, unpack: AnyUnpacker, field: string): FilterChain {
  const m = fc.filter_chain_match ?? {};
  const match: FilterChain['match'] = {
    serverNames: (m.server_names ?? []).map((s) => s.toLowerCase()),
    applicationProtocols: m.application_protocols ?? [],
  };
  if (m.destination_port?.value) match.destinationPort = m.destination_port.value;
  if (m.transport_protocol) match.transportProtocol = m.transport_protocol;
  const out: FilterChain = { name: fc.name ?? '', match, filter: networkFilter(fc, unpack, field) };
  const networkRbac = networkRbacFilters(fc, unpack, field);
  if (networkRbac.length > 0) out.networkRbac = networkRbac;
  const tls = downstreamTls(fc.transport_socket, unpack);
  if (tls) out.tls = tls;
  return out;
}

export function buildListener(l: ListenerShape, unpack: AnyUnpacker = decodedAnyOnly): Listener {
  const name = l.name;
  if (!name) throw invalidConfig('listener has no name', { field: 'Listener.name' });
  const sa = l.address?.socket_address;
  if (!sa?.address || sa.port_value === undefined) {
    throw invalidConfig('listener has no socket address', { field: `Listener(${name}).address` });
  }
  const out: Listener = {
    name, address: sa.address, port: sa.port_value,
    useOriginalDst: bool(l.use_original_dst, false),
    // The original_dst listener filter only restores the destination for chain matching
    // (Istio's virtualInbound); only use_original_dst hands the connection to another listener.
    restoreOriginalDst: bool(l.use_original_dst, false)
      || (l.listener_filters ?? []).some((f) => f.name === 'envoy.filters.listener.original_dst'),
    detectTimeoutMs: durationMs(l.listener_filters_timeout) ?? ENVOY_DEFAULTS.detectTimeoutMs,
    bindToPort: bool(l.bind_to_port, true),
    filterChains: (l.filter_chains ?? []).map((fc, i) => filterChain(fc, unpack, `Listener(${name}).filter_chains[${i}]`)),
  };
  if (l.default_filter_chain) out.defaultChain = filterChain(l.default_filter_chain, unpack, `Listener(${name}).default_filter_chain`);
  if (out.filterChains.length === 0 && !out.defaultChain) throw invalidConfig('listener has no filter chains', { field: `Listener(${name})` });
  return out;
}

/** Any name referenced by a listener's HTTP filters that must come from RDS. */
export function rdsNames(l: Listener): string[] {
  const out = new Set<string>();
  for (const fc of [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])]) {
    if (fc.filter.kind === 'http' && fc.filter.rdsName) out.add(fc.filter.rdsName);
  }
  return [...out];
}

export function edsNames(clusters: Iterable<Cluster>): string[] {
  const out = new Set<string>();
  for (const c of clusters) if (c.edsServiceName) out.add(c.edsServiceName);
  return [...out];
}
