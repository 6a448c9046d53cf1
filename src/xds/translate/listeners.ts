// Model -> Envoy Listeners, per flavour:
// - sidecar: virtualOutbound (15001, original-destination hand-off), one HTTP listener per
//   outbound port (RDS "<port>"), TCP/TLS listeners per service address, and virtualInbound
//   (15006) with a filter chain per workload port, mTLS per PeerAuthentication, RBAC.
// - gateway: one listener per Gateway server port.
// - proxyless gRPC: api_listener per host:port.
import type { MutualTLSMode, TCPRoute, TLSRoute, Server } from '../../api/istio/types.js';
import { targetsOtherProxies } from '../../api/istio/types.js';
import { PROXY_PORTS } from '../../api/sidecar.js';
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { inboundClusterName, isHttpProtocol, labelsMatch, outboundClusterName, resolveHost, type MeshModel, type ProxyContext, type Service, type ServicePort } from '../model.js';
import { allowAnyOutbound, BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, SDS_DEFAULT_CERT, SDS_ROOT_CA } from './clusters.js';
import { CORS_FILTER, FAULT_FILTER, proxylessListenerNames, virtualServicesFor } from './routes.js';
import { buildRbacFilters } from './rbac.js';
import { buildJwtFilters } from './jwt.js';
import { visibleServices } from './scope.js';
import { inboundPorts } from './inbound.js';
import { gatewayListenPorts } from './gateway-ports.js';

const ADS = { ads: {}, resource_api_version: 'V3' };

function router(): EnvoyResource {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URLS.router } };
}

/** HTTP connection manager with Istio's path hardening (CVE-2020-8595, CVE-2021-31920). */
export function httpConnectionManager(statPrefix: string, routeSpec: Record<string, unknown>, filters: EnvoyResource[]): EnvoyResource {
  return {
    '@type': TYPE_URLS.httpConnectionManager,
    stat_prefix: statPrefix,
    ...routeSpec,
    http_filters: [...filters, router()],
    normalize_path: { value: true },
    merge_slashes: true,
    path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT',
    use_remote_address: { value: false },
  };
}

function hcmFilter(hcm: EnvoyResource): EnvoyResource {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm };
}

function tcpProxy(statPrefix: string, clusters: { name: string; weight: number }[]): EnvoyResource {
  const cfg: EnvoyResource = { '@type': TYPE_URLS.tcpProxy, stat_prefix: statPrefix };
  if (clusters.length === 1) cfg['cluster'] = clusters[0]!.name;
  else cfg['weighted_clusters'] = { clusters: clusters.map((c) => ({ name: c.name, weight: c.weight })) };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: cfg };
}

function outboundHttpFilters(): EnvoyResource[] {
  return [
    { name: FAULT_FILTER, typed_config: { '@type': TYPE_URLS.fault } },
    { name: CORS_FILTER, typed_config: { '@type': TYPE_URLS.cors } },
  ];
}

function tcpDestinations(model: MeshModel, routes: (TCPRoute | TLSRoute)[], ns: string, port: number): { name: string; weight: number }[] {
  const r = routes[0];
  return (r?.route ?? []).map((d, _i, all) => {
    const host = resolveHost(d.destination.host, ns, model.domain);
    return { name: outboundClusterName(d.destination.port?.number ?? port, d.destination.subset ?? '', host), weight: d.weight ?? (all.length === 1 ? 100 : 0) };
  });
}

