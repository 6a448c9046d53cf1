// The proxy's internal routing model: what the data plane consults per request. Built
// from Envoy resources by build.ts; immutable once built, swapped whole on a config change.
import type { RbacFilter } from '../authz/engine.js';
import type { JwtAuthnFilter } from '../authn/model.js';

export type StringMatch =
  | { kind: 'exact'; value: string; ignoreCase: boolean }
  | { kind: 'prefix'; value: string; ignoreCase: boolean }
  | { kind: 'suffix'; value: string; ignoreCase: boolean }
  | { kind: 'contains'; value: string; ignoreCase: boolean }
  | { kind: 'regex'; re: RegExp };

export interface HeaderMatch {
  name: string; // lower-case; ':method', ':authority', ':path' are pseudo-headers
  match: StringMatch | { kind: 'present'; present: boolean } | { kind: 'range'; start: number; end: number };
  invert: boolean;
}

export interface QueryMatch { name: string; match: StringMatch | { kind: 'present' } }

export type PathMatch =
  | { kind: 'prefix'; value: string; caseSensitive: boolean }
  | { kind: 'exact'; value: string; caseSensitive: boolean }
  | { kind: 'separated-prefix'; value: string; caseSensitive: boolean }
  | { kind: 'regex'; re: RegExp };

export interface RouteMatch { path: PathMatch; headers: HeaderMatch[]; query: QueryMatch[] }

export interface HeaderAdd { name: string; value: string; mode: 'append' | 'add-if-absent' | 'overwrite' | 'overwrite-if-exists' }

export interface HeaderMutations {
  requestAdd: HeaderAdd[]; requestRemove: string[]; responseAdd: HeaderAdd[]; responseRemove: string[];
}

export type RetryCondition =
  | '5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'retriable-status-codes' | 'refused-stream'
  | 'retriable-4xx' | 'cancelled' | 'deadline-exceeded' | 'internal' | 'resource-exhausted' | 'unavailable';

