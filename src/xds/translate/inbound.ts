// The ports of the workload a sidecar fronts: every service port whose endpoint is this pod.
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { inboundClusterName, type MeshModel, type ProxyContext, type Protocol } from '../model.js';

export interface InboundPort {
  port: number;
  protocol: Protocol;
}

export function inboundPorts(model: MeshModel, proxy: ProxyContext): InboundPort[] {
  if (!proxy.ip) return [];
  const ports = new Map<number, Protocol>();
  for (const e of model.endpoints) {
    if (e.address !== proxy.ip) continue;
    const svc = model.services.find((s) => s.hostname === e.hostname);
    const sp = svc?.ports.find((p) => p.name === e.portName);
    if (sp && !ports.has(e.port)) ports.set(e.port, sp.protocol);
  }
  return [...ports.entries()].sort((a, b) => a[0] - b[0]).map(([port, protocol]) => ({ port, protocol }));
}

/**
 * inbound|<port>|| clusters: the app on 127.0.0.1. A port declared HTTP2/GRPC talks HTTP/2 to the
 * app (a gRPC server refuses HTTP/1.1); Istio gets there with use_downstream_protocol.
 */
export function buildInboundClusters(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  return inboundPorts(model, proxy).map(({ port, protocol }) => ({
    name: inboundClusterName(port),
    type: 'STATIC',
    connect_timeout: { seconds: 10 },
    load_assignment: {
      cluster_name: inboundClusterName(port),
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
    },
    ...(protocol === 'HTTP2' || protocol === 'GRPC'
      ? {
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': TYPE_URLS.httpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } },
        },
      }
      : {}),
  }));
}