function outboundTcpListener(model: MeshModel, proxy: ProxyContext, svc: Service, p: ServicePort, address: string): EnvoyResource {
  const name = `${address}_${p.port}`;
  const vss = virtualServicesFor({ model, proxy, gateway: 'mesh', port: p.port }, svc.hostname);
  const defaultCluster = [{ name: outboundClusterName(p.port, '', svc.hostname), weight: 100 }];
  const filterChains: EnvoyResource[] = [];
  const listener: EnvoyResource = { name, address: { socket_address: { address, port_value: p.port } }, bind_to_port: { value: false }, traffic_direction: 'OUTBOUND' };
  for (const vs of vss) {
    const ns = vs.metadata.namespace ?? 'default';
    for (const tls of vs.spec.tls ?? []) {
      const sni = tls.match.filter((m) => m.port === undefined || m.port === p.port).flatMap((m) => m.sniHosts);
      if (!sni.length) continue;
      filterChains.push({ filter_chain_match: { server_names: sni }, filters: [tcpProxy(name, tcpDestinations(model, [tls], ns, p.port))] });
    }
  }
  if (filterChains.length) listener['listener_filters'] = [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE_URLS.tlsInspector } }];
  const tcpVs = vss.find((vs) => (vs.spec.tcp ?? []).length);
  const tcpRoutes = tcpVs ? (tcpVs.spec.tcp ?? []).filter((r) => !r.match || r.match.some((m) => m.port === undefined || m.port === p.port)) : [];
  const dests = tcpRoutes.length ? tcpDestinations(model, tcpRoutes, tcpVs!.metadata.namespace ?? 'default', p.port) : defaultCluster;
  filterChains.push({ filters: [tcpProxy(name, dests)] });
  listener['filter_chains'] = filterChains;
  return listener;
}

/** Effective mTLS mode for a workload port: workload > namespace > mesh-wide; default PERMISSIVE. */
export function mtlsMode(model: MeshModel, proxy: ProxyContext, port: number): MutualTLSMode {
  const pas = model.peerAuthentications.filter((p) => !targetsOtherProxies(p.spec));
  const workload = pas.find((p) => p.metadata.namespace === proxy.namespace && p.spec.selector?.matchLabels && labelsMatch(p.spec.selector.matchLabels, proxy.labels));
  const namespace = pas.find((p) => p.metadata.namespace === proxy.namespace && !p.spec.selector?.matchLabels);
  const mesh = pas.find((p) => p.metadata.namespace === model.rootNamespace && !p.spec.selector?.matchLabels);
  const portMode = workload?.spec.portLevelMtls?.[String(port)]?.mode;
  if (portMode && portMode !== 'UNSET') return portMode;
  for (const p of [workload, namespace, mesh]) {
    const m = p?.spec.mtls?.mode;
    if (m && m !== 'UNSET') return m;
  }
  return 'PERMISSIVE';
}

function downstreamTls(): EnvoyResource {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TYPE_URLS.downstreamTlsContext,
      require_client_certificate: { value: true },
      common_tls_context: {
        alpn_protocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
        tls_certificate_sds_secret_configs: [{ name: SDS_DEFAULT_CERT, sds_config: ADS }],
        combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: SDS_ROOT_CA, sds_config: ADS } },
      },
    },
  };
}

/** ALPN values Istio's sidecars offer on mesh mTLS; other TLS on a passthrough port is the app's own. */
const MESH_MTLS_ALPN = ['istio-peer-exchange', 'istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

/**
 * Catch-all chains for pod ports no Service declares, under the workload's mTLS mode (as Istio
 * does): STRICT accepts only mesh mTLS (plaintext is closed), PERMISSIVE terminates mesh mTLS
 * and passes anything else through, DISABLE passes everything through.
 */
function inboundPassthroughChains(mode: MutualTLSMode): EnvoyResource[] {
  const filters = [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, [{ name: INBOUND_PASSTHROUGH_CLUSTER, weight: 100 }])];
  const out: EnvoyResource[] = [];
  if (mode === 'STRICT') {
    out.push({ name: 'inbound-passthrough-mtls', filter_chain_match: { transport_protocol: 'tls' }, transport_socket: downstreamTls(), filters });
  } else if (mode === 'PERMISSIVE') {
    out.push({ name: 'inbound-passthrough-mtls', filter_chain_match: { transport_protocol: 'tls', application_protocols: MESH_MTLS_ALPN }, transport_socket: downstreamTls(), filters });
  }
  if (mode !== 'STRICT') out.push({ name: 'inbound-passthrough', filters });
  return out;
}

