import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { conditionTransitions, deploymentHealth, jsonEqual, setConditions } from '../../../src/operator/status.js';
import { nextBatch, planUpgrade, type PlanInput } from '../../../src/operator/upgrade.js';
import { MESHCONFIG_DEFAULTS, resolveMeshConfigSpec, validateMeshConfig, type MeshConfigSpec } from '../../../src/api/meshconfig.js';
import type { KubeObject } from '../../../src/kube/apply.js';
import { repoRoot } from '../../helpers/paths.js';

describe('status conditions', () => {
  it('keeps lastTransitionTime when status does not change, moves it when it does', () => {
    const t1 = setConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message: 'x' }], 1, 'T1');
    expect(t1[0]).toEqual({ type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message: 'x', observedGeneration: 1, lastTransitionTime: 'T1' });
    const t2 = setConditions(t1, [{ type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message: 'y' }], 2, 'T2');
    expect(t2[0]?.lastTransitionTime).toBe('T1');
    expect(t2[0]?.observedGeneration).toBe(2);
    const t3 = setConditions(t2, [{ type: 'Ready', status: 'True', reason: 'ComponentsAvailable', message: 'ok' }], 2, 'T3');
    expect(t3[0]?.lastTransitionTime).toBe('T3');
    expect(conditionTransitions(t2, t3).map((c) => c.type)).toEqual(['Ready']);
    expect(conditionTransitions(t1, t2)).toEqual([]);
  });
  it('keeps foreign condition types', () => {
    const out = setConditions([{ type: 'Custom', status: 'True', reason: 'r', message: 'm', lastTransitionTime: 'T0' }], [{ type: 'Ready', status: 'True', reason: 'a', message: 'b' }], 1, 'T1');
    expect(out.map((c) => c.type)).toEqual(['Ready', 'Custom']);
  });
  it('judges Deployment health by generation and replicas', () => {
    const d = (status: Record<string, unknown>, generation = 2): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', generation }, spec: { replicas: 2 }, status });
    expect(deploymentHealth(undefined).state).toBe('Missing');
    expect(deploymentHealth(d({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).state).toBe('Available');
    expect(deploymentHealth(d({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).state).toBe('Progressing');
    expect(deploymentHealth(d({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 })).state).toBe('Progressing');
    const failed = deploymentHealth(d({ observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' }] }));
    expect(failed).toMatchObject({ state: 'Unavailable', failed: true, message: 'too slow' });
  });
  it('compares status JSON ignoring undefined members', () => {
    expect(jsonEqual({ a: 1, b: undefined, c: [1, { d: 2 }] }, { c: [1, { d: 2 }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: [1] }, { a: [1, 2] })).toBe(false);
  });
});

describe('planUpgrade', () => {
  const census = { byRevision: {}, byVersion: {}, outdatedByNamespace: {} };
  const base = (spec: MeshConfigSpec, over: Partial<PlanInput> = {}): PlanInput => ({
    mcName: 'default',
    spec,
    status: undefined,
    controlPlaneAvailable: () => false,
    gatewaysAvailable: () => false,
    controlPlaneFailed: () => false,
    census,
    nowMs: Date.parse('2026-01-01T00:00:00Z'),
    ...over,
  });

  it('fresh install renders the target as active and reports Installing', () => {
    const p = planUpgrade(base({ version: '1.0.0' }));
    expect(p).toMatchObject({ activeRevision: 'default', gatewayVersion: '1.0.0', phase: 'Installing', upgrading: false });
    expect(p.revisions).toEqual([{ name: 'default', version: '1.0.0' }]);
  });

  it('InPlace: control plane first, gateways wait for it, then Idle', () => {
    const status = { revisions: [{ name: 'default', version: '1.0.0' }], activeRevision: 'default', version: '1.0.0' };
    const cp = planUpgrade(base({ version: '1.1.0' }, { status }));
    expect(cp).toMatchObject({ phase: 'ControlPlane', gatewayVersion: '1.0.0', upgrading: true, revisions: [{ name: 'default', version: '1.1.0' }] });
    const gw = planUpgrade(base({ version: '1.1.0' }, { status, controlPlaneAvailable: (_r, v) => v === '1.1.0' }));
    expect(gw).toMatchObject({ phase: 'Gateways', gatewayVersion: '1.1.0', rolledVersion: '1.0.0' });
    const done = planUpgrade(base({ version: '1.1.0' }, { status, controlPlaneAvailable: () => true, gatewaysAvailable: () => true }));
    expect(done).toMatchObject({ phase: 'Idle', rolledVersion: '1.1.0', upgrading: false });
  });

  it('RevisionBased: side by side, old stays active until the new one is healthy, removed after grace', () => {
    const spec: MeshConfigSpec = { version: '1.1.0', updateStrategy: { type: 'RevisionBased', revisionGracePeriod: '1m' } };
    const status = { revisions: [{ name: 'default-1-0-0', version: '1.0.0' }], activeRevision: 'default-1-0-0', version: '1.0.0' };
    const canary = planUpgrade(base(spec, { status }));
    expect(canary.revisions.map((r) => r.name)).toEqual(['default-1-0-0', 'default-1-1-0']);
    expect(canary).toMatchObject({ activeRevision: 'default-1-0-0', gatewayVersion: '1.0.0', phase: 'ControlPlane' });
    const healthy = planUpgrade(base(spec, { status, controlPlaneAvailable: (r) => r === 'default-1-1-0', gatewaysAvailable: () => true }));
    expect(healthy.activeRevision).toBe('default-1-1-0');
    expect(healthy.phase).toBe('Cleanup');
    const since = healthy.statusRevisions.find((r) => r.name === 'default-1-0-0')?.inactiveSince;
    expect(since).toBe('2026-01-01T00:00:00.000Z');
    expect(healthy.requeueAfterMs).toBe(60000);
    // Still used by a proxy: kept even after the grace period.
    const st2 = { ...status, revisions: healthy.statusRevisions, activeRevision: 'default-1-1-0' };
    const used = planUpgrade(base(spec, { status: st2, controlPlaneAvailable: () => true, gatewaysAvailable: () => true, nowMs: Date.parse(since!) + 120000, census: { byRevision: { 'default-1-0-0': 1 }, byVersion: { '1.0.0': 1 }, outdatedByNamespace: { app: 1 } } }));
    expect(used.revisions).toHaveLength(2);
    expect(used.phase).toBe('DataPlane');
    const gone = planUpgrade(base(spec, { status: st2, controlPlaneAvailable: () => true, gatewaysAvailable: () => true, nowMs: Date.parse(since!) + 120000 }));
    expect(gone.revisions).toEqual([{ name: 'default-1-1-0', version: '1.1.0' }]);
    expect(gone.phase).toBe('Idle');
  });

  it('a failing new revision never becomes active and Degraded explains the rollback path', () => {
    const spec: MeshConfigSpec = { version: '1.1.0', updateStrategy: { type: 'RevisionBased' } };
    const status = { revisions: [{ name: 'default-1-0-0', version: '1.0.0' }], activeRevision: 'default-1-0-0', version: '1.0.0' };
    const p = planUpgrade(base(spec, { status, controlPlaneFailed: (r) => r === 'default-1-1-0' }));
    expect(p.activeRevision).toBe('default-1-0-0');
    expect(p.degraded?.reason).toBe('ControlPlaneRolloutFailed');
    expect(p.degraded?.message).toMatch(/revision default-1-0-0 stays active.*revert spec.version/);
  });

  it('reports version skew beyond the maximum', () => {
    const p = planUpgrade(base({ version: '1.5.0' }, { census: { byRevision: { default: 1 }, byVersion: { '1.1.0': 1 }, outdatedByNamespace: { a: 1 } } }));
    expect(p.maxObservedSkew).toBe(4);
    expect(p.degraded?.reason).toBe('VersionSkewExceeded');
  });

  it('picks data-plane batches in order, skipping rolled namespaces', () => {
    expect(nextBatch({ b: 1, a: 2, c: 0, d: 3 }, ['a'], 2)).toEqual(['b', 'd']);
  });
});

describe('manifests', () => {
  it('samples pass the validator', () => {
    const dir = path.join(repoRoot, 'manifests/samples');
    for (const f of fs.readdirSync(dir)) {
      const doc = YAML.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as unknown;
      expect([f, validateMeshConfig(doc)]).toEqual([f, []]);
    }
  });
  it('CRD schema defaults match the TypeScript defaults', () => {
    const crd = YAML.parse(fs.readFileSync(path.join(repoRoot, 'manifests/crds/meshconfig.yaml'), 'utf8')) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { default?: unknown; properties?: Record<string, { default?: unknown; properties?: Record<string, { default?: unknown; properties?: Record<string, { default?: unknown }> }> }> }> } } } } }> };
    };
    const s = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    const r = resolveMeshConfigSpec({ version: '1.0.0' });
    expect(s.namespace?.default).toBe(r.namespace);
    expect(s.hub?.default).toBe(r.hub);
    expect(s.controlPlane?.properties?.replicas?.default).toBe(r.controlPlane.replicas);
    expect(s.security?.properties?.workloadCertTTL?.default).toBe(r.security.workloadCertTTL);
    expect(s.security?.properties?.rootCertTTL?.default).toBe(r.security.rootCertTTL);
    expect(s.security?.properties?.mtlsMode?.default).toBe(r.security.mtlsMode);
    expect(s.security?.properties?.trustDomain?.default).toBe(r.security.trustDomain);
    expect(s.injection?.properties?.failurePolicy?.default).toBe(r.injection.failurePolicy);
    expect(s.injection?.properties?.namespaceLabel?.default).toBe(r.injection.namespaceLabel);
    expect(s.proxy?.properties?.concurrency?.default).toBe(r.proxy.concurrency);
    expect(s.updateStrategy?.properties?.type?.default).toBe(r.updateStrategy.type);
    expect(s.updateStrategy?.properties?.maxVersionSkew?.default).toBe(r.updateStrategy.maxVersionSkew);
    expect(s.updateStrategy?.properties?.revisionGracePeriod?.default).toBe(r.updateStrategy.revisionGracePeriod);
    expect(s.updateStrategy?.properties?.dataPlaneRollout?.properties?.batchSize?.default).toBe(MESHCONFIG_DEFAULTS.batchSize);
    expect(s.telemetry?.properties?.tracing?.properties?.samplingPercent?.default).toBe(r.telemetry.tracing.samplingPercent);
  });
});
