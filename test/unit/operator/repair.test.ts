import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { MESHCONFIG_DEFAULTS, resolveMeshConfigSpec, validateMeshConfig, type MeshConfig } from '../../../src/api/meshconfig.js';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { injectPod } from '../../../src/render/inject/inject.js';
import { owningWorkload, planRepair, repairRevisionsFor, type RepairInput } from '../../../src/operator/repair.js';
import { repoRoot } from '../../helpers/paths.js';

const policy = { revision: 'default', isDefaultRevision: true, excludedNamespaces: ['kube-system', 'weft-system'] };
const revisions = [{ policy, version: '1.1.0' }];

function pod(name: string, namespace: string, owner?: { kind: string; name: string }, extra: Partial<V1Pod> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] } : {}),
    },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
    ...extra,
  };
}

const nsLabels = {
  shop: { 'weft.dev/injection': 'enabled' },
  pinned: { 'weft.dev/rev': 'default' },
  plain: {},
  'kube-system': { 'weft.dev/injection': 'enabled' },
};
const rsOwners = { 'shop/web-abc': 'web', 'pinned/api-1': 'api' };

function input(pods: V1Pod[], over: Partial<RepairInput> = {}): RepairInput {
  return { pods, namespaceLabels: nsLabels, revisions, replicaSetOwners: rsOwners, mode: 'Report', nowMs: 1_000_000, history: {}, ...over };
}

const missingSet = (): V1Pod[] => [
  pod('web-abc-1', 'shop', { kind: 'ReplicaSet', name: 'web-abc' }),
  pod('web-abc-2', 'shop', { kind: 'ReplicaSet', name: 'web-abc' }),
  pod('db-0', 'shop', { kind: 'StatefulSet', name: 'db' }),
  pod('agent-x', 'pinned', { kind: 'DaemonSet', name: 'agent' }),
  pod('api-1-z', 'pinned', { kind: 'ReplicaSet', name: 'api-1' }),
  pod('bare', 'shop'),
  pod('job-1', 'shop', { kind: 'Job', name: 'job' }),
];

describe('owningWorkload', () => {
  it('follows ReplicaSet -> Deployment and takes StatefulSet/DaemonSet directly', () => {
    expect(owningWorkload(pod('a', 'shop', { kind: 'ReplicaSet', name: 'web-abc' }), rsOwners)).toEqual({ kind: 'Deployment', namespace: 'shop', name: 'web' });
    expect(owningWorkload(pod('a', 'shop', { kind: 'StatefulSet', name: 'db' }), rsOwners)).toEqual({ kind: 'StatefulSet', namespace: 'shop', name: 'db' });
    expect(owningWorkload(pod('a', 'shop', { kind: 'DaemonSet', name: 'd' }), rsOwners)).toEqual({ kind: 'DaemonSet', namespace: 'shop', name: 'd' });
  });
  it('has no restartable owner for bare pods, Jobs and orphan ReplicaSets', () => {
    expect(owningWorkload(pod('a', 'shop'), rsOwners)).toBeUndefined();
    expect(owningWorkload(pod('a', 'shop', { kind: 'Job', name: 'j' }), rsOwners)).toBeUndefined();
    expect(owningWorkload(pod('a', 'shop', { kind: 'ReplicaSet', name: 'orphan' }), rsOwners)).toBeUndefined();
  });
});

