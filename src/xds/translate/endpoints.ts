// Model -> ClusterLoadAssignments, grouped by locality; subset clusters get only the
// endpoints whose labels match the subset.
import type { EnvoyResource } from '../../envoy/index.js';
import { labelsMatch, outboundClusterName, type Endpoint, type MeshModel, type ProxyContext } from '../model.js';
import { destinationRuleFor, effectivePolicy } from './clusters.js';
import { localityPlan, localityString, type LocalityPlan } from './locality.js';
import { visibleServices } from './scope.js';

/**
 * One LocalityLbEndpoints per (priority, locality). With a locality plan, priorities follow the
 * proxy's locality (failover) and locality weights follow `distribute` (unmatched localities dropped).
 */
export function loadAssignment(clusterName: string, endpoints: readonly Endpoint[], plan: LocalityPlan = {}): EnvoyResource {
  const groups = new Map<string, Endpoint[]>();
  const priorities = new Map<string, number>();
  for (const e of [...endpoints].sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port)) {
    const loc = localityString(e.locality);
    if (plan.weights && !plan.weights.has(loc)) continue;
    const p = plan.priorityOf?.(e) ?? 0;
    const k = `${String(p).padStart(3, '0')}|${loc}`;
    priorities.set(k, p);
    const g = groups.get(k) ?? [];
    g.push(e);
    groups.set(k, g);
  }
  // Envoy wants priorities 0..N without gaps (Istio compacts them the same way).
  const dense = new Map([...new Set(priorities.values())].sort((a, b) => a - b).map((p, i) => [p, i]));
  return {
    cluster_name: clusterName,
    endpoints: [...groups.keys()].sort().map((k) => {
      const es = groups.get(k)!;
      const priority = dense.get(priorities.get(k)!) ?? 0;
      const localityWeight = plan.weights?.get(localityString(es[0]!.locality));
      const l = es[0]!.locality ?? {};
      const locality: Record<string, string> = {};
      if (l.region) locality['region'] = l.region;
      if (l.zone) locality['zone'] = l.zone;
      if (l.subZone) locality['sub_zone'] = l.subZone;
      return {
        locality,
        // gRPC ignores localities without a weight.
        load_balancing_weight: { value: localityWeight ?? es.reduce((n, e) => n + (e.weight ?? 1), 0) },
        ...(priority > 0 ? { priority } : {}),
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
      out.push(loadAssignment(outboundClusterName(port.port, '', svc.hostname), forPort, localityPlan(effectivePolicy(dr, port.port), proxy, forPort)));
      for (const s of dr?.spec.subsets ?? []) {
        const subsetEps = forPort.filter((e) => labelsMatch(s.labels, e.labels));
        out.push(loadAssignment(outboundClusterName(port.port, s.name, svc.hostname), subsetEps, localityPlan(effectivePolicy(dr, port.port, s.name), proxy, subsetEps)));
      }
    }
  }
  return out;
}
