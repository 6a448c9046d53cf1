// Pure status helpers: condition transitions (lastTransitionTime moves only when status
// changes), component health from Deployment status, and status equality so a no-op
// reconcile writes nothing.
import type { ComponentStatus, Condition, MeshConfigStatus } from '../api/meshconfig.js';
import type { KubeObject } from '../kube/apply.js';

export const CONDITION_TYPES = ['Reconciled', 'Ready', 'Upgrading', 'Degraded', 'CertificatesExpiringSoon', 'RootRotation', 'ConfigRejected'] as const;
/** Conditions whose Events the CA assessment emits itself (src/operator/ca-status.ts). */
export const CA_CONDITION_TYPES: readonly string[] = ['CertificatesExpiringSoon', 'RootRotation'];
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Merges new condition values into the old list. Pure; `now` is an RFC 3339 string. */
export function setConditions(old: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number | undefined, now: string): Condition[] {
  const byType = new Map((old ?? []).map((c) => [c.type, c]));
  const out: Condition[] = [];
  for (const n of next) {
    const prev = byType.get(n.type);
    out.push({
      type: n.type,
      status: n.status,
      reason: n.reason,
      message: n.message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: prev && prev.status === n.status ? prev.lastTransitionTime : now,
    });
    byType.delete(n.type);
  }
  // Keep conditions written by others (unknown types) untouched.
  for (const c of byType.values()) if (!(CONDITION_TYPES as readonly string[]).includes(c.type)) out.push(c);
  return out;
}

/** Transitions between two condition lists, for Events. */
export function conditionTransitions(old: readonly Condition[] | undefined, next: readonly Condition[]): Condition[] {
  const prev = new Map((old ?? []).map((c) => [c.type, c]));
  return next.filter((c) => {
    const p = prev.get(c.type);
    return !p || p.status !== c.status || p.reason !== c.reason;
  });
}

export function getCondition(status: MeshConfigStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

interface DeploymentLike extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

/** Health of one Deployment: Available only when the current generation is fully rolled out. */
export function deploymentHealth(d: KubeObject | undefined): { state: ComponentStatus['state']; ready: number; replicas: number; failed: boolean; message: string } {
  if (!d) return { state: 'Missing', ready: 0, replicas: 0, failed: false, message: 'not found' };
  const dep = d as DeploymentLike;
  const want = dep.spec?.replicas ?? 1;
  const st = dep.status ?? {};
  const ready = st.availableReplicas ?? 0;
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  const failed = progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded';
  const current = (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const rolled = current && (st.updatedReplicas ?? 0) >= want && (st.replicas ?? 0) <= want && ready >= want && (st.unavailableReplicas ?? 0) === 0;
  if (rolled) return { state: 'Available', ready, replicas: want, failed: false, message: `${ready}/${want} available` };
  if (failed) return { state: 'Unavailable', ready, replicas: want, failed, message: progressing?.message ?? 'progress deadline exceeded' };
  return { state: want === 0 ? 'Available' : 'Progressing', ready, replicas: want, failed: false, message: `${st.updatedReplicas ?? 0}/${want} updated, ${ready}/${want} available` };
}

/** Deep equality of two JSON values (status comparison), ignoring undefined members. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The JSON merge patch (RFC 7386) that turns `old` into `next`: members that disappeared
 * become null, objects are diffed recursively, anything else is replaced. Pure.
 */
export function mergePatchFor(old: unknown, next: unknown): unknown {
  if (next === undefined) return old === undefined ? undefined : null;
  if (!isPlainObject(old) || !isPlainObject(next)) return next;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(old)) if (old[k] !== undefined && next[k] === undefined) out[k] = null;
  for (const [k, v] of Object.entries(next)) if (v !== undefined) out[k] = mergePatchFor(old[k], v);
  return out;
}