describe('planRepair', () => {
  it('reports missing pods grouped by workload and restarts nothing in Report mode', () => {
    const injected = { ...injectPod(pod('ok', 'shop'), defaultInjectionConfig({ version: '1.1.0' })).pod };
    const stale = { ...injectPod(pod('old', 'shop'), defaultInjectionConfig({ version: '1.0.0' })).pod };
    const p = planRepair(input([
      ...missingSet(),
      injected,
      stale,
      pod('x', 'plain'),
      pod('y', 'kube-system'),
      pod('opted', 'shop', undefined, { metadata: { name: 'opted', namespace: 'shop', labels: { 'sidecar.weft.dev/inject': 'false' } } }),
      pod('gone', 'shop', undefined, { metadata: { name: 'gone', namespace: 'shop', deletionTimestamp: new Date(0) } }),
      pod('hn', 'shop', undefined, { spec: { hostNetwork: true, containers: [{ name: 'a' }] } }),
    ]));
    expect(p.status).toEqual({
      injected: 1,
      stale: 1,
      missing: 7,
      missingPods: ['pinned/agent-x', 'pinned/api-1-z', 'shop/bare', 'shop/db-0', 'shop/job-1', 'shop/web-abc-1', 'shop/web-abc-2'],
    });
    expect(p.groups.map((g) => [g.workload ? `${g.workload.kind}/${g.workload.name}` : 'none', g.pods.length])).toEqual([
      ['DaemonSet/agent', 1], ['Deployment/api', 1], ['Deployment/web', 2], ['StatefulSet/db', 1], ['none', 2],
    ]);
    expect(p.restart).toEqual([]);
    expect(p.deferred).toEqual([]);
  });

  it('restarts each owning workload once in Restart mode', () => {
    const p = planRepair(input(missingSet(), { mode: 'Restart' }));
    expect(p.restart.map((w) => `${w.kind}/${w.namespace}/${w.name}`)).toEqual(['DaemonSet/pinned/agent', 'Deployment/pinned/api', 'Deployment/shop/web', 'StatefulSet/shop/db']);
  });

  it('rate-limits restarts per minute, counting recent ones, and defers the rest', () => {
    const now = 1_000_000;
    const p = planRepair(input(missingSet(), { mode: 'Restart', nowMs: now, limits: { maxRestartsPerMinute: 3 }, history: { 'Deployment/other/x': now - 10_000, 'Deployment/other/y': now - 120_000 } }));
    expect(p.restart).toHaveLength(2);
    expect(p.deferred).toHaveLength(2);
  });

  it('leaves recently restarted workloads alone while they roll (cooldown)', () => {
    const now = 10_000_000;
    const p = planRepair(input(missingSet(), { mode: 'Restart', nowMs: now, history: { 'Deployment/shop/web': now - 120_000, 'StatefulSet/shop/db': now - 3_600_000 } }));
    expect(p.coolingDown.map((w) => w.name)).toEqual(['web']);
    expect(p.restart.map((w) => w.name)).toContain('db');
    expect(p.restart.map((w) => w.name)).not.toContain('web');
  });

  it('caps the pod list in status and says it is truncated', () => {
    const pods = Array.from({ length: 12 }, (_, i) => pod(`p${String(i).padStart(2, '0')}`, 'shop'));
    const p = planRepair(input(pods, { limits: { maxListedPods: 5 } }));
    expect(p.status.missing).toBe(12);
    expect(p.status.missingPods).toHaveLength(5);
    expect(p.status.missingPodsTruncated).toBe(true);
  });

  it('ignores finished pods and pods of other revisions', () => {
    const other = injectPod(pod('c', 'shop'), defaultInjectionConfig({ revision: 'canary' })).pod;
    const p = planRepair(input([other, pod('done', 'shop', undefined, { status: { phase: 'Succeeded' } })]));
    expect(p.status).toEqual({ injected: 0, missing: 0, stale: 0, missingPods: [] });
  });

  it('namespaces pinned to another revision are that revision\'s business', () => {
    const p = planRepair(input([pod('a', 'canary-ns')], { namespaceLabels: { 'canary-ns': { 'weft.dev/rev': 'canary' } } }));
    expect(p.status.missing).toBe(0);
    const both = planRepair(input([pod('a', 'canary-ns')], {
      namespaceLabels: { 'canary-ns': { 'weft.dev/rev': 'canary' } },
      revisions: [...revisions, { policy: { ...policy, revision: 'canary', isDefaultRevision: false }, version: '1.2.0' }],
    }));
    expect(both.status.missingPods).toEqual(['canary-ns/a']);
  });
});

describe('spec.injection.repair', () => {
  const mc = (injection: unknown): unknown => ({ apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' }, spec: { version: '1.0.0', injection } });
  it('defaults to Report in TypeScript and in the CRD schema', () => {
    expect(resolveMeshConfigSpec({ version: '1.0.0' }).injection.repair).toBe('Report');
    expect(MESHCONFIG_DEFAULTS.repair).toBe('Report');
    const crd = YAML.parse(fs.readFileSync(path.join(repoRoot, 'manifests/crds/meshconfig.yaml'), 'utf8')) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: { injection: { properties: { repair: { default: string; enum: string[] } } } } } } } } }> };
    };
    const r = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties.injection.properties.repair;
    expect(r.default).toBe('Report');
    expect(r.enum).toEqual(['Report', 'Restart']);
  });
  it('accepts Report and Restart, rejects anything else with the field path', () => {
    expect(validateMeshConfig(mc({ repair: 'Restart' }))).toEqual([]);
    expect(validateMeshConfig(mc({ repair: 'Report' }))).toEqual([]);
    const issues = validateMeshConfig(mc({ repair: 'Fix' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('spec.injection.repair');
    expect(issues[0]!.message).toMatch(/Report.*Restart/);
  });
  it('derives revisions from status: the active one is the default revision', () => {
    const m = {
      apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'm' }, spec: { version: '1.2.0' },
      status: { activeRevision: 'm-1-2-0', revisions: [{ name: 'm-1-1-0', version: '1.1.0' }, { name: 'm-1-2-0', version: '1.2.0' }] },
    } as MeshConfig;
    expect(repairRevisionsFor(m, ['kube-system'])).toEqual([
      { policy: { revision: 'm-1-1-0', isDefaultRevision: false, excludedNamespaces: ['kube-system'] }, version: '1.1.0' },
      { policy: { revision: 'm-1-2-0', isDefaultRevision: true, excludedNamespaces: ['kube-system'] }, version: '1.2.0' },
    ]);
    expect(repairRevisionsFor({ ...m, status: {} }, [])[0]!.policy.revision).toBe('m');
  });
});
