// The metrics health gate on the real API server: the first batch's proxies report a 50%
// failure rate (through an injected MetricsSource standing in for the scrape), so the
// rollout pauses after one namespace with Degraded=HealthGateFailed naming the cause.
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

describe('data-plane metrics health gate (real API server)', () => {
  let opNs: TestNamespace;
  const apps: TestNamespace[] = [];
  let rest: KubeRest;
  let applier: KubeApplier;
  let op: OperatorHandle;
  const sfx = randSuffix();
  const scraped: string[] = [];

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-user');
    await ensureMeshConfigCrd(rest);
    opNs = await createTestNamespace('op-hg');
    for (let i = 0; i < 2; i++) apps.push(await createTestNamespace(`hg-app${i}`, { [`hg-${sfx}.weft.dev/injection`]: 'enabled' }));
    op = await runOperator({
      kubeConfig: loadKubeConfig({ kubeconfig: kubeconfigPath }),
      namespace: opNs.name,
      logger: silentLogger(),
      webhookUrl: 'https://127.0.0.1:1',
      leaseDurationMs: 3000,
      retryPeriodMs: 250,
      pollMs: 200,
      proxyMetrics: {
        scrape: async (pod) => {
          scraped.push(pod.namespace);
          return [
            `istio_requests_total{reporter="destination",response_code="200"} 50`,
            `istio_requests_total{reporter="destination",response_code="503"} 50`,
          ].join('\n');
        },
      },
    });
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

  it('pauses the rollout with Degraded=HealthGateFailed when the first batch fails the gate', async () => {
    const name = `hg-${sfx}`;
    const spec = (version: string): MeshConfigSpec => ({
      version,
      namespace: `${name}-mesh`,
      injection: { namespaceLabel: `hg-${sfx}.weft.dev/injection`, revisionLabel: `hg-${sfx}.weft.dev/rev`, failurePolicy: 'Ignore' },
      updateStrategy: { type: 'InPlace', dataPlaneRollout: { mode: 'Automatic', batchSize: 1, healthGate: { minSuccessRatePercent: 99, maxP99LatencyMs: 500, observationWindow: '1s' } } },
    });
    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.0.0') } as unknown as KubeObject);
    await waitFor('installed', async () => (await getMc(name))?.status?.upgradePhase === 'Idle', 60000, 100);
    for (const a of apps) await applier.apply(app(a.name, name, '1.0.0'));
    await waitFor('census', async () => (await getMc(name))?.status?.dataPlane?.proxiesByVersion?.['1.0.0'] === 2, 60000, 100);

    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.1.0') } as unknown as KubeObject);
    const degraded = await waitFor('gate failure', async () => {
      for (const a of apps) {
        const d = (await applier.get<Dep>(DEP, 'app', a.name))!;
        const ann = d.spec.template.metadata.annotations ?? {};
        if (ann[RESTARTED_AT_ANNOTATION] && (JSON.parse(ann[INJECTION_STATUS_ANNOTATION] ?? '{}') as { version?: string }).version === '1.0.0') await applier.apply(app(a.name, name, '1.1.0'));
      }
      const m = await getMc(name);
      const c = m?.status?.conditions?.find((x) => x.type === 'Degraded');
      return c?.status === 'True' && c.reason === 'HealthGateFailed' ? { m, c } : undefined;
    }, 90000, 100);
    expect(degraded.c.message).toMatch(/success rate 50\.00% < 99% \(50\/100 failed\).*rollout paused/);
    expect(degraded.m?.status?.dataPlane?.rolledNamespaces).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1500));
    const restarted = [];
    for (const a of apps) if ((await applier.get<Dep>(DEP, 'app', a.name))!.spec.template.metadata.annotations?.[RESTARTED_AT_ANNOTATION]) restarted.push(a.name);
    expect(restarted).toHaveLength(1); // paused: the second namespace was not touched
    expect(scraped.length).toBeGreaterThan(0);

    await applier.delete(MC, name);
    await waitFor('teardown', async () => !(await getMc(name)), 90000, 200);
  });
});
