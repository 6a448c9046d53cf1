// Pure classification of pods for the reconciled-injection controller: admission alone fails
// silently (a pod created while the webhook was down has no sidecar), so the operator counts
// injected, missing and stale pods in meshed namespaces and reports them in status and metrics.
import type { V1Pod } from '@kubernetes/client-node';
import { decideInjection, type InjectionPolicy } from './decide.js';
import { parseInjectionStatus } from './inject.js';

export type PodInjectionState = 'injected' | 'missing' | 'stale' | 'notSelected';

export interface PodCensus {
  injected: number;
  missing: number;
  stale: number;
  /** ns/name of pods missing a sidecar, then stale ones: what a repair would restart. */
  missingPods: string[];
  stalePods: string[];
}

/** One pod's state given its namespace labels and the current version of its revision. */
export function podInjectionState(
  pod: V1Pod,
  namespaceLabels: Readonly<Record<string, string>>,
  policy: InjectionPolicy,
  currentVersion: string,
): PodInjectionState {
  const status = parseInjectionStatus(pod);
  if (status && status.revision === policy.revision) return status.version === currentVersion ? 'injected' : 'stale';
  if (status) return 'notSelected'; // injected by another revision: that revision's census counts it
  const ns = pod.metadata?.namespace ?? '';
  const d = decideInjection(pod, ns, namespaceLabels, policy);
  return d.inject ? 'missing' : 'notSelected';
}

/** Counts pods by state. Finished pods (Succeeded/Failed) are ignored: nothing to repair. */
export function podCensus(
  pods: readonly V1Pod[],
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>>,
  policy: InjectionPolicy,
  currentVersion: string,
): PodCensus {
  const out: PodCensus = { injected: 0, missing: 0, stale: 0, missingPods: [], stalePods: [] };
  for (const pod of pods) {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ns = pod.metadata?.namespace ?? '';
    const key = `${ns}/${pod.metadata?.name ?? ''}`;
    switch (podInjectionState(pod, namespaceLabels(ns), policy, currentVersion)) {
      case 'injected': out.injected++; break;
      case 'missing': out.missing++; out.missingPods.push(key); break;
      case 'stale': out.stale++; out.stalePods.push(key); break;
      case 'notSelected': break;
    }
  }
  out.missingPods.sort();
  out.stalePods.sort();
  return out;
}