export interface RetryPolicy {
  retryOn: ReadonlySet<RetryCondition>;
  numRetries: number;
  perTryTimeoutMs: number; // 0 = none (the overall timeout still applies)
  retriableStatusCodes: ReadonlySet<number>;
  avoidPreviousHosts: boolean;
  hostSelectionMaxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface WeightedCluster { name: string; weight: number }

export type HashPolicy =
  | { kind: 'header'; name: string } | { kind: 'cookie'; name: string } | { kind: 'source-ip' };

export interface ForwardAction {
  kind: 'forward';
  clusters: WeightedCluster[]; // one entry with weight 1 for a plain `cluster`
  totalWeight: number;
  prefixRewrite?: string;
  regexRewrite?: { re: RegExp; substitution: string };
  hostRewrite?: string;
  timeoutMs: number; // Envoy default 15 s; 0 = disabled
  retry?: RetryPolicy;
  mirrors: { cluster: string; fraction: number }[]; // fraction in [0,1]
  hashPolicy: HashPolicy[];
}

export interface RedirectAction {
  kind: 'redirect';
  scheme?: string; host?: string; port?: number; path?: string; prefixRewrite?: string; status: number; stripQuery: boolean;
}

export interface DirectResponseAction { kind: 'direct'; status: number; body: string }

/** Fault injection (envoy.filters.http.fault per route), fractions in [0,1]. */
export interface FaultPolicy {
  delay?: { ms: number; fraction: number };
  abort?: { status: number; grpcStatus?: number; fraction: number };
}

export interface Route {
  name: string;
  fault?: FaultPolicy;
  /** Local rate limit token bucket (envoy.filters.http.local_ratelimit per route). */
  rateLimit?: { maxTokens: number; tokensPerFill: number; fillIntervalMs: number };
  match: RouteMatch;
  action: ForwardAction | RedirectAction | DirectResponseAction;
  headers: HeaderMutations;
}

export interface VirtualHost {
  name: string;
  domains: string[];
  routes: Route[];
  headers: HeaderMutations;
  retry?: RetryPolicy;
}

export interface RouteTable {
  name: string;
  /** Exact domains (lower-case) -> host. */
  exact: Map<string, VirtualHost>;
  /** `*.example.com` suffixes (stored as `.example.com`), longest first. */
  suffix: { suffix: string; vhost: VirtualHost }[];
  /** `example.*` prefixes (stored as `example.`), longest first. */
  prefix: { prefix: string; vhost: VirtualHost }[];
  wildcard?: VirtualHost;
  virtualHosts: VirtualHost[];
  headers: HeaderMutations;
}

export type LbPolicy = 'round-robin' | 'least-request' | 'random' | 'ring-hash';

/** Envoy's retry_budget: concurrent retries limited to a share of the active (plus pending) requests. */
export interface RetryBudget { budgetPercent: number; minRetryConcurrency: number }

export interface CircuitBreakers {
  maxConnections: number; maxPendingRequests: number; maxRequests: number; maxRetries: number;
  /** When set, replaces max_retries (Envoy ignores max_retries once a budget is configured). */
  retryBudget?: RetryBudget;
}

export interface OutlierDetection {
  consecutive5xx: number; consecutiveGatewayFailure: number; intervalMs: number; baseEjectionMs: number; maxEjectionPercent: number;
}

export interface UpstreamTls {
  sni?: string;
  /** SPIFFE ids (or other URI SANs) the peer must present; empty = any cert chaining to the CA. */
  expectedSans: string[];
  alpn: string[];
}

export interface Cluster {
  name: string;
  edsServiceName?: string; // set for EDS clusters: endpoints come from that ClusterLoadAssignment
  connectTimeoutMs: number;
  lbPolicy: LbPolicy;
  circuitBreakers: CircuitBreakers;
  outlier?: OutlierDetection;
  http2: boolean;
  tls?: UpstreamTls;
  staticEndpoints?: Endpoint[];
  /** Source address for upstream connections (Istio binds inbound ones to 127.0.0.6 so capture skips them). */
  bindAddress?: string;
  /** common_lb_config.locality_weighted_lb_config: localities share traffic by their weights. */
  localityWeighted?: boolean;
  /** ORIGINAL_DST (passthrough) cluster: hosts are the connections' original destinations, made on demand. */
  originalDst?: OriginalDstConfig;
}

export interface OriginalDstConfig {
  /** original_dst_lb_config.use_http_header: x-envoy-original-dst-host picks the host for HTTP. */
  useHttpHeader: boolean;
  /** cleanup_interval: unused hosts are dropped after this (Envoy default 5 s). */
  cleanupIntervalMs: number;
}

export interface Endpoint {
  address: string; port: number; weight: number; healthy: boolean;
  locality: string; // "region/zone/subzone"
  /** The locality's load_balancing_weight (locality-weighted LB); absent = 1. */
  localityWeight?: number;
  priority: number;
}

export type DownstreamTlsMode = 'none' | 'tls' | 'mtls';

export interface DownstreamTls {
  requireClientCert: boolean; expectedSans: string[]; alpn: string[];
  /**
   * A Secret (in the proxy's own namespace) whose certificate this chain serves: a gateway
   * server's credentialName, from tls_certificate_sds_secret_configs. Absent = the workload identity.
   */
  credentialName?: string;
}

export interface FilterChainMatch {
  destinationPort?: number; serverNames: string[]; transportProtocol?: string; applicationProtocols: string[];
}

export type NetworkFilter =
  | { kind: 'http'; rdsName?: string; inlineRoutes?: RouteTable; maxRequestHeadersKb: number; maxHeadersCount: number;
      requestTimeoutMs: number; streamIdleTimeoutMs: number;
      /** Compiled envoy.filters.http.rbac filters, in order; empty = no authorization. */
      rbac: RbacFilter[];
      /** Compiled envoy.filters.http.jwt_authn filters (they run before RBAC); empty = none. */
      jwt: JwtAuthnFilter[] }
  | { kind: 'tcp'; clusters: WeightedCluster[]; totalWeight: number; idleTimeoutMs: number };

export interface FilterChain {
  name: string; match: FilterChainMatch; filter: NetworkFilter; tls?: DownstreamTls;
  /** Compiled envoy.filters.network.rbac filters in front of the terminal filter, in order;
   *  evaluated once per connection (after TLS, so mTLS principals count). Absent/empty = none. */
  networkRbac?: RbacFilter[];
}

export interface Listener {
  name: string; address: string; port: number;
  /** use_original_dst: hand the connection to the listener for its original destination (virtualOutbound). */
  useOriginalDst: boolean;
  /** Match filter chains on the original destination port (use_original_dst or the original_dst listener filter). */
  restoreOriginalDst: boolean;
  detectTimeoutMs: number;
  /** false for Istio's virtual per-port listeners that only receive hand-offs from the capture listener. */
  bindToPort: boolean;
  filterChains: FilterChain[]; defaultChain?: FilterChain;
}

/** One consistent snapshot of everything the proxy routes by. */
export interface ProxyConfig {
  listeners: Map<string, Listener>;
  routes: Map<string, RouteTable>;
  clusters: Map<string, Cluster>;
  endpoints: Map<string, Endpoint[]>;
}

export const ENVOY_DEFAULTS = Object.freeze({
  routeTimeoutMs: 15_000,
  connectTimeoutMs: 5_000,
  circuitBreakers: Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 }),
  outlierIntervalMs: 10_000,
  outlierBaseEjectionMs: 30_000,
  outlierMaxEjectionPercent: 10,
  outlierConsecutive5xx: 5,
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
  retryBackoffBaseMs: 25,
  retryBudgetPercent: 20,
  retryBudgetMinConcurrency: 3,
  detectTimeoutMs: 100,
});
