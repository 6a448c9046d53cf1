// PURE upgrade planning. All state that must survive an operator restart lives in the
// MeshConfig's status (installed revisions, active revision, the version the gateways run,
// inactiveSince timestamps, namespaces already rolled), so a killed operator resumes where
// it stopped: each pass recomputes the plan from status + live health and moves at most one
// step forward.
//
// Order: control plane (new revision side by side for RevisionBased; rolling update for
// InPlace) -> health gate -> gateways -> health gate -> data plane (Manual: report;
// Automatic: batches) -> cleanup of old revisions (no proxies left + grace period).
// A new revision that never becomes healthy never becomes active: the old one keeps
// serving, Degraded says why, and reverting spec.version rolls back.
import { parseDuration, revisionNameFor, versionSkew, type MeshConfigSpec, type MeshConfigStatus, type RevisionStatus } from '../api/meshconfig.js';
import type { RevisionToRender } from '../render/controlplane/render.js';

export type UpgradePhase = 'Installing' | 'ControlPlane' | 'Gateways' | 'DataPlane' | 'Cleanup' | 'Idle';

export interface ProxyCensus {
  /** Injected pods per revision label. */
  byRevision: Record<string, number>;
  /** Injected pods per proxy version. */
  byVersion: Record<string, number>;
  /** Namespace -> number of pods whose proxy is not (active revision, target version). */
  outdatedByNamespace: Record<string, number>;
}

export interface PlanInput {
  mcName: string;
  spec: MeshConfigSpec;
  status: MeshConfigStatus | undefined;
  /** Is this revision's control plane Deployment fully available at this version? */
  controlPlaneAvailable: (rev: string, version: string) => boolean;
  /** Are all gateway Deployments fully available at this version (true if there are none)? */
  gatewaysAvailable: (version: string) => boolean;
  /** Did the rollout of this revision's control plane fail (progress deadline exceeded)? */
  controlPlaneFailed: (rev: string) => boolean;
  census: ProxyCensus;
  nowMs: number;
}

export interface UpgradePlan {
  target: RevisionToRender;
  revisions: RevisionToRender[];
  statusRevisions: RevisionStatus[];
  activeRevision: string;
  gatewayVersion: string;
  /** Version whose control plane and gateways are fully rolled out. */
  rolledVersion: string | undefined;
  phase: UpgradePhase;
  upgrading: boolean;
  outdatedProxies: number;
  maxObservedSkew: number;
  degraded?: { reason: string; message: string };
  /** Earliest time a grace period ends, so the reconciler can requeue for it. */
  requeueAfterMs?: number;
}

export function planUpgrade(p: PlanInput): UpgradePlan {
  const target: RevisionToRender = { name: revisionNameFor(p.mcName, p.spec), version: p.spec.version };
  const prev = p.status?.revisions ?? [];
  const prevActive = p.status?.activeRevision;
  const fresh = prev.length === 0;
  const installed: RevisionStatus[] = [...prev.filter((r) => r.name !== target.name).map((r) => ({ ...r })), { name: target.name, version: target.version }];
  const cpHealthy = p.controlPlaneAvailable(target.name, target.version);
  const active = cpHealthy || !prevActive || !installed.some((r) => r.name === prevActive) ? target.name : prevActive;
  const activeRev = installed.find((r) => r.name === active)!;
  const prevGatewayVersion = p.status?.version ?? activeRev.version;
  const gatewayVersion = cpHealthy || fresh ? target.version : prevGatewayVersion;
  const gatewaysHealthy = p.gatewaysAvailable(target.version);

  // Inactive revisions: stamp inactiveSince, remove when unused and past the grace period.
  const graceMs = parseDuration(p.spec.updateStrategy?.revisionGracePeriod ?? '5m') ?? 300_000;
  const nowIso = new Date(p.nowMs).toISOString();
  let requeueAfterMs: number | undefined;
  const kept: RevisionStatus[] = [];
  for (const r of installed) {
    if (r.name === active || r.name === target.name) {
      kept.push({ name: r.name, version: r.version });
      continue;
    }
    const since = r.inactiveSince ?? nowIso;
    const age = p.nowMs - Date.parse(since);
    const inUse = (p.census.byRevision[r.name] ?? 0) > 0;
    if (!inUse && age >= graceMs && cpHealthy && gatewaysHealthy) continue; // removed
    if (!inUse) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(1000, graceMs - age));
    kept.push({ name: r.name, version: r.version, inactiveSince: since });
  }
  // Active revision first is not required; keep install order (old..new) for stable rendering.
  const outdatedProxies = Object.values(p.census.outdatedByNamespace).reduce((a, b) => a + b, 0);
  let maxObservedSkew = 0;
  for (const v of Object.keys(p.census.byVersion)) maxObservedSkew = Math.max(maxObservedSkew, versionSkew(v, target.version));
  if (!Number.isFinite(maxObservedSkew)) maxObservedSkew = 99;

  let phase: UpgradePhase;
  if (!cpHealthy) phase = fresh ? 'Installing' : 'ControlPlane';
  else if (!gatewaysHealthy) phase = fresh ? 'Installing' : 'Gateways';
  else if (outdatedProxies > 0) phase = 'DataPlane';
  else if (kept.length > 1) phase = 'Cleanup';
  else phase = 'Idle';
  const rolledVersion = cpHealthy && gatewaysHealthy ? target.version : p.status?.version;
  const upgrading = !fresh && phase !== 'Idle' && phase !== 'Installing';

  let degraded: UpgradePlan['degraded'];
  const maxSkew = p.spec.updateStrategy?.maxVersionSkew ?? 2;
  if (p.controlPlaneFailed(target.name)) {
    degraded = {
      reason: 'ControlPlaneRolloutFailed',
      message: `control plane revision ${target.name} (${target.version}) did not become available; ${active === target.name ? 'rolling update stopped with old pods serving' : `revision ${active} stays active`}. Fix the cause or revert spec.version to roll back.`,
    };
  } else if (maxObservedSkew > maxSkew) {
    degraded = { reason: 'VersionSkewExceeded', message: `proxies run versions ${Object.keys(p.census.byVersion).sort().join(', ')}; skew ${maxObservedSkew} to ${target.version} exceeds maxVersionSkew ${maxSkew}` };
  }

  return {
    target,
    revisions: kept.map((r) => ({ name: r.name, version: r.version })),
    statusRevisions: kept,
    activeRevision: active,
    gatewayVersion,
    rolledVersion,
    phase,
    upgrading,
    outdatedProxies,
    maxObservedSkew,
    ...(degraded ? { degraded } : {}),
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
  };
}

/** Next data-plane batch: namespaces with outdated proxies not yet rolled, sorted, batchSize of them. */
export function nextBatch(outdatedByNamespace: Record<string, number>, rolled: readonly string[], batchSize: number): string[] {
  return Object.keys(outdatedByNamespace)
    .filter((ns) => (outdatedByNamespace[ns] ?? 0) > 0 && !rolled.includes(ns))
    .sort()
    .slice(0, Math.max(1, batchSize));
}
