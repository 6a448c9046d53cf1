// The operator end to end on the real API server (kwok simulates the pods): install ->
// Ready, spec change -> converged, gateway removed -> pruned, no-op reconcile -> 0 writes,
// invalid spec -> clear condition and untouched objects, version bump (InPlace and
// RevisionBased) -> Upgrading -> Ready, delete -> nothing left.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { KubeApplier, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { silentLogger } from '../../../src/log/logger.js';
import { runOperator, type OperatorHandle } from '../../../src/operator/manager.js';
import { OWNED_KINDS } from '../../../src/render/controlplane/render.js';
import type { MeshConfig, MeshConfigSpec } from '../../../src/api/meshconfig.js';
import { kubeconfigPath } from '../../helpers/paths.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

jest.setTimeout(180000);

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;
const DEP = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

type Dep = KubeObject & { spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } } };

describe('operator (real API server)', () => {
  let opNs: TestNamespace;
  let rest: KubeRest;
  let applier: KubeApplier;
  let op: OperatorHandle;
  const sfx = randSuffix();

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-user');
    await ensureMeshConfigCrd(rest);
    opNs = await createTestNamespace('op-mgr');
    op = await runOperator({
      kubeConfig: loadKubeConfig({ kubeconfig: kubeconfigPath }),
      namespace: opNs.name,
      logger: silentLogger(),
      webhookUrl: 'https://127.0.0.1:1',
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 250,
      pollMs: 300,
    });
  });
  afterAll(async () => {
    await op?.stop();
    await opNs?.cleanup();
    rest.close();
  });

  async function getMc(name: string): Promise<MeshConfig | undefined> {
    return (await applier.get(MC, name)) as unknown as MeshConfig | undefined;
  }
  function cond(mc: MeshConfig | undefined, type: string): string | undefined {
    return mc?.status?.conditions?.find((c) => c.type === type)?.status;
  }
  async function waitReady(name: string, extra: (mc: MeshConfig) => boolean = () => true, timeout = 60000): Promise<MeshConfig> {
    return await waitFor(`${name} Ready`, async () => {
      const mc = await getMc(name);
      return mc && cond(mc, 'Ready') === 'True' && mc.status?.observedGeneration === mc.metadata.generation && extra(mc) ? mc : undefined;
    }, timeout, 100);
  }
  async function apply(name: string, spec: MeshConfigSpec): Promise<void> {
    await applier.apply({ ...MC, metadata: { name }, spec } as unknown as KubeObject);
  }
  async function ownedCount(name: string): Promise<number> {
    let n = 0;
    for (const t of OWNED_KINDS) n += (await applier.list(t, { labelSelector: `operator.weft.dev/meshconfig=${name}` })).items.length;
    return n;
  }
  const baseSpec = (meshNs: string): MeshConfigSpec => ({
    version: '1.0.0',
    namespace: meshNs,
    // Labels of our own, so these webhooks never touch other tests' namespaces.
    injection: { namespaceLabel: `it-${sfx}.weft.dev/injection`, revisionLabel: `it-${sfx}.weft.dev/rev`, failurePolicy: 'Ignore' },
    gateways: [{ name: 'ingress', type: 'ingress', labels: { istio: 'ingressgateway' } }],
  });

  it('one operator replica leads', async () => {
    await waitFor('leader', async () => op.isLeader(), 10000, 50);
  });

  it('installs, converges on change, prunes, makes no writes when idle, rejects bad specs, upgrades in place, and tears down', async () => {
    const name = `it-${sfx}`;
    const meshNs = `it-${sfx}-mesh`;
    await apply(name, baseSpec(meshNs));

    // Install -> Ready with observedGeneration, objects labeled and owned.
    let mc = await waitReady(name);
    expect(mc.status?.activeRevision).toBe(name);
    expect(mc.metadata.finalizers).toContain('operator.weft.dev/teardown');
    const cp = (await applier.get<Dep>(DEP, `weft-controlplane-${name}`, meshNs))!;
    expect(cp.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('weft-operator');
    expect(cp.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'MeshConfig', name, uid: mc.metadata.uid, controller: true });
    expect(await applier.get(DEP, 'weft-ingress', meshNs)).toBeDefined();
    const mwc = await applier.get<KubeObject & { webhooks: Array<{ clientConfig: { url: string }; namespaceSelector: { matchExpressions: Array<{ values?: string[] }> } }> }>(
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
      `weft-sidecar-injector-${name}`,
    );
    expect(mwc?.webhooks[0]?.clientConfig.url).toBe(`https://127.0.0.1:1/inject/${name}`);
    expect(mwc?.webhooks[0]?.namespaceSelector.matchExpressions.flatMap((e) => e.values ?? [])).toEqual(expect.arrayContaining(['kube-system', 'kube-public', 'kube-node-lease', meshNs, opNs.name]));
    expect(cond(mc, 'Reconciled')).toBe('True');
    expect(cond(mc, 'Degraded')).toBe('False');

    // A no-op reconcile writes nothing.
    await new Promise((r) => setTimeout(r, 500));
    const before = { ...op.rest.stats };
    const t0 = performance.now();
    await op.reconciler.reconcile(name);
    const noopMs = performance.now() - t0;
    expect(op.rest.stats.writes).toBe(before.writes);
    expect(noopMs).toBeLessThan(200);

    // Change replicas -> converged.
    await apply(name, { ...baseSpec(meshNs), controlPlane: { replicas: 2 } });
    await waitReady(name, (m) => (m.status?.components ?? []).some((c) => c.name === `weft-controlplane-${name}` && c.readyReplicas === 2));
    expect((await applier.get<Dep>(DEP, `weft-controlplane-${name}`, meshNs))!.spec.replicas).toBe(2);

    // Remove the gateway -> pruned.
    await apply(name, { ...baseSpec(meshNs), controlPlane: { replicas: 2 }, gateways: [] });
    await waitFor('gateway pruned', async () => !(await applier.get(DEP, 'weft-ingress', meshNs)) && !(await applier.get({ apiVersion: 'v1', kind: 'Service' }, 'weft-ingress', meshNs)), 30000, 100);
    await waitReady(name);

    // A spec only the operator's validator rejects (proxy skew) -> clear condition, nothing touched.
    const rvBefore = (await applier.get(DEP, `weft-controlplane-${name}`, meshNs))!.metadata.resourceVersion;
    await apply(name, { ...baseSpec(meshNs), controlPlane: { replicas: 2 }, gateways: [], proxy: { version: '1.9.0' } });
    mc = await waitFor('InvalidSpec condition', async () => {
      const m = await getMc(name);
      const c = m?.status?.conditions?.find((x) => x.type === 'Reconciled');
      return c?.reason === 'InvalidSpec' && m?.status?.observedGeneration === m?.metadata.generation ? m : undefined;
    }, 30000, 100);
    expect(mc.status?.conditions?.find((c) => c.type === 'Reconciled')?.message).toMatch(/spec\.proxy\.version: proxy version 1\.9\.0 is 9 minor versions from control plane 1\.0\.0/);
    expect(cond(mc, 'Degraded')).toBe('True');
    expect((await applier.get(DEP, `weft-controlplane-${name}`, meshNs))!.metadata.resourceVersion).toBe(rvBefore);

    // Fix it and bump the version: InPlace upgrade passes through Upgrading to Ready.
    const seen = new Set<string>();
    await apply(name, { ...baseSpec(meshNs), version: '1.1.0' });
    await waitFor('upgraded', async () => {
      const m = await getMc(name);
      if (cond(m, 'Upgrading') === 'True') seen.add('Upgrading');
      return m && cond(m, 'Ready') === 'True' && cond(m, 'Upgrading') === 'False' && m.status?.version === '1.1.0' && m.status.observedGeneration === m.metadata.generation ? m : undefined;
    }, 60000, 20);
    expect(seen.has('Upgrading')).toBe(true);
    expect((await applier.get<Dep>(DEP, `weft-controlplane-${name}`, meshNs))!.spec.template.spec.containers[0]!.image).toBe('ghcr.io/weft/weft:1.1.0');
    expect((await applier.get<Dep>(DEP, 'weft-ingress', meshNs))!.spec.template.spec.containers[0]!.image).toBe('ghcr.io/weft/weft:1.1.0');

    // Delete -> ordered teardown, nothing left, CR gone.
    await applier.delete(MC, name);
    await waitFor('teardown', async () => !(await getMc(name)), 90000, 200);
    expect(await ownedCount(name)).toBe(0);
    await waitFor('mesh namespace gone', async () => !(await applier.get({ apiVersion: 'v1', kind: 'Namespace' }, meshNs)), 60000, 250);
  });

  it('RevisionBased: new revision side by side, then switch, then the old one is removed', async () => {
    const name = `rb-${sfx}`;
    const meshNs = `rb-${sfx}-mesh`;
    const spec = (version: string): MeshConfigSpec => ({ ...baseSpec(meshNs), version, updateStrategy: { type: 'RevisionBased', revisionGracePeriod: '2s' } });
    await apply(name, spec('1.0.0'));
    const mc = await waitReady(name);
    expect(mc.status?.activeRevision).toBe(`${name}-1-0-0`);

    await apply(name, spec('1.1.0'));
    let bothSeen = false;
    const phases = new Set<string>();
    await waitFor('revision upgrade done', async () => {
      const m = await getMc(name);
      if (m?.status?.upgradePhase) phases.add(m.status.upgradePhase);
      if ((m?.status?.revisions ?? []).length === 2) bothSeen = true;
      return m && cond(m, 'Ready') === 'True' && m.status?.activeRevision === `${name}-1-1-0` && (m.status.revisions ?? []).length === 1 && m.status.upgradePhase === 'Idle' ? m : undefined;
    }, 60000, 20);
    expect(bothSeen).toBe(true);
    expect(phases.has('Cleanup') || phases.has('ControlPlane')).toBe(true);
    expect(await applier.get(DEP, `weft-controlplane-${name}-1-0-0`, meshNs)).toBeUndefined();
    expect(await applier.get(DEP, `weft-controlplane-${name}-1-1-0`, meshNs)).toBeDefined();
    const gw = (await applier.get<Dep & { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } } }>(DEP, 'weft-ingress', meshNs))!;
    expect(gw.spec.template.spec.containers[0]!.env.find((e) => e.name === 'WEFT_REVISION')?.value).toBe(`${name}-1-1-0`);

    await applier.delete(MC, name);
    await waitFor('teardown', async () => !(await getMc(name)), 90000, 200);
    expect(await ownedCount(name)).toBe(0);
  });
});
