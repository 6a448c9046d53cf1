// Istio's localityLbSetting, per proxy (pure): endpoint priorities relative to the proxy's
// locality (failover, failoverPriority) and locality weights (distribute). Envoy then fails
// over between priorities by health with its overprovisioning factor; the proxy does the rest.
import type { DestinationRule, LocalityLoadBalancerSetting, TrafficPolicy } from '../../api/istio/types.js';
import type { Endpoint, Locality, MeshModel, ProxyContext } from '../model.js';

/** The special failoverPriority keys that compare localities rather than labels (Istio). */
const TOPOLOGY_KEYS: Record<string, keyof Locality> = {
  'topology.kubernetes.io/region': 'region',
  'topology.kubernetes.io/zone': 'zone',
  'topology.istio.io/subzone': 'subZone',
};

export function localityString(l: Locality | undefined): string {
  return `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subZone ?? ''}`;
}

/** Istio's LocalityMatch: `region[/zone[/subzone]]`, where `*` matches the rest. */
export function localityMatches(l: Locality | undefined, pattern: string): boolean {
  const parts = pattern.split('/');
  const have = [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
  for (let i = 0; i < parts.length && i < 3; i++) {
    if (parts[i] === '*') return true;
    if (parts[i] !== have[i]) return false;
  }
  return true;
}

/** Istio's LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
export function localityPriority(proxy: Locality, ep: Locality | undefined): number {
  if ((proxy.region ?? '') !== (ep?.region ?? '')) return 3;
  if ((proxy.zone ?? '') !== (ep?.zone ?? '')) return 2;
  if ((proxy.subZone ?? '') !== (ep?.subZone ?? '')) return 1;
  return 0;
}

/** Locality priority with region failover: outside the region, the `to` region of a matching `from` stays 3, others drop to 4. */
export function failoverPriority(proxy: Locality, ep: Locality | undefined, failover: LocalityLoadBalancerSetting['failover']): number {
  const p = localityPriority(proxy, ep);
  if (p !== 3) return p;
  const rule = (failover ?? []).find((f) => f.from === (proxy.region ?? ''));
  if (rule && (ep?.region ?? '') !== rule.to) return 4;
  return 3;
}

/** failoverPriority labels: endpoints matching all of the proxy's values get 0, one fewer leading match 1, ... */
export function labelPriority(keys: readonly string[], proxy: ProxyContext, ep: Endpoint): number {
  let matched = 0;
  for (const k of keys) {
    const topo = TOPOLOGY_KEYS[k];
    const mine = topo ? proxy.locality?.[topo] : proxy.labels[k];
    const theirs = topo ? ep.locality?.[topo] : ep.labels[k];
    if (mine === undefined || mine !== theirs) break;
    matched++;
  }
  return keys.length - matched;
}

/** What to do for one cluster and proxy: enabled failover and/or distribute, or nothing. */
export interface LocalityPlan {
  priorityOf?: (e: Endpoint) => number;
  /** Locality weight per locality string; localities absent from the map carry no traffic. */
  weights?: Map<string, number>;
}

/**
 * Istio's rules: locality LB is on unless `enabled: false`; `distribute` (when it has a rule
 * for the proxy's locality) sets locality weights; otherwise failover priorities apply, but
 * only with outlierDetection, which is what makes a failed locality's hosts unhealthy.
 * Nothing happens when the proxy's locality is unknown.
 */
export function localityPlan(policy: TrafficPolicy, proxy: ProxyContext, endpoints: readonly Endpoint[]): LocalityPlan {
  const setting = policy.loadBalancer?.localityLbSetting;
  const me = proxy.locality;
  if (setting?.enabled === false || !me) return {};
  const rule = (setting?.distribute ?? []).find((d) => d.from && localityMatches(me, d.from));
  if (rule) return { weights: distributeWeights(rule.to ?? {}, endpoints) };
  if (!policy.outlierDetection) return {};
  const keys = setting?.failoverPriority ?? [];
  if (keys.length > 0) return { priorityOf: (e) => labelPriority(keys, proxy, e) };
  return { priorityOf: (e) => failoverPriority(me, e.locality, setting?.failover) };
}

/**
 * Istio's applyLocalityWeights: each `to` pattern's weight is shared among the localities it
 * matches (first pattern wins a locality) in proportion to their endpoint weight, rounded up;
 * localities no pattern matches get no traffic. Patterns are visited in sorted order so the
 * result does not depend on map order.
 */
export function distributeWeights(to: Record<string, number>, endpoints: readonly Endpoint[]): Map<string, number> {
  const own = new Map<string, { locality: Locality | undefined; weight: number }>();
  for (const e of endpoints) {
    const k = localityString(e.locality);
    const g = own.get(k) ?? { locality: e.locality, weight: 0 };
    g.weight += e.weight ?? 1;
    own.set(k, g);
  }
  const out = new Map<string, number>();
  const taken = new Set<string>();
  for (const pattern of Object.keys(to).sort()) {
    const w = to[pattern] ?? 0;
    const hits = [...own.entries()].filter(([k, g]) => !taken.has(k) && localityMatches(g.locality, pattern));
    const total = hits.reduce((n, [, g]) => n + g.weight, 0);
    for (const [k, g] of hits) {
      taken.add(k);
      const share = Math.ceil((g.weight * w) / total);
      if (share > 0) out.set(k, share);
    }
  }
  return out;
}

function policyUsesLocality(p: TrafficPolicy | undefined): boolean {
  if (!p) return false;
  if (p.outlierDetection || (p.loadBalancer?.localityLbSetting?.distribute?.length ?? 0) > 0) return true;
  return (p.portLevelSettings ?? []).some((pl) => pl.outlierDetection || (pl.loadBalancer?.localityLbSetting?.distribute?.length ?? 0) > 0);
}

/**
 * Whether any DestinationRule makes EDS depend on the proxy's locality. When none does, the
 * control plane leaves the locality out of the translation key, so proxies in different
 * localities still share one translation.
 */
export function modelUsesLocality(model: MeshModel): boolean {
  return model.destinationRules.some((dr: DestinationRule) =>
    policyUsesLocality(dr.spec.trafficPolicy) || (dr.spec.subsets ?? []).some((s) => policyUsesLocality(s.trafficPolicy)));
}
