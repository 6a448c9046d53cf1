// Assemble a ProxyConfig from the four resource kinds. Each resource is built
// independently so one bad resource names itself in the error.
import type { ClusterLoadAssignmentShape, ClusterShape, ListenerShape, RouteConfigurationShape } from './envoy-shapes.js';
import { buildCluster, buildEndpoints, buildListener, buildRouteTable, decodedAnyOnly, type AnyUnpacker } from './build.js';
import type { ProxyConfig } from './model.js';

export interface ResourceSet {
  listeners?: ListenerShape[];
  routes?: RouteConfigurationShape[];
  clusters?: ClusterShape[];
  endpoints?: ClusterLoadAssignmentShape[];
}

export function buildProxyConfig(r: ResourceSet, unpack: AnyUnpacker = decodedAnyOnly): ProxyConfig {
  const cfg: ProxyConfig = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map() };
  for (const l of r.listeners ?? []) { const m = buildListener(l, unpack); cfg.listeners.set(m.name, m); }
  for (const rc of r.routes ?? []) { const t = buildRouteTable(rc); cfg.routes.set(t.name, t); }
  for (const c of r.clusters ?? []) { const m = buildCluster(c, unpack); cfg.clusters.set(m.name, m); }
  for (const e of r.endpoints ?? []) cfg.endpoints.set(e.cluster_name ?? '', buildEndpoints(e));
  return cfg;
}
