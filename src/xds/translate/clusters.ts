// Model -> Envoy Clusters: one per service port and per DestinationRule subset, carrying the
// DestinationRule's load balancing, circuit breakers, outlier detection and upstream TLS.
import type { ClientTLSSettings, DestinationRule, PortTrafficPolicy, TrafficPolicy } from '../../api/istio/types.js';
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { resolveHost, isHttpProtocol, labelsMatch, outboundClusterName, type MeshModel, type ProxyContext, type Service, type ServicePort } from '../model.js';
import { compact, parseDuration, u32 } from './convert.js';
import { visibleServices } from './scope.js';
import { buildInboundClusters } from './inbound.js';
import { buildJwksClusters } from './jwt.js';

export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Inbound passthrough (a pod port no Service covers): Istio's name, dialled from 127.0.0.6 so capture lets it through. */
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughClusterIpv4';
const INBOUND_PASSTHROUGH_SOURCE = '127.0.0.6';

/** True when sidecars may pass traffic to destinations the registry does not know (Istio's default). */
export function allowAnyOutbound(model: MeshModel): boolean {
  return (model.outboundTrafficPolicy ?? 'ALLOW_ANY') === 'ALLOW_ANY';
}
/** SDS secret names the proxy resolves locally (Istio's names). */
export const SDS_DEFAULT_CERT = 'default';
export const SDS_ROOT_CA = 'ROOTCA';

/** The DestinationRule that applies to a host, as seen from namespace (own namespace first). */
export function destinationRuleFor(model: MeshModel, host: string, fromNamespace: string): DestinationRule | undefined {
  const matches = model.destinationRules.filter((dr) => resolveHost(dr.spec.host ?? '', dr.metadata.namespace ?? 'default', model.domain) === host);
  return (
    matches.find((dr) => dr.metadata.namespace === fromNamespace) ??
    matches.find((dr) => host.endsWith(`.${dr.metadata.namespace ?? ''}.svc.${model.domain}`)) ??
    matches.find((dr) => dr.metadata.namespace === model.rootNamespace) ??
    matches[0]
  );
}

/** Merges top-level, port-level and subset policy the way Istio does (later wins per field). */
export function effectivePolicy(dr: DestinationRule | undefined, port: number, subset?: string): TrafficPolicy {
  const layers: (TrafficPolicy | PortTrafficPolicy | undefined)[] = [];
  const top = dr?.spec.trafficPolicy;
  layers.push(top);
  layers.push(top?.portLevelSettings?.find((p) => p.port?.number === port));
  const sub = subset ? dr?.spec.subsets?.find((s) => s.name === subset)?.trafficPolicy : undefined;
  layers.push(sub);
  layers.push(sub?.portLevelSettings?.find((p) => p.port?.number === port));
  const out: TrafficPolicy = {};
  for (const l of layers) {
    if (!l) continue;
    if (l.loadBalancer) out.loadBalancer = l.loadBalancer;
    if (l.connectionPool) out.connectionPool = l.connectionPool;
    if (l.outlierDetection) out.outlierDetection = l.outlierDetection;
    if (l.tls) out.tls = l.tls;
    if ('retryBudget' in l && l.retryBudget) out.retryBudget = l.retryBudget;
  }
  return out;
}

function lbFields(p: TrafficPolicy): Record<string, unknown> {
  const lb = p.loadBalancer;
  if (lb?.consistentHash) {
    const min = lb.consistentHash.ringHash?.minimumRingSize ?? lb.consistentHash.minimumRingSize;
    return compact({ lb_policy: 'RING_HASH', ring_hash_lb_config: min ? { minimum_ring_size: { value: min } } : {} });
  }
  switch (lb?.simple) {
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      return { lb_policy: 'LEAST_REQUEST' };
    case 'RANDOM':
      return { lb_policy: 'RANDOM' };
    default:
      return { lb_policy: 'ROUND_ROBIN' };
  }
}

function circuitBreakers(p: TrafficPolicy): Record<string, unknown> | undefined {
  const cp = p.connectionPool;
  const rb = p.retryBudget;
  if (!cp && !rb) return undefined;
  const t = compact({
    max_connections: u32(cp?.tcp?.maxConnections),
    max_pending_requests: u32(cp?.http?.http1MaxPendingRequests),
    max_requests: u32(cp?.http?.http2MaxRequests),
    max_retries: u32(cp?.http?.maxRetries),
    // Istio's trafficPolicy.retryBudget; Envoy then ignores max_retries.
    retry_budget: rb ? compact({ budget_percent: rb.percent !== undefined ? { value: rb.percent } : undefined, min_retry_concurrency: u32(rb.minRetryConcurrency) }) : undefined,
  });
  return Object.keys(t).length ? { thresholds: [t] } : undefined;
}

