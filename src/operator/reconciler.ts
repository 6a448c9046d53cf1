// The MeshConfig reconciler. Level-based: reconcile(name) reads the MeshConfig and every
// owned object from the informer caches, plans the upgrade step (pure), renders the desired
// objects (pure), server-side-applies only what differs, prunes by ownership label what is
// no longer desired, and writes status once at the end (only if it changed). A pass with
// nothing to do makes no API writes at all.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { formatIssues } from '../api/validation.js';
import {
  COMPONENT_REVISION_LABEL,
  MESHCONFIG_API_VERSION,
  MESHCONFIG_FINALIZER,
  MESHCONFIG_KIND,
  MESHCONFIG_OWNER_LABEL,
  parseDuration,
  resolveMeshConfigSpec,
  ROTATE_ROOT_ANNOTATION,
  validateMeshConfig,
  type ComponentStatus,
  type MeshConfig,
  type MeshConfigStatus,
  type ResolvedMeshConfigSpec,
} from '../api/meshconfig.js';
import { INJECTION_STATUS_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_LABEL } from '../api/labels.js';
import { APPLIED_HASH_ANNOTATION, needsApply, objectKey, type KubeApplier, type KubeObject, type TypeRef } from '../kube/apply.js';
import type { Informer } from '../kube/informer.js';
import type { Clock } from '../kube/workqueue.js';
import { controlPlaneName, gatewayName, renderControlPlane, stableHash, type RenderedObject } from '../render/controlplane/render.js';
import { CA_CONDITION_TYPES, conditionTransitions, deploymentHealth, jsonEqual, mergePatchFor, setConditions, type ConditionInput, type ConditionType } from './status.js';
import { configRejectedCondition } from './config-rejected.js';
import { REJECTIONS_CONFIGMAP } from '../api/rejections.js';
import { assessCa, caSecretFacts, DEFAULT_STUCK_AFTER_MS, type CaAssessment, type CaSecretFacts, type SecretInput } from './ca-status.js';
import { PLUGGED_CA_SECRET, SELF_SIGNED_CA_SECRET } from '../ca/authority.js';
import { ROTATION_REQUEST_ANNOTATION } from '../ca/rotation-contract.js';
import { errorMessage } from '../errors/errors.js';
import { nextBatch, planUpgrade, type ProxyCensus } from './upgrade.js';
import { judgeHealthGate, summarize, type MetricsSource } from './healthgate.js';

export const MESHCONFIG_TYPE: TypeRef = { apiVersion: MESHCONFIG_API_VERSION, kind: MESHCONFIG_KIND };
export const RESTARTED_AT_ANNOTATION = 'operator.weft.dev/restartedAt';

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** A reconcile error that retrying cannot fix (bad input); the queue forgets the key. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ReconcilerCaches {
  meshConfigs: Informer<MeshConfig & KubeObject>;
  /** One informer per OWNED_KINDS entry, keyed "apiVersion/kind", selecting managed-by=weft-operator. */
  owned: Map<string, Informer<KubeObject>>;
  /** Injected pods (label weft.dev/rev exists). */
  pods: Informer<KubeObject>;
}

export interface ReconcilerOptions {
  applier: KubeApplier;
  caches: ReconcilerCaches;
  logger: Logger;
  clock: Clock;
  operatorNamespace: string;
  webhookUrl?: string;
  caBundle?: string;
  /** Health poll interval while something is converging. */
  pollMs?: number;
  /** Proxy metrics for the data-plane health gate; without it the gate is availability only. */
  metricsSource?: MetricsSource;
  /** CA Secret re-check interval while a root rotation is running or requested. Default 5 s. */
  rotationPollMs?: number;
  /** A rotation stage unchanged this long with lagging proxies is reported stuck. Default 5 min. */
  rotationStuckMs?: number;
  /** CA expiry re-check interval otherwise. Default 1 h. */
  caCheckMs?: number;
}

