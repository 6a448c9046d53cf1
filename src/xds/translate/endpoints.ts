// Model -> ClusterLoadAssignments, grouped by locality; subset clusters get only the
// endpoints whose labels match the subset.
import type { EnvoyResource } from '../../envoy/index.js';
import { labelsMatch, outboundClusterName, type Endpoint, type MeshModel, type ProxyContext } from '../model.js';
import { destinationRuleFor } from './clusters.js';
import { visibleServices } from './scope.js';

function localityKey(e: Endpoint): string {
  return `${e.locality?.region ?? ''}/${e.locality?.zone ?? ''}/${e.locality?.subZone ?? ''}`;
}

export function loadAssignment(clusterName: string, endpoints: readonly Endpoint[]): EnvoyResource {
  const groups = new Map<string, Endpoint[]>();
  for (const e of [...endpoints].sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port)) {
    const k = localityKey(e);
    const g = groups.get(k) ?? [];
    g.push(e);
    groups.set(k, g);
  }
  return {
    cluster_name: clusterName,
    endpoints: [...groups.keys()].sort().map((k) => {
      const es = groups.get(k)!;
      const l = es[0]!.locality ?? {};
      const locality: Record<string, string> = {};
      if (l.region) locality['region'] = l.region;
      if (l.zone) locality['zone'] = l.zone;
      if (l.subZone) locality['sub_zone'] = l.subZone;
      return {
        locality,
        // gRPC ignores localities without a weight.
        load_balancing_weight: { value: es.reduce((n, e) => n + (e.weight ?? 1), 0) },
        lb_endpoints: es.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          health_status: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
          load_balancing_weight: { value: e.weight ?? 1 },
        })),
      };
    }),
  };
}

export function buildEndpoints(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const byHost = new Map<string, Endpoint[]>();
  for (const e of model.endpoints) {
    const list = byHost.get(e.hostname) ?? [];
    list.push(e);
    byHost.set(e.hostname, list);
  }
  const out: EnvoyResource[] = [];
  for (const svc of visibleServices(model, proxy)) {
    if (svc.resolution === 'DNS') continue;
    const dr = destinationRuleFor(model, svc.hostname, proxy.namespace);
    const eps = byHost.get(svc.hostname) ?? [];
    for (const port of svc.ports) {
      const forPort = eps.filter((e) => e.portName === port.name);
      out.push(loadAssignment(outboundClusterName(port.port, '', svc.hostname), forPort));
      for (const s of dr?.spec.subsets ?? []) {
        out.push(loadAssignment(outboundClusterName(port.port, s.name, svc.hostname), forPort.filter((e) => labelsMatch(s.labels, e.labels))));
      }
    }
  }
  return out;
}