function outlier(p: TrafficPolicy): Record<string, unknown> | undefined {
  const od = p.outlierDetection;
  if (!od) return undefined;
  const consecutive5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  return compact({
    consecutive_5xx: u32(consecutive5xx),
    consecutive_gateway_failure: u32(od.consecutiveGatewayErrors),
    enforcing_consecutive_gateway_failure: od.consecutiveGatewayErrors !== undefined ? { value: 100 } : undefined,
    interval: parseDuration(od.interval),
    base_ejection_time: parseDuration(od.baseEjectionTime),
    max_ejection_percent: u32(od.maxEjectionPercent),
    split_external_local_origin_errors: od.splitExternalLocalOriginErrors,
  });
}

/** Upstream TLS. ISTIO_MUTUAL uses the proxy's SDS identity and checks the peer's SPIFFE SAN. */
export function upstreamTransportSocket(tls: ClientTLSSettings | undefined, sans: string[], host: string): Record<string, unknown> | undefined {
  const mode = tls?.mode ?? 'DISABLE';
  if (mode === 'DISABLE') return undefined;
  const sdsConfig = { ads: {}, resource_api_version: 'V3' };
  const sanMatchers = (tls?.subjectAltNames?.length ? tls.subjectAltNames : sans).map((s) =>
    s.startsWith('spiffe://') ? { san_type: 'URI', matcher: { exact: s } } : { san_type: 'DNS', matcher: { exact: s } },
  );
  let common: Record<string, unknown>;
  if (mode === 'ISTIO_MUTUAL') {
    common = {
      alpn_protocols: ['istio-peer-exchange', 'istio'],
      tls_certificate_sds_secret_configs: [{ name: SDS_DEFAULT_CERT, sds_config: sdsConfig }],
      combined_validation_context: {
        default_validation_context: compact({ match_typed_subject_alt_names: sanMatchers.length ? sanMatchers : undefined }),
        validation_context_sds_secret_config: { name: SDS_ROOT_CA, sds_config: sdsConfig },
      },
    };
    return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TYPE_URLS.upstreamTlsContext, common_tls_context: common, sni: outboundSni(host) } };
  }
  // SIMPLE / MUTUAL to an external or non-mesh server.
  const validation: Record<string, unknown> = compact({
    match_typed_subject_alt_names: tls?.subjectAltNames?.length ? sanMatchers : undefined,
    trusted_ca: tls?.caCertificates ? { filename: tls.caCertificates } : undefined,
    trust_chain_verification: tls?.insecureSkipVerify ? 'ACCEPT_UNTRUSTED' : undefined,
  });
  common = compact({
    validation_context: Object.keys(validation).length ? validation : undefined,
    tls_certificates:
      mode === 'MUTUAL' && tls?.clientCertificate
        ? [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey ?? '' } }]
        : undefined,
    tls_certificate_sds_secret_configs: mode === 'MUTUAL' && tls?.credentialName ? [{ name: tls.credentialName, sds_config: sdsConfig }] : undefined,
  });
  return { name: 'envoy.transport_sockets.tls', typed_config: compact({ '@type': TYPE_URLS.upstreamTlsContext, common_tls_context: common, sni: tls?.sni ?? host }) };
}

function outboundSni(host: string): string {
  return host;
}

/**
 * Hosts whose every endpoint is a gateway that some Gateway selects (an egress gateway), in one
 * pass over the endpoints. Istio's auto mTLS sends plaintext there: gateway pods carry no
 * sidecar tlsMode label and a Gateway's HTTP server is plaintext. A DestinationRule asks for
 * ISTIO_MUTUAL when it wants it.
 */
export function gatewayOnlyHosts(model: MeshModel): ReadonlySet<string> {
  const verdict = new Map<string, boolean>();
  for (const e of model.endpoints) {
    if (verdict.get(e.hostname) === false) continue;
    verdict.set(e.hostname, model.gateways.some((g) => g.spec.selector && labelsMatch(g.spec.selector, e.labels)));
  }
  return new Set([...verdict].filter(([, v]) => v).map(([h]) => h));
}

/**
 * SPIFFE ids of the service accounts behind each service (for SAN matching), by hostname: one
 * pass over the endpoints instead of one per service cluster (1,000 x 5,000 was 5M steps).
 */
export function serviceSansByHost(model: MeshModel): ReadonlyMap<string, string[]> {
  const ids = new Map<string, Set<string>>();
  for (const e of model.endpoints) {
    if (!e.serviceAccount) continue;
    let set = ids.get(e.hostname);
    if (!set) ids.set(e.hostname, (set = new Set()));
    set.add(`spiffe://${model.trustDomain}/ns/${e.namespace ?? ''}/sa/${e.serviceAccount}`);
  }
  return new Map([...ids].map(([host, set]) => [host, [...set].sort()]));
}