function virtualInbound(model: MeshModel, proxy: ProxyContext): EnvoyResource {
  const chains: EnvoyResource[] = [];
  for (const ip of inboundPorts(model, proxy)) {
    const cluster = inboundClusterName(ip.port);
    const filters = isHttpProtocol(ip.protocol)
      ? [
          hcmFilter(
            httpConnectionManager(
              cluster,
              { route_config: { name: cluster, virtual_hosts: [{ name: cluster, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: {} } }] }], validate_clusters: { value: false } } },
              // jwt_authn first: RBAC reads the request principal and claims it leaves in metadata.
              [...buildJwtFilters(model, proxy), ...buildRbacFilters(model, proxy)],
            ),
          ),
        ]
      : [...buildRbacFilters(model, proxy, true), tcpProxy(cluster, [{ name: cluster, weight: 100 }])];
    const mode = mtlsMode(model, proxy, ip.port);
    if (mode === 'STRICT' || mode === 'PERMISSIVE') {
      chains.push({ name: `${cluster}-mtls`, filter_chain_match: { destination_port: { value: ip.port }, transport_protocol: 'tls' }, transport_socket: downstreamTls(), filters });
    }
    if (mode === 'DISABLE' || mode === 'PERMISSIVE') {
      chains.push({ name: `${cluster}-plaintext`, filter_chain_match: { destination_port: { value: ip.port }, transport_protocol: 'raw_buffer' }, filters });
    }
  }
  chains.push(...inboundPassthroughChains(mtlsMode(model, proxy, 0)));
  return {
    name: 'virtualInbound',
    address: { socket_address: { address: '0.0.0.0', port_value: PROXY_PORTS.inbound } },
    traffic_direction: 'INBOUND',
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': TYPE_URLS.originalDst } },
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE_URLS.tlsInspector } },
    ],
    filter_chains: chains,
  };
}

function sidecarListeners(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  // Unknown destinations: passed through under ALLOW_ANY, closed under REGISTRY_ONLY (Istio's catch-all chain).
  const catchAll = allowAnyOutbound(model) ? PASSTHROUGH_CLUSTER : BLACKHOLE_CLUSTER;
  const out: EnvoyResource[] = [
    {
      name: 'virtualOutbound',
      address: { socket_address: { address: '0.0.0.0', port_value: PROXY_PORTS.outbound } },
      use_original_dst: { value: true },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ name: 'virtualOutbound-catchall-tcp', filters: [tcpProxy(catchAll, [{ name: catchAll, weight: 100 }])] }],
    },
  ];
  const httpPorts = new Set<number>();
  const tcp: EnvoyResource[] = [];
  for (const svc of visibleServices(model, proxy)) {
    for (const p of svc.ports) {
      if (isHttpProtocol(p.protocol)) httpPorts.add(p.port);
      else for (const a of svc.addresses) tcp.push(outboundTcpListener(model, proxy, svc, p, a));
    }
  }
  for (const port of [...httpPorts].sort((a, b) => a - b)) {
    out.push({
      name: `0.0.0.0_${port}`,
      address: { socket_address: { address: '0.0.0.0', port_value: port } },
      bind_to_port: { value: false },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [hcmFilter(httpConnectionManager(`outbound_0.0.0.0_${port}`, { rds: { route_config_name: String(port), config_source: ADS } }, outboundHttpFilters()))] }],
    });
  }
  out.push(...tcp, virtualInbound(model, proxy));
  return out;
}

function proxylessListeners(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  for (const svc of visibleServices(model, proxy)) {
    for (const p of svc.ports.filter((pp) => isHttpProtocol(pp.protocol))) {
      for (const name of proxylessListenerNames(svc, p.port)) {
        const hcm: EnvoyResource = {
          '@type': TYPE_URLS.httpConnectionManager,
          stat_prefix: name,
          rds: { route_config_name: name, config_source: ADS },
          http_filters: [{ name: FAULT_FILTER, typed_config: { '@type': TYPE_URLS.fault } }, router()],
        };
        out.push({ name, api_listener: { api_listener: hcm } });
      }
    }
  }
  return out;
}

/** Gateways whose selector matches this gateway proxy's labels. */
export function gatewayServers(model: MeshModel, proxy: ProxyContext): { gateway: string; server: Server }[] {
  const out: { gateway: string; server: Server }[] = [];
  for (const g of model.gateways) {
    if (!g.spec.selector || !labelsMatch(g.spec.selector, proxy.labels)) continue;
    for (const server of g.spec.servers ?? []) out.push({ gateway: `${g.metadata.namespace ?? 'default'}/${g.metadata.name ?? ''}`, server });
  }
  return out;
}

