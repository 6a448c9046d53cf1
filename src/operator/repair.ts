// Repair controller for reconciled injection. Admission fails silently: a pod created while the
// webhook was down (or before its namespace was labeled) runs without a sidecar. This module
// finds such pods in injection-enabled namespaces, reports them (MeshConfig status.injection,
// a Warning Event on the owning workload, a log line) and, when spec.injection.repair=Restart,
// rollout-restarts the owning Deployment/StatefulSet/DaemonSet, rate-limited.
// planRepair() is pure (unit tested); RepairController does the I/O.
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { INJECTION_LABEL, REVISION_LABEL } from '../api/labels.js';
import { MESHCONFIG_DEFAULTS, revisionNameFor, type InjectionStatus, type MeshConfig, type RepairMode } from '../api/meshconfig.js';
import type { KubeRest } from '../kube/apply.js';
import type { Clock } from '../kube/workqueue.js';
import { jsonEqual } from './status.js';
import { podCensus } from '../render/inject/census.js';
import { DEFAULT_EXCLUDED_NAMESPACES, type InjectionPolicy } from '../render/inject/decide.js';

/** Pod-template annotation whose change makes the workload controller roll its pods. */
export const RESTARTED_AT_ANNOTATION = 'weft.dev/restartedAt';

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export function workloadKey(w: WorkloadRef): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

export interface RepairRevision {
  policy: InjectionPolicy;
  /** The proxy version this revision injects now (older ones are stale). */
  version: string;
}

export interface RepairLimits {
  /** At most this many workload restarts in any 60 s window. */
  maxRestartsPerMinute: number;
  /** A restarted workload is not restarted again for this long (its old pods linger while it rolls). */
  cooldownMs: number;
  /** Cap on the pod list written to status. */
  maxListedPods: number;
}

export const DEFAULT_REPAIR_LIMITS: Readonly<RepairLimits> = Object.freeze({ maxRestartsPerMinute: 5, cooldownMs: 5 * 60_000, maxListedPods: 50 });

export interface RepairInput {
  pods: readonly V1Pod[];
  /** Labels of every namespace the pods live in. */
  namespaceLabels: Readonly<Record<string, Readonly<Record<string, string>>>>;
  revisions: readonly RepairRevision[];
  /** "ns/replicaSetName" -> name of the Deployment that controls it. */
  replicaSetOwners: Readonly<Record<string, string>>;
  mode: RepairMode;
  nowMs: number;
  /** Restarts done earlier by this controller: workloadKey -> time. */
  history: Readonly<Record<string, number>>;
  limits?: Partial<RepairLimits>;
}

export interface MissingGroup {
  /** Undefined for pods with no restartable owner (bare pods, Jobs): reported only. */
  workload?: WorkloadRef;
  pods: string[];
}

export interface RepairPlan {
  status: InjectionStatus;
  /** Missing pods grouped by owning workload, sorted by workload key (unowned last). */
  groups: MissingGroup[];
  /** Workloads to rollout-restart now (mode Restart, within the rate limit). */
  restart: WorkloadRef[];
  /** Over the rate limit: restarted by a later scan. */
  deferred: WorkloadRef[];
  /** Restarted within the cooldown: left alone while they roll. */
  coolingDown: WorkloadRef[];
}

/** The controlling workload of a pod, following ReplicaSet -> Deployment. */
export function owningWorkload(pod: V1Pod, replicaSetOwners: Readonly<Record<string, string>>): WorkloadRef | undefined {
  const ns = pod.metadata?.namespace ?? '';
  const ctl = (pod.metadata?.ownerReferences ?? []).find((o) => o.controller === true);
  if (!ctl) return undefined;
  if (ctl.kind === 'ReplicaSet' && ctl.apiVersion === 'apps/v1') {
    const dep = replicaSetOwners[`${ns}/${ctl.name}`];
    return dep ? { kind: 'Deployment', namespace: ns, name: dep } : undefined;
  }
  if ((ctl.kind === 'StatefulSet' || ctl.kind === 'DaemonSet') && ctl.apiVersion === 'apps/v1') return { kind: ctl.kind, namespace: ns, name: ctl.name };
  return undefined;
}

