// Uninstall paths and kubectl UX on the real API server: `kubectl wait --for=condition=Ready`,
// printer columns, `kubectl explain`; deleting the mesh namespace first and then the
// MeshConfig leaves nothing behind and nothing stuck Terminating.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { KubeApplier, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { silentLogger } from '../../../src/log/logger.js';
import { runOperator, type OperatorHandle } from '../../../src/operator/manager.js';
import { OWNED_KINDS } from '../../../src/render/controlplane/render.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

jest.setTimeout(240000);

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;
const kubectlPath = path.join(execFileSync('bash', [path.join(repoRoot, 'hack/build-cluster-bins.sh'), '--print-dir']).toString().trim(), 'kubectl');
// Async: the operator under test runs in this process and must keep its event loop.
const kubectl = async (...args: string[]): Promise<string> => (await promisify(execFile)(kubectlPath, ['--kubeconfig', kubeconfigPath, ...args], { timeout: 120000 })).stdout;

describe('uninstall and kubectl UX (real API server)', () => {
  let opNs: TestNamespace;
  let rest: KubeRest;
  let applier: KubeApplier;
  let op: OperatorHandle;
  const sfx = randSuffix();

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-user');
    await ensureMeshConfigCrd(rest);
    opNs = await createTestNamespace('op-un');
    op = await runOperator({ kubeConfig: loadKubeConfig({ kubeconfig: kubeconfigPath }), namespace: opNs.name, logger: silentLogger(), webhookUrl: 'https://127.0.0.1:1', leaseDurationMs: 3000, retryPeriodMs: 250, pollMs: 300 });
  });
  afterAll(async () => {
    await op?.stop();
    await opNs?.cleanup();
    rest.close();
  });

  it('kubectl wait/get/explain; namespace deleted first, then the MeshConfig: nothing left, nothing stuck', async () => {
    const name = `un-${sfx}`;
    const meshNs = `${name}-mesh`;
    await applier.apply({
      ...MC,
      metadata: { name },
      spec: { version: '1.0.0', namespace: meshNs, injection: { namespaceLabel: `${name}.weft.dev/injection`, revisionLabel: `${name}.weft.dev/rev`, failurePolicy: 'Ignore' }, gateways: [{ name: 'ingress', type: 'ingress' }] },
    } as unknown as KubeObject);
    expect(await kubectl('wait', '--for=condition=Ready', `meshconfig/${name}`, '--timeout=90s')).toMatch(/condition met/);
    const table = await kubectl('get', 'mc', name);
    expect(table).toMatch(/NAME\s+VERSION\s+REVISION\s+READY\s+AGE/);
    expect(table).toMatch(new RegExp(`${name}\\s+1\\.0\\.0\\s+${name}\\s+True`));
    expect(await kubectl('explain', 'mc.spec.updateStrategy.dataPlaneRollout')).toMatch(/batchSize/);

    // The mesh namespace goes first (the operator keeps trying, then recreates it once gone).
    await applier.delete({ apiVersion: 'v1', kind: 'Namespace' }, meshNs);
    await new Promise((r) => setTimeout(r, 1000));
    await applier.delete(MC, name);
    await waitFor('MeshConfig gone', async () => !(await applier.get(MC, name)), 120000, 250);
    await waitFor('namespace gone (not stuck Terminating)', async () => !(await applier.get({ apiVersion: 'v1', kind: 'Namespace' }, meshNs)), 120000, 250);
    let left = 0;
    for (const t of OWNED_KINDS) left += (await applier.list(t, { labelSelector: `operator.weft.dev/meshconfig=${name}` })).items.length;
    expect(left).toBe(0);
  });
});