/** One listener per listen port (a server's number, or its Service's targetPort: gateway-ports.ts). */
function gatewayListeners(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const listenPort = gatewayListenPorts(model, proxy);
  const byPort = new Map<number, { gateway: string; server: Server }[]>();
  for (const gs of gatewayServers(model, proxy)) {
    const port = listenPort(gs.server.port.number);
    const list = byPort.get(port) ?? [];
    list.push(gs);
    byPort.set(port, list);
  }
  const out: EnvoyResource[] = [];
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const chains: EnvoyResource[] = [];
    let needsTlsInspector = false;
    for (const { gateway, server } of byPort.get(port)!) {
      const proto = server.port.protocol.toUpperCase();
      const sni = server.hosts.map((h) => h.replace(/^[^/]*\//, '')).filter((h) => h !== '*');
      const mode = server.tls?.mode;
      if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
        needsTlsInspector = true;
        for (const vs of model.virtualServices.filter((v) => (v.spec.gateways ?? []).some((g) => (g.includes('/') ? g : `${v.metadata.namespace ?? 'default'}/${g}`) === gateway))) {
          for (const tls of vs.spec.tls ?? []) {
            const names = tls.match.flatMap((m) => m.sniHosts);
            chains.push({ filter_chain_match: { server_names: names }, filters: [tcpProxy(`gateway_${port}`, tcpDestinations(model, [tls], vs.metadata.namespace ?? 'default', server.port.number))] });
          }
        }
        continue;
      }
      // RequestAuthentication selecting the gateway (Istio's ingress JWT task) verifies at the edge.
      const hcm = httpConnectionManager(`outbound_0.0.0.0_${port}`, { rds: { route_config_name: `http.${port}`, config_source: ADS } }, [...buildJwtFilters(model, proxy), ...outboundHttpFilters()]);
      if (proto === 'HTTPS' || (server.tls && mode !== undefined)) {
        needsTlsInspector = true;
        const common: Record<string, unknown> = {
          alpn_protocols: ['h2', 'http/1.1'],
          tls_certificate_sds_secret_configs: [{ name: server.tls?.credentialName ?? SDS_DEFAULT_CERT, sds_config: ADS }],
        };
        if (mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL') {
          common['validation_context_sds_secret_config'] = { name: mode === 'ISTIO_MUTUAL' ? SDS_ROOT_CA : `${server.tls?.credentialName ?? ''}-cacert`, sds_config: ADS };
        }
        chains.push({
          filter_chain_match: sni.length ? { server_names: sni } : {},
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: { '@type': TYPE_URLS.downstreamTlsContext, require_client_certificate: { value: mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL' }, common_tls_context: common },
          },
          filters: [hcmFilter(hcm)],
        });
      } else if (proto === 'TCP' || proto === 'TLS') {
        const vs = model.virtualServices.find((v) => (v.spec.gateways ?? []).some((g) => (g.includes('/') ? g : `${v.metadata.namespace ?? 'default'}/${g}`) === gateway) && (v.spec.tcp ?? []).length);
        if (vs) chains.push({ filters: [tcpProxy(`gateway_${port}`, tcpDestinations(model, vs.spec.tcp ?? [], vs.metadata.namespace ?? 'default', server.port.number))] });
      } else if (!chains.some((c) => !c['filter_chain_match'])) {
        chains.push({ filters: [hcmFilter(hcm)] });
      }
    }
    if (!chains.length) continue;
    const l: EnvoyResource = { name: `0.0.0.0_${port}`, address: { socket_address: { address: '0.0.0.0', port_value: port } }, traffic_direction: 'OUTBOUND', filter_chains: chains };
    if (needsTlsInspector) l['listener_filters'] = [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE_URLS.tlsInspector } }];
    out.push(l);
  }
  return out;
}

export function buildListeners(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  switch (proxy.flavour) {
    case 'proxyless':
      return proxylessListeners(model, proxy);
    case 'gateway':
      return gatewayListeners(model, proxy);
    default:
      return sidecarListeners(model, proxy);
  }
}