/** Per-translation facts computed once over all endpoints (not once per cluster). */
interface ClusterFacts { sans: ReadonlyMap<string, string[]>; gatewayHosts: ReadonlySet<string> }

function buildServiceCluster(model: MeshModel, proxy: ProxyContext, svc: Service, port: ServicePort, subset: string, dr: DestinationRule | undefined, facts: ClusterFacts): EnvoyResource {
  const name = outboundClusterName(port.port, subset, svc.hostname);
  const policy = effectivePolicy(dr, port.port, subset || undefined);
  // Mesh-internal traffic from a sidecar is mTLS unless the DestinationRule says otherwise.
  const defaultTls: ClientTLSSettings | undefined =
    proxy.flavour !== 'proxyless' && !svc.external && !facts.gatewayHosts.has(svc.hostname) ? { mode: 'ISTIO_MUTUAL' } : undefined;
  const tls = policy.tls ?? defaultTls;
  const connectTimeout = parseDuration(policy.connectionPool?.tcp?.connectTimeout) ?? { seconds: 10 };
  const c: EnvoyResource = {
    name,
    ...(svc.resolution === 'DNS'
      ? { type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY' }
      : { type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name } }),
    connect_timeout: connectTimeout,
    ...lbFields(policy),
  };
  if (svc.resolution === 'DNS') {
    c['load_assignment'] = {
      cluster_name: name,
      endpoints: [{ lb_endpoints: svc.hostname.includes('*') ? [] : [{ endpoint: { address: { socket_address: { address: svc.hostname, port_value: port.targetPort ?? port.port } } } }] }],
    };
    delete c['eds_cluster_config'];
  }
  const cb = circuitBreakers(policy);
  if (cb) c['circuit_breakers'] = cb;
  const od = outlier(policy);
  if (od) c['outlier_detection'] = od;
  // Istio: `distribute` is locality-weighted LB in Envoy; the weights come per proxy with EDS.
  const locality = policy.loadBalancer?.localityLbSetting;
  if (locality?.enabled !== false && (locality?.distribute?.length ?? 0) > 0) c['common_lb_config'] = { locality_weighted_lb_config: {} };
  if (proxy.flavour !== 'proxyless') {
    const ts = upstreamTransportSocket(tls, facts.sans.get(svc.hostname) ?? [], svc.hostname);
    if (ts) c['transport_socket'] = ts;
    const http = policy.connectionPool?.http;
    const h2 = port.protocol === 'HTTP2' || port.protocol === 'GRPC' || http?.h2UpgradePolicy === 'UPGRADE';
    if (isHttpProtocol(port.protocol)) {
      c['typed_extension_protocol_options'] = {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': compact({
          '@type': TYPE_URLS.httpProtocolOptions,
          common_http_protocol_options: http?.idleTimeout || http?.maxRequestsPerConnection
            ? compact({ idle_timeout: parseDuration(http.idleTimeout), max_requests_per_connection: u32(http.maxRequestsPerConnection) })
            : undefined,
          explicit_http_config: h2 ? { http2_protocol_options: compact({ max_concurrent_streams: u32(http?.maxConcurrentStreams) }) } : { http_protocol_options: {} },
        }),
      };
    }
  }
  c['metadata'] = {
    filter_metadata: {
      istio: { fields: { services: { listValue: { values: [{ structValue: { fields: { host: { stringValue: svc.hostname }, name: { stringValue: svc.name }, namespace: { stringValue: svc.namespace } } } }] } } } },
    },
  };
  return c;
}

/** Outbound clusters for every visible service port and subset, plus the fixed ones. */
export function buildClusters(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  const facts: ClusterFacts = { sans: serviceSansByHost(model), gatewayHosts: gatewayOnlyHosts(model) };
  for (const svc of visibleServices(model, proxy)) {
    const dr = destinationRuleFor(model, svc.hostname, proxy.namespace);
    for (const port of svc.ports) {
      out.push(buildServiceCluster(model, proxy, svc, port, '', dr, facts));
      for (const subset of dr?.spec.subsets ?? []) out.push(buildServiceCluster(model, proxy, svc, port, subset.name, dr, facts));
    }
  }
  if (proxy.flavour === 'sidecar') {
    out.push(...buildInboundClusters(model, proxy));
    out.push({
      name: INBOUND_PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 10 },
      upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_SOURCE, port_value: 0 } },
    });
  }
  out.push(...buildJwksClusters(model, proxy));
  if (proxy.flavour !== 'proxyless') {
    out.push({ name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: { seconds: 10 } });
    out.push({ name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 10 } });
  }
  return out;
}
