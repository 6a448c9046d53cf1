// Type URLs and the small shapes the ADS protocol passes around (snake_case, keepCase).

export const TYPE_PREFIX = 'type.googleapis.com/';

export const TYPE_URLS = Object.freeze({
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  /** Istio's NDS: the DNS proxy's name table (one resource per proxy). */
  nameTable: 'type.googleapis.com/istio.networking.nds.v1.NameTable',
  // typed_config extensions
  httpConnectionManager: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  networkRbac: 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  fault: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  cors: 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors',
  corsPolicy: 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
  httpRbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  jwtAuthn: 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  originalDst: 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  tlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  httpInspector: 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  upstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  roundRobin: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
  leastRequest: 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
  random: 'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random',
  ringHash: 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash',
});

/**
 * The four xDS resource types in make-before-break push order (CDS, EDS, LDS, RDS), then SDS.
 * NDS is not listed: it references nothing, and the server pushes unlisted types last.
 */
export const PUSH_ORDER: readonly string[] = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route, TYPE_URLS.secret];

/** A NameTable has no name field; each proxy gets exactly one, under this name. */
export const NAME_TABLE_RESOURCE = 'name-table';

/** Short names for logs and debug output. */
export function typeShortName(typeUrl: string): string {
  switch (typeUrl) {
    case TYPE_URLS.listener:
      return 'LDS';
    case TYPE_URLS.route:
      return 'RDS';
    case TYPE_URLS.cluster:
      return 'CDS';
    case TYPE_URLS.endpoint:
      return 'EDS';
    case TYPE_URLS.secret:
      return 'SDS';
    case TYPE_URLS.nameTable:
      return 'NDS';
    default:
      return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  }
}

/**
 * A resource as Weft builds it: plain snake_case JS, Any fields written Envoy-JSON style as
 * `{ '@type': TYPE_URL, ...fields }`, Durations as `{ seconds, nanos }`, wrappers as `{ value }`.
 */
export type EnvoyResource = Record<string, unknown>;

export interface EnvoyNode {
  id?: string;
  cluster?: string;
  metadata?: unknown;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
  client_features?: string[];
}

export interface GrpcStatusDetail {
  code?: number;
  message?: string;
}

/** envoy.service.discovery.v3.DiscoveryRequest, decoded with keepCase. */
export interface DiscoveryRequest {
  version_info?: string;
  node?: EnvoyNode | null;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: GrpcStatusDetail | null;
}

/** An Any, as protobufjs represents it. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** envoy.service.discovery.v3.DiscoveryResponse, decoded with keepCase (resources left as Any). */
export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}