const SECRET_TYPE: TypeRef = { apiVersion: 'v1', kind: 'Secret' };
const CONFIGMAP_TYPE: TypeRef = { apiVersion: 'v1', kind: 'ConfigMap' };

export interface ReconcileStats {
  applied: number;
  pruned: number;
  statusWrites: number;
  skippedApplies: number;
}

function typeKey(t: TypeRef): string {
  return `${t.apiVersion}/${t.kind}`;
}

function cacheKeyOf(o: { metadata: { name: string; namespace?: string } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** Adds the applied-hash annotation (hash of the object without it). Pure. */
export function withAppliedHash(o: RenderedObject): KubeObject {
  const hash = stableHash(o);
  return { ...o, metadata: { ...o.metadata, annotations: { ...(o.metadata.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: hash } } } as KubeObject;
}

const TEARDOWN_ORDER: readonly TypeRef[] = [
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Namespace' },
];

export class MeshConfigReconciler {
  private readonly o: ReconcilerOptions;
  readonly stats: ReconcileStats = { applied: 0, pruned: 0, statusWrites: 0, skippedApplies: 0 };

  constructor(opts: ReconcilerOptions) {
    this.o = opts;
  }

  private owned(mcName: string, t: TypeRef): KubeObject[] {
    const inf = this.o.caches.owned.get(typeKey(t));
    if (!inf) return [];
    return inf.list().filter((o) => o.metadata.labels?.[MESHCONFIG_OWNER_LABEL] === mcName && o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE);
  }

  private live(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): KubeObject | undefined {
    return this.o.caches.owned.get(typeKey(o))?.get(cacheKeyOf(o));
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const mc = this.o.caches.meshConfigs.get(name);
    if (!mc) return {};
    const log = this.o.logger.child({ meshconfig: name, generation: mc.metadata.generation });
    if (mc.metadata.deletionTimestamp) return await this.teardown(mc, log);

    if (!(mc.metadata.finalizers ?? []).includes(MESHCONFIG_FINALIZER)) {
      await this.o.applier.mergePatch(MESHCONFIG_TYPE, name, undefined, {
        metadata: { finalizers: [...(mc.metadata.finalizers ?? []), MESHCONFIG_FINALIZER], resourceVersion: mc.metadata.resourceVersion },
      });
      // The update event requeues us with the finalizer in place.
      return {};
    }

    const issues = validateMeshConfig(mc);
    if (issues.length > 0) {
      // Terminal for this generation: touch no owned object, explain in status, do not retry.
      log.warn({ issues: issues.length }, 'invalid MeshConfig spec');
      await this.writeStatus(mc, {
        ...(mc.status ?? {}),
        observedGeneration: mc.metadata.generation,
        conditions: setConditions(
          mc.status?.conditions,
          [
            { type: 'Reconciled', status: 'False', reason: 'InvalidSpec', message: formatIssues(issues) },
            { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message: `spec rejected, existing objects left unchanged: ${formatIssues(issues)}` },
            this.carry(mc, 'Ready'),
            this.carry(mc, 'Upgrading'),
            ...this.carryIfPresent(mc, 'CertificatesExpiringSoon'),
            ...this.carryIfPresent(mc, 'RootRotation'),
            ...this.carryIfPresent(mc, 'ConfigRejected'),
          ],
          mc.metadata.generation,
          this.now(),
        ),
      });
      return {};
    }

    const spec = resolveMeshConfigSpec(mc.spec);
    const census = this.census(mc, spec.namespace);
    const deployments = (n: string): KubeObject | undefined => this.live({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: n, namespace: spec.namespace } });
    const atVersion = (d: KubeObject | undefined, v: string): boolean =>
      !!d && d.metadata.labels?.['app.kubernetes.io/version'] === v && (d as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template?.metadata?.labels?.['app.kubernetes.io/version'] === v;
    const plan = planUpgrade({
      mcName: name,
      spec: mc.spec,
      status: mc.status,
      controlPlaneAvailable: (rev, v) => {
        const d = deployments(controlPlaneName(rev));
        return atVersion(d, v) && deploymentHealth(d).state === 'Available';
      },
      gatewaysAvailable: (v) =>
        spec.gateways.every((g) => {
          const d = deployments(gatewayName(g.name));
          return atVersion(d, v) && deploymentHealth(d).state === 'Available';
        }),
      controlPlaneFailed: (rev) => deploymentHealth(deployments(controlPlaneName(rev))).failed,
      census,
      nowMs: this.o.clock.now(),
    });

    const desired = renderControlPlane(mc, {
      operatorNamespace: this.o.operatorNamespace,
      ...(this.o.webhookUrl ? { webhookUrl: this.o.webhookUrl } : {}),
      ...(this.o.caBundle ? { caBundle: this.o.caBundle } : {}),
      revisions: plan.revisions,
      activeRevision: plan.activeRevision,
      gatewayVersion: plan.gatewayVersion,
    }).map(withAppliedHash);

    // Apply what differs.
    const applyErrors: string[] = [];
    const applied = new Map<string, KubeObject>();
    for (const obj of desired) {
      if (!needsApply(obj, this.live(obj))) {
        this.stats.skippedApplies++;
        continue;
      }
      try {
        applied.set(objectKey(obj), await this.o.applier.apply(obj));
        this.stats.applied++;
      } catch (e) {
        applyErrors.push(`${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}: ${(e as Error).message}`);
      }
    }

    // Prune what is owned (by label) but no longer desired; webhooks first.
    const want = new Set(desired.map(objectKey));
    let pruned = 0;
    if (applyErrors.length === 0) {
      for (const t of TEARDOWN_ORDER) {
        for (const o of this.owned(name, t)) {
          const withType = { ...o, apiVersion: t.apiVersion, kind: t.kind };
          if (want.has(objectKey(withType)) || o.metadata.deletionTimestamp) continue;
          if (t.kind === 'Namespace' && o.metadata.name === this.o.operatorNamespace) continue;
          await this.o.applier.delete(t, o.metadata.name, o.metadata.namespace);
          pruned++;
          this.stats.pruned++;
          log.info({ kind: t.kind, name: o.metadata.name, namespace: o.metadata.namespace }, 'pruned');
        }
      }
    }

    // Data plane (Automatic): one batch per pass, gated on the previous batch's health.
    // Namespaces rolled belong to one target: a new spec.version starts a fresh rollout, even if
    // the last one never went Idle (a bare Pod that nothing restarts keeps proxies outdated).
    const rolloutTarget = `${plan.target.name}@${plan.target.version}`;
    const sameTarget = (mc.status?.dataPlane?.rolloutTarget ?? rolloutTarget) === rolloutTarget;
    let dataPlane = sameTarget ? (mc.status?.dataPlane?.rolledNamespaces ?? []) : [];
    let gateFailure: string | undefined;
    let gateRequeueMs: number | undefined;
    if (plan.phase === 'DataPlane' && spec.updateStrategy.dataPlaneRollout.mode === 'Automatic') {
      const res = await this.rollDataPlane(mc, spec, plan.activeRevision, census, dataPlane);
      dataPlane = res.rolled;
      gateFailure = res.gateFailure;
      gateRequeueMs = res.requeueAfterMs;
    } else if (plan.phase === 'Idle') dataPlane = [];

    // Components (from the post-apply object if we just applied it, else the cache).
    const components: ComponentStatus[] = [];
    const depHealth = (n: string, rev: string, version: string): ComponentStatus => {
      const key = `apps/v1/Deployment/${spec.namespace}/${n}`;
      const d = applied.get(key) ?? deployments(n);
      const h = deploymentHealth(d);
      return { name: n, kind: 'Deployment', namespace: spec.namespace, revision: rev, version, state: h.state, readyReplicas: h.ready, replicas: h.replicas };
    };
    for (const r of plan.revisions) components.push(depHealth(controlPlaneName(r.name), r.name, r.version));
    for (const g of spec.gateways) components.push(depHealth(gatewayName(g.name), plan.activeRevision, plan.gatewayVersion));
    const activeCp = components.find((c) => c.name === controlPlaneName(plan.activeRevision));
    const allAvailable = components.filter((c) => c.revision === plan.activeRevision).every((c) => c.state === 'Available') && activeCp?.state === 'Available';
    const notReady = components.filter((c) => c.state !== 'Available');

    const conds: ConditionInput[] = [];
    if (applyErrors.length > 0) conds.push({ type: 'Reconciled', status: 'False', reason: 'ApplyFailed', message: applyErrors.join('; ') });
    else conds.push({ type: 'Reconciled', status: 'True', reason: 'Applied', message: `${desired.length} objects in sync${pruned ? `, ${pruned} pruned` : ''}` });
    conds.push(
      allAvailable
        ? { type: 'Ready', status: 'True', reason: 'ComponentsAvailable', message: `all ${components.length} components available` }
        : { type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message: notReady.map((c) => `${c.name}: ${c.state} (${c.readyReplicas ?? 0}/${c.replicas ?? 0})`).join(', ') || 'waiting for components' },
    );
    conds.push(
      plan.upgrading
        ? { type: 'Upgrading', status: 'True', reason: `Phase${plan.phase}`, message: `upgrading to ${plan.target.version}: phase ${plan.phase}${plan.phase === 'DataPlane' ? `, ${plan.outdatedProxies} proxies outdated` : ''}` }
        : { type: 'Upgrading', status: 'False', reason: plan.phase === 'Installing' ? 'Installing' : 'UpToDate', message: `control plane ${plan.target.version}` },
    );
    const ca = await this.checkCa(mc, spec.namespace, log);
    conds.push(...ca.conditions);
    conds.push(configRejectedCondition(await this.o.applier.get(CONFIGMAP_TYPE, REJECTIONS_CONFIGMAP, spec.namespace).catch(() => undefined) as { data?: Record<string, string> } | undefined));

    const degraded = gateFailure ? { reason: 'HealthGateFailed', message: gateFailure } : applyErrors.length ? { reason: 'ApplyFailed', message: applyErrors.join('; ') } : plan.degraded;
    conds.push(degraded ? { type: 'Degraded', status: 'True', ...degraded } : { type: 'Degraded', status: 'False', reason: 'Healthy', message: 'no problems detected' });

    const status: MeshConfigStatus = {
      observedGeneration: mc.metadata.generation,
      conditions: setConditions(mc.status?.conditions, conds, mc.metadata.generation, this.now()),
      components,
      activeRevision: plan.activeRevision,
      revisions: plan.statusRevisions,
      inactiveRevisions: plan.statusRevisions.filter((r) => r.name !== plan.activeRevision),
      ...(plan.rolledVersion ? { version: plan.rolledVersion } : {}),
      upgradePhase: plan.phase,
      dataPlane: {
        proxiesByVersion: census.byVersion,
        outdatedProxies: plan.outdatedProxies,
        maxObservedSkew: plan.maxObservedSkew,
        rolledNamespaces: dataPlane,
        rolloutTarget,
      },
      // Owned by the repair controller (src/operator/repair.ts): carried so this write is a no-op for it.
      ...(mc.status?.injection ? { injection: mc.status.injection } : {}),
      ...(ca.rootRotation ? { rootRotation: ca.rootRotation } : {}),
    };
    await this.writeStatus(mc, status);
    for (const e of ca.events) await this.event(mc, e.type, e.reason, e.message.slice(0, 1024));

    if (applyErrors.length > 0) throw new Error(`apply failed: ${applyErrors.join('; ')}`);
    const converging = !allAvailable || plan.phase !== 'Idle';
    const poll = converging ? (this.o.pollMs ?? 2000) : undefined;
    const caRecheck = ca.active ? (this.o.rotationPollMs ?? 5000) : (this.o.caCheckMs ?? 3_600_000);
    const after = [poll, plan.requeueAfterMs, gateRequeueMs, caRecheck].filter((x): x is number => x !== undefined);
    return { requeueAfterMs: Math.min(...after) };
  }

  private carry(mc: MeshConfig, type: 'Ready' | 'Upgrading'): ConditionInput {
    const c = mc.status?.conditions?.find((x) => x.type === type);
    return c ? { type, status: c.status, reason: c.reason, message: c.message } : { type, status: 'Unknown', reason: 'NotReconciled', message: 'spec is invalid' };
  }

  /** Keeps a condition as it was (invalid spec: the CA was not re-checked), if it exists. */
  private carryIfPresent(mc: MeshConfig, type: ConditionType): ConditionInput[] {
    const c = mc.status?.conditions?.find((x) => x.type === type);
    return c ? [{ type, status: c.status, reason: c.reason, message: c.message }] : [];
  }

  /**
   * Reads the CA Secret of the mesh namespace (cacerts wins over weft-ca-secret), decides the
   * CA conditions and status.rootRotation, and writes the rotation request annotation when a
   * rotation is due or asked for. Never throws: a failure becomes an Unknown condition.
   */
  private async checkCa(mc: MeshConfig, namespace: string, log: Logger): Promise<CaAssessment> {
    let facts: CaSecretFacts | undefined;
    let lookupError: string | undefined;
    for (const name of [PLUGGED_CA_SECRET, SELF_SIGNED_CA_SECRET]) {
      try {
        const s = await this.o.applier.get(SECRET_TYPE, name, namespace);
        if (s) {
          facts = caSecretFacts(s as SecretInput);
          break;
        }
      } catch (e) {
        lookupError = `cannot read Secret ${namespace}/${name}: ${errorMessage(e)}`;
        break;
      }
    }
    const token = mc.metadata.annotations?.[ROTATE_ROOT_ANNOTATION];
    const ca = assessCa({
      ...(facts ? { facts } : {}),
      namespace,
      ...(lookupError ? { lookupError } : {}),
      ...(token ? { rotateRootToken: token } : {}),
      ...(mc.status?.conditions ? { previousConditions: mc.status.conditions } : {}),
      ...(mc.status?.rootRotation ? { previous: mc.status.rootRotation } : {}),
      nowMs: this.o.clock.now(),
      stuckAfterMs: this.o.rotationStuckMs ?? DEFAULT_STUCK_AFTER_MS,
    });
    if (ca.writeRequest && facts) {
      try {
        await this.o.applier.mergePatch(SECRET_TYPE, facts.name, namespace, { metadata: { annotations: { [ROTATION_REQUEST_ANNOTATION]: ca.writeRequest.token } } });
        log.info({ secret: `${namespace}/${facts.name}`, token: ca.writeRequest.token, why: ca.writeRequest.why }, 'root rotation requested');
      } catch (e) {
        log.warn({ secret: `${namespace}/${facts.name}`, err: errorMessage(e) }, 'cannot write the root rotation request; retrying soon');
        const prev = mc.status?.rootRotation;
        return { conditions: ca.conditions, ...(prev ? { rootRotation: prev } : {}), events: ca.events.filter((x) => x.reason !== 'RootRotationRequested'), active: true };
      }
    }
    return ca;
  }

  private now(): string {
    return new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** Counts injected pods by revision and version, and outdated pods per namespace. */
  private census(mc: MeshConfig, _meshNamespace: string): ProxyCensus {
    const targetVersion = mc.spec.proxy?.version ?? mc.spec.version;
    const byRevision: Record<string, number> = {};
    const byVersion: Record<string, number> = {};
    const outdatedByNamespace: Record<string, number> = {};
    const active = mc.status?.activeRevision;
    const known = new Set((mc.status?.revisions ?? []).map((r) => r.name));
    for (const p of this.o.caches.pods.list()) {
      const rev = p.metadata.labels?.[REVISION_LABEL];
      if (!rev || (!known.has(rev) && rev !== active)) continue;
      if (p.metadata.deletionTimestamp) continue;
      let version = 'unknown';
      try {
        version = (JSON.parse(p.metadata.annotations?.[INJECTION_STATUS_ANNOTATION] ?? '{}') as { version?: string }).version ?? 'unknown';
      } catch {
        /* unreadable status annotation: counted as unknown */
      }
      byRevision[rev] = (byRevision[rev] ?? 0) + 1;
      byVersion[version] = (byVersion[version] ?? 0) + 1;
      if (version !== targetVersion || (active !== undefined && rev !== active)) {
        const ns = p.metadata.namespace ?? '';
        outdatedByNamespace[ns] = (outdatedByNamespace[ns] ?? 0) + 1;
      }
    }
    return { byRevision, byVersion, outdatedByNamespace };
  }

  /**
   * One data-plane step: if the namespaces rolled so far pass the health gate, move the next
   * batch (relabel pinned namespaces to the active revision, then rollout-restart their
   * Deployments). The gate: every Deployment in the rolled namespaces is available; then, if a
   * MetricsSource is configured, once the observation window has passed since the latest
   * restart, the restarted proxies' success rate and p99 latency meet the thresholds.
   */
  private async rollDataPlane(
    mc: MeshConfig,
    spec: ResolvedMeshConfigSpec,
    activeRevision: string,
    census: ProxyCensus,
    rolled: string[],
  ): Promise<{ rolled: string[]; gateFailure?: string; requeueAfterMs?: number }> {
    const ro = spec.updateStrategy.dataPlaneRollout;
    const deps = async (ns: string): Promise<KubeObject[]> => (await this.o.applier.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { namespace: ns })).items;
    let latestRestart = 0;
    for (const ns of rolled) {
      for (const d of await deps(ns)) {
        const h = deploymentHealth(d);
        if (h.failed) return { rolled, gateFailure: `health gate failed in namespace ${ns}: Deployment ${d.metadata.name}: ${h.message}; data-plane rollout paused` };
        if (h.state !== 'Available') return { rolled }; // still rolling: wait
        const at = (d as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }).spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
        if (at) latestRestart = Math.max(latestRestart, Date.parse(at));
      }
    }
    if (this.o.metricsSource && rolled.length > 0) {
      const windowMs = parseDuration(ro.healthGate.observationWindow) ?? 30_000;
      const wait = latestRestart + windowMs - this.o.clock.now();
      if (wait > 0) return { rolled, requeueAfterMs: wait };
      const pods = this.o.caches.pods
        .list()
        .filter((p) => rolled.includes(p.metadata.namespace ?? '') && !p.metadata.deletionTimestamp)
        .map((p) => ({ namespace: p.metadata.namespace ?? '', name: p.metadata.name, podIP: (p as { status?: { podIP?: string } }).status?.podIP ?? '' }))
        .filter((p) => p.podIP)
        .slice(0, 50); // bounded
      const source = this.o.metricsSource;
      const scrapes = await Promise.all(pods.map((p) => source.scrape(p).catch(() => '')));
      const verdict = judgeHealthGate(summarize(scrapes), ro.healthGate);
      if (!verdict.ok) return { rolled, gateFailure: `health gate failed for namespaces ${rolled.join(', ')}: ${verdict.message}; data-plane rollout paused` };
    }
    const batch = nextBatch(census.outdatedByNamespace, rolled, ro.batchSize);
    if (batch.length === 0) return { rolled };
    const stamp = new Date(this.o.clock.now()).toISOString();
    for (const ns of batch) {
      const nsObj = await this.o.applier.get({ apiVersion: 'v1', kind: 'Namespace' }, ns);
      const revLabel = spec.injection.revisionLabel;
      const pinned = nsObj?.metadata.labels?.[revLabel];
      if (pinned !== undefined && pinned !== activeRevision) {
        await this.o.applier.mergePatch({ apiVersion: 'v1', kind: 'Namespace' }, ns, undefined, { metadata: { labels: { [revLabel]: activeRevision } } });
      }
      for (const d of await deps(ns)) {
        await this.o.applier.mergePatch({ apiVersion: 'apps/v1', kind: 'Deployment' }, d.metadata.name, ns, {
          spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: stamp } } } },
        });
      }
      this.o.logger.info({ namespace: ns, revision: activeRevision, meshconfig: mc.metadata.name }, 'data-plane batch restarted');
    }
    return { rolled: [...rolled, ...batch] };
  }

  private async writeStatus(mc: MeshConfig, status: MeshConfigStatus): Promise<void> {
    if (jsonEqual(mc.status ?? {}, status)) return;
    // status is written as a merge patch: keys that went away must be nulled, or they stay forever
    // (status.rootRotation fields; versions gone from status.dataPlane.proxiesByVersion).
    const rootRotation = mergePatchFor(mc.status?.rootRotation, status.rootRotation);
    const dataPlane = mergePatchFor(mc.status?.dataPlane, status.dataPlane);
    await this.o.applier.patchStatus(MESHCONFIG_TYPE, mc.metadata.name, undefined, {
      ...status, ...(rootRotation === undefined ? {} : { rootRotation }), ...(dataPlane === undefined ? {} : { dataPlane }),
    });
    this.stats.statusWrites++;
    for (const c of conditionTransitions(mc.status?.conditions, status.conditions ?? [])) {
      if (CA_CONDITION_TYPES.includes(c.type)) continue; // checkCa emits its own Events
      await this.event(mc, c.type === 'Degraded' ? (c.status === 'True' ? 'Warning' : 'Normal') : c.status === 'False' && c.type !== 'Upgrading' ? 'Warning' : 'Normal', `${c.type}${c.status === 'True' ? '' : c.status === 'False' ? 'False' : 'Unknown'}`, `${c.reason}: ${c.message}`.slice(0, 1024));
    }
  }

  /** Emits a core/v1 Event about the MeshConfig (cluster-scoped objects' events live in "default"). */
  private async event(mc: MeshConfig, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.o.clock.now()).toISOString();
    try {
      await this.o.applier.rest.request('POST', '/api/v1/namespaces/default/events', {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${mc.metadata.name}.${randomBytes(6).toString('hex')}`, namespace: 'default' },
          involvedObject: { apiVersion: MESHCONFIG_API_VERSION, kind: MESHCONFIG_KIND, name: mc.metadata.name, uid: mc.metadata.uid },
          reason,
          message,
          type,
          source: { component: 'weft-operator' },
          reportingComponent: 'weft-operator',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message }, 'event write failed');
    }
  }

  /** Ordered teardown behind the finalizer: webhooks first, then workloads, then the rest. */
  private async teardown(mc: MeshConfig, log: Logger): Promise<ReconcileResult> {
    if (!(mc.metadata.finalizers ?? []).includes(MESHCONFIG_FINALIZER)) return {};
    let remaining = 0;
    for (const t of TEARDOWN_ORDER) {
      const items = (await this.o.applier.list(t, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${MESHCONFIG_OWNER_LABEL}=${mc.metadata.name}` })).items;
      for (const o of items) {
        if (t.kind === 'Namespace' && o.metadata.name === this.o.operatorNamespace) continue;
        remaining++;
        if (!o.metadata.deletionTimestamp) {
          await this.o.applier.delete(t, o.metadata.name, o.metadata.namespace, 'Background');
          log.info({ kind: t.kind, name: o.metadata.name }, 'teardown: deleted');
        }
      }
      // Webhooks must be gone before anything else goes, so no admission call hits a dying server.
      if (remaining > 0 && t.kind.endsWith('WebhookConfiguration')) return { requeueAfterMs: 200 };
    }
    if (remaining > 0) return { requeueAfterMs: 500 };
    await this.o.applier.mergePatch(MESHCONFIG_TYPE, mc.metadata.name, undefined, {
      metadata: { finalizers: (mc.metadata.finalizers ?? []).filter((f) => f !== MESHCONFIG_FINALIZER), resourceVersion: mc.metadata.resourceVersion },
    });
    log.info({}, 'teardown complete, finalizer removed');
    return {};
  }
}

export { COMPONENT_REVISION_LABEL };
