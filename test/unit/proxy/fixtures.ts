// Envoy v3 resources in the snake_case shape proto-loader produces, for proxy tests.
import type {
  ClusterLoadAssignmentShape, ClusterShape, ListenerShape, RouteConfigurationShape, RouteShape,
} from '../../../src/proxy/config/envoy-shapes.js';

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function httpListener(name: string, port: number, rds: string, address = '127.0.0.1'): ListenerShape {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM_TYPE, stat_prefix: name, rds: { route_config_name: rds } } }] }],
  };
}

export function tcpListener(name: string, port: number, cluster: string, address = '127.0.0.1'): ListenerShape {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_TYPE, stat_prefix: name, cluster } }] }],
  };
}

export function routeConfig(name: string, routes: RouteShape[], domains = ['*']): RouteConfigurationShape {
  return { name, virtual_hosts: [{ name: 'vh', domains, routes }] };
}

export function edsCluster(name: string, extra: Partial<ClusterShape> = {}): ClusterShape {
  return { name, type: 'EDS', eds_cluster_config: { service_name: name }, connect_timeout: { seconds: 1 }, lb_policy: 'ROUND_ROBIN', ...extra };
}

export function cla(name: string, ports: number[], address = '127.0.0.1'): ClusterLoadAssignmentShape {
  return {
    cluster_name: name,
    endpoints: [{ locality: { region: 'r', zone: 'z' }, lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address, port_value: p } } } })) }],
  };
}