/** Pure: pods + namespaces + revisions -> what to report and which workloads to restart. */
export function planRepair(input: RepairInput): RepairPlan {
  const limits: RepairLimits = { ...DEFAULT_REPAIR_LIMITS, ...(input.limits ?? {}) };
  const live = input.pods.filter((p) => !p.metadata?.deletionTimestamp);
  const labelsOf = (ns: string): Readonly<Record<string, string>> => input.namespaceLabels[ns] ?? {};
  let injected = 0;
  let stale = 0;
  const missing = new Set<string>();
  for (const r of input.revisions) {
    const c = podCensus(live, labelsOf, r.policy, r.version);
    injected += c.injected;
    stale += c.stale;
    for (const p of c.missingPods) missing.add(p);
  }
  const byKey = new Map<string, V1Pod>(live.map((p) => [`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`, p]));
  const groups = new Map<string, MissingGroup>();
  const UNOWNED = '~unowned';
  for (const key of [...missing].sort()) {
    const pod = byKey.get(key);
    const w = pod ? owningWorkload(pod, input.replicaSetOwners) : undefined;
    const gk = w ? workloadKey(w) : UNOWNED;
    const g = groups.get(gk) ?? (w ? { workload: w, pods: [] } : { pods: [] });
    g.pods.push(key);
    groups.set(gk, g);
  }
  const sortedGroups = [...groups.entries()].sort(([a], [b]) => (a === UNOWNED ? 1 : b === UNOWNED ? -1 : a.localeCompare(b))).map(([, g]) => g);

  const restart: WorkloadRef[] = [];
  const deferred: WorkloadRef[] = [];
  const coolingDown: WorkloadRef[] = [];
  if (input.mode === 'Restart') {
    const recent = Object.values(input.history).filter((t) => input.nowMs - t < 60_000).length;
    let budget = Math.max(0, limits.maxRestartsPerMinute - recent);
    for (const g of sortedGroups) {
      if (!g.workload) continue;
      const last = input.history[workloadKey(g.workload)];
      if (last !== undefined && input.nowMs - last < limits.cooldownMs) coolingDown.push(g.workload);
      else if (budget > 0) {
        restart.push(g.workload);
        budget--;
      } else deferred.push(g.workload);
    }
  }
  const all = [...missing].sort();
  const status: InjectionStatus = {
    injected,
    missing: missing.size,
    stale,
    missingPods: all.slice(0, limits.maxListedPods),
    ...(all.length > limits.maxListedPods ? { missingPodsTruncated: true } : {}),
  };
  return { status, groups: sortedGroups, restart, deferred, coolingDown };
}

/** The revisions of a MeshConfig to repair against: active one is the default revision. */
export function repairRevisionsFor(mc: MeshConfig, excludedNamespaces: readonly string[]): RepairRevision[] {
  const active = mc.status?.activeRevision ?? revisionNameFor(mc.metadata.name, mc.spec);
  const version = mc.spec.proxy?.version ?? mc.spec.version;
  const revs = mc.status?.revisions?.length ? mc.status.revisions : [{ name: active, version: mc.spec.version }];
  return revs.map((r) => ({
    policy: { revision: r.name, isDefaultRevision: r.name === active, excludedNamespaces },
    version: r.name === active ? version : r.version,
  }));
}

export interface RepairControllerOptions {
  rest: KubeRest;
  logger: Logger;
  clock: Clock;
  /** Extra label selector on namespaces (scopes the controller, e.g. in tests). */
  namespaceSelector?: string;
  /** Namespaces never repaired (system, mesh and operator namespaces). */
  excludedNamespaces?: readonly string[];
  limits?: Partial<RepairLimits>;
  /** Re-emit the "missing sidecar" Event for a workload at most this often. */
  eventIntervalMs?: number;
}

export interface RepairTarget {
  revisions: readonly RepairRevision[];
  mode: RepairMode;
}

export interface RepairResult extends RepairPlan {
  /** Workloads actually patched (a failed patch is logged and retried on a later scan). */
  restarted: WorkloadRef[];
}

interface NamespaceLike { metadata: { name: string; labels?: Record<string, string> } }
interface ReplicaSetLike { metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> } }

const WORKLOAD_RESOURCE: Readonly<Record<WorkloadKind, string>> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };

/** The effectful part: lists, reports (Events, log, status) and restarts. */
export class RepairController {
  private readonly o: RepairControllerOptions;
  /** workloadKey -> last restart time (drives cooldown and the per-minute limit). */
  private readonly history: Record<string, number> = {};
  private readonly reported = new Map<string, number>();
  private readonly restartedLog: string[] = [];

  constructor(o: RepairControllerOptions) {
    this.o = o;
  }

  private excluded(): readonly string[] {
    return this.o.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES;
  }

