// Data-plane rollout on the real API server. Injected pods are simulated: their Deployments
// carry the injector's revision label and status annotation, and the test plays the injector
// by rewriting the status annotation when the operator restarts a Deployment.
// Manual: status reports how many proxies are outdated. Automatic: namespaces are restarted
// one batch at a time, each gated on the previous batch being available.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { KubeApplier, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { silentLogger } from '../../../src/log/logger.js';
import { runOperator, type OperatorHandle } from '../../../src/operator/manager.js';
import { RESTARTED_AT_ANNOTATION } from '../../../src/operator/reconciler.js';
import type { MeshConfig, MeshConfigSpec } from '../../../src/api/meshconfig.js';
import { INJECTION_STATUS_ANNOTATION, REVISION_LABEL } from '../../../src/api/labels.js';
import { kubeconfigPath } from '../../helpers/paths.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

jest.setTimeout(180000);

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;
const DEP = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;
type Dep = KubeObject & { spec: { template: { metadata: { annotations?: Record<string, string> } } } };

describe('data-plane rollout (real API server)', () => {
  let opNs: TestNamespace;
  const apps: TestNamespace[] = [];
  let rest: KubeRest;
  let applier: KubeApplier;
  let op: OperatorHandle;
  const sfx = randSuffix();

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-user');
    await ensureMeshConfigCrd(rest);
    opNs = await createTestNamespace('op-dp');
    for (let i = 0; i < 3; i++) apps.push(await createTestNamespace(`dp-app${i}`, { [`dp-${sfx}.weft.dev/injection`]: 'enabled' }));
    op = await runOperator({ kubeConfig: loadKubeConfig({ kubeconfig: kubeconfigPath }), namespace: opNs.name, logger: silentLogger(), webhookUrl: 'https://127.0.0.1:1', leaseDurationMs: 3000, retryPeriodMs: 250, pollMs: 200 });
  });
  afterAll(async () => {
    await op?.stop();
    for (const a of apps) await a.cleanup();
    await opNs?.cleanup();
    rest.close();
  });

  const getMc = async (name: string): Promise<MeshConfig | undefined> => (await applier.get(MC, name)) as unknown as MeshConfig | undefined;
  const app = (ns: string, rev: string, version: string): KubeObject => ({
    ...DEP,
    metadata: { name: 'app', namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'app' } },
      template: {
        metadata: { labels: { app: 'app', [REVISION_LABEL]: rev }, annotations: { [INJECTION_STATUS_ANNOTATION]: JSON.stringify({ version, revision: rev }) } },
        spec: { containers: [{ name: 'app', image: 'app:1' }] },
      },
    },
  });

  it('Manual reports outdated proxies; Automatic restarts namespaces in gated batches until none are outdated', async () => {
    const name = `dp-${sfx}`;
    const spec = (version: string, mode: 'Manual' | 'Automatic'): MeshConfigSpec => ({
      version,
      namespace: `${name}-mesh`,
      injection: { namespaceLabel: `dp-${sfx}.weft.dev/injection`, revisionLabel: `dp-${sfx}.weft.dev/rev`, failurePolicy: 'Ignore' },
      updateStrategy: { type: 'InPlace', dataPlaneRollout: { mode, batchSize: 1 } },
    });
    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.0.0', 'Manual') } as unknown as KubeObject);
    await waitFor('installed', async () => (await getMc(name))?.status?.upgradePhase === 'Idle', 60000, 100);
    for (const a of apps) await applier.apply(app(a.name, name, '1.0.0'));
    await waitFor('census', async () => (await getMc(name))?.status?.dataPlane?.proxiesByVersion?.['1.0.0'] === 3, 60000, 100);

    // Manual: the upgrade stops at DataPlane and says how many proxies are outdated.
    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.1.0', 'Manual') } as unknown as KubeObject);
    const manual = await waitFor('manual report', async () => {
      const m = await getMc(name);
      return m?.status?.upgradePhase === 'DataPlane' && m.status.dataPlane?.outdatedProxies === 3 ? m : undefined;
    }, 60000, 100);
    expect(manual.status?.conditions?.find((c) => c.type === 'Upgrading')?.message).toMatch(/3 proxies outdated/);
    expect(manual.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect((await applier.get<Dep>(DEP, 'app', apps[0]!.name))!.spec.template.metadata.annotations?.[RESTARTED_AT_ANNOTATION]).toBeUndefined();

    // Automatic: the test plays the injector for restarted Deployments.
    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.1.0', 'Automatic') } as unknown as KubeObject);
    const restartedAt: Record<string, number> = {};
    let maxInFlight = 0;
    await waitFor('rolled out', async () => {
      let inFlight = 0;
      for (const a of apps) {
        const d = (await applier.get<Dep>(DEP, 'app', a.name))!;
        const ann = d.spec.template.metadata.annotations ?? {};
        const v = (JSON.parse(ann[INJECTION_STATUS_ANNOTATION] ?? '{}') as { version?: string }).version;
        if (ann[RESTARTED_AT_ANNOTATION] && v === '1.0.0') {
          restartedAt[a.name] = Date.now();
          inFlight++;
          await applier.apply(app(a.name, name, '1.1.0'));
        }
      }
      maxInFlight = Math.max(maxInFlight, inFlight);
      const m = await getMc(name);
      return m?.status?.upgradePhase === 'Idle' && m.status.dataPlane?.outdatedProxies === 0 ? m : undefined;
    }, 90000, 50);
    expect(Object.keys(restartedAt).sort()).toEqual(apps.map((a) => a.name).sort());
    expect(maxInFlight).toBe(1); // batchSize 1: never two namespaces restarted at once
    await applier.delete(MC, name);
    await waitFor('teardown', async () => !(await getMc(name)), 90000, 200);
  });
});