  /** One scan: list, plan, report, restart. */
  async scan(target: RepairTarget): Promise<RepairResult> {
    const log = this.o.logger;
    const rest = this.o.rest;
    const nsList = await rest.request<{ items: NamespaceLike[] }>('GET', '/api/v1/namespaces', this.o.namespaceSelector ? { query: { labelSelector: this.o.namespaceSelector } } : {});
    const excluded = new Set(this.excluded());
    // Only namespaces the webhook would select by namespace label (pod opt-in in unlabeled namespaces is not scanned).
    const meshed = nsList.items.filter((n) => !excluded.has(n.metadata.name) && (n.metadata.labels?.[INJECTION_LABEL] === 'enabled' || n.metadata.labels?.[REVISION_LABEL] !== undefined));
    const namespaceLabels: Record<string, Record<string, string>> = {};
    const pods: V1Pod[] = [];
    const replicaSetOwners: Record<string, string> = {};
    for (const ns of meshed) {
      const name = ns.metadata.name;
      namespaceLabels[name] = ns.metadata.labels ?? {};
      const list = await rest.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${name}/pods`);
      pods.push(...list.items);
      if (list.items.some((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'ReplicaSet'))) {
        const rss = await rest.request<{ items: ReplicaSetLike[] }>('GET', `/apis/apps/v1/namespaces/${name}/replicasets`);
        for (const rs of rss.items) {
          const dep = rs.metadata.ownerReferences?.find((o) => o.controller === true && o.kind === 'Deployment');
          if (dep) replicaSetOwners[`${name}/${rs.metadata.name}`] = dep.name;
        }
      }
    }
    const nowMs = this.o.clock.now();
    const plan = planRepair({ pods, namespaceLabels, revisions: target.revisions, replicaSetOwners, mode: target.mode, nowMs, history: this.history, ...(this.o.limits ? { limits: this.o.limits } : {}) });

    if (plan.status.missing > 0) {
      log.warn({ missing: plan.status.missing, pods: plan.status.missingPods, mode: target.mode }, 'pods without sidecar in injection-enabled namespaces');
    }
    const every = this.o.eventIntervalMs ?? 10 * 60_000;
    for (const g of plan.groups) {
      const key = g.workload ? workloadKey(g.workload) : `Pod/${g.pods[0] ?? ''}`;
      const last = this.reported.get(key);
      if (last !== undefined && nowMs - last < every) continue;
      this.reported.set(key, nowMs);
      const msg = `${g.pods.length} pod(s) without the weft-proxy sidecar (created while injection was unavailable?): ${g.pods.slice(0, 10).join(', ')}${target.mode === 'Restart' ? '' : '; set MeshConfig spec.injection.repair=Restart or restart the workload'}`;
      if (g.workload) await this.event(g.workload.kind, g.workload.namespace, g.workload.name, 'Warning', 'SidecarMissing', msg);
      else for (const p of g.pods) {
        const [ns, name] = p.split('/') as [string, string];
        await this.event('Pod', ns, name, 'Warning', 'SidecarMissing', 'pod has no weft-proxy sidecar and no restartable owner: delete and recreate it');
      }
    }

    const restarted: WorkloadRef[] = [];
    for (const w of plan.restart) {
      const at = new Date(nowMs).toISOString();
      try {
        await rest.request('PATCH', `/apis/apps/v1/namespaces/${w.namespace}/${WORKLOAD_RESOURCE[w.kind]}/${w.name}`, {
          body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at } } } } },
          contentType: 'application/merge-patch+json',
        });
        this.history[workloadKey(w)] = nowMs;
        this.restartedLog.push(workloadKey(w));
        if (this.restartedLog.length > 20) this.restartedLog.shift();
        restarted.push(w);
        log.info({ workload: workloadKey(w) }, 'rollout-restarted workload to inject missing sidecars');
        await this.event(w.kind, w.namespace, w.name, 'Normal', 'SidecarRepairRestart', `rollout restart by weft-operator (${RESTARTED_AT_ANNOTATION}=${at}) to inject the missing weft-proxy sidecar`);
      } catch (e) {
        log.warn({ workload: workloadKey(w), err: (e as Error).message }, 'repair restart failed; retrying on a later scan');
      }
    }
    if (plan.deferred.length > 0) log.info({ deferred: plan.deferred.map(workloadKey) }, 'repair restarts deferred by the rate limit');
    return { ...plan, restarted };
  }

  /** Scan for one MeshConfig and merge-patch status.injection when it changed. */
  async repairMeshConfig(mc: MeshConfig): Promise<RepairResult> {
    const mode = mc.spec.injection?.repair ?? MESHCONFIG_DEFAULTS.repair;
    const mesh = mc.spec.namespace ?? MESHCONFIG_DEFAULTS.namespace;
    const res = await this.scan({ revisions: repairRevisionsFor(mc, [...new Set([...this.excluded(), mesh])]), mode });
    const status: InjectionStatus = { ...res.status, ...(this.restartedLog.length ? { restarted: [...this.restartedLog] } : {}) };
    if (!jsonEqual(status, mc.status?.injection ?? {})) {
      // missingPodsTruncated/restarted are set explicitly so a merge patch clears stale values.
      await this.o.rest.request('PATCH', `/apis/operator.weft.dev/v1alpha1/meshconfigs/${mc.metadata.name}/status`, {
        body: { status: { injection: { ...status, missingPodsTruncated: status.missingPodsTruncated ?? null } } },
        contentType: 'application/merge-patch+json',
      });
    }
    return res;
  }

  private async event(kind: string, namespace: string, name: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.o.clock.now()).toISOString();
    try {
      await this.o.rest.request('POST', `/api/v1/namespaces/${namespace}/events`, {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${name}.${randomBytes(6).toString('hex')}`, namespace },
          involvedObject: { apiVersion: kind === 'Pod' ? 'v1' : 'apps/v1', kind, name, namespace },
          reason,
          message: message.slice(0, 1024),
          type,
          source: { component: 'weft-operator' },
          reportingComponent: 'weft-operator',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message, reason }, 'event write failed');
    }
  }
}
