// Crash resilience with real operator processes: two replicas -> exactly one leader, and a
// SIGKILLed leader is replaced within the lease duration; an operator SIGKILLed at several
// points of a RevisionBased upgrade resumes after restart and converges with no manual step.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { KubeApplier, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import type { MeshConfig, MeshConfigSpec } from '../../../src/api/meshconfig.js';
import { OWNED_KINDS } from '../../../src/render/controlplane/render.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

jest.setTimeout(300000);

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;
const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' } as const;

describe('operator crash resilience (real processes, real API server)', () => {
  let ns: TestNamespace;
  let rest: KubeRest;
  let applier: KubeApplier;
  const procs = new Set<ChildProcess>();
  const leaseName = `weft-op-${randSuffix()}`;

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-user');
    await ensureMeshConfigCrd(rest);
    ns = await createTestNamespace('op-crash');
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await ns?.cleanup();
    rest.close();
  });

  async function start(identity: string): Promise<ChildProcess> {
    const p = spawn(process.execPath, [path.join(repoRoot, 'dist/test/integration/operator/fixtures/run-operator.js'), JSON.stringify({ kubeconfig: kubeconfigPath, namespace: ns.name, identity, leaseName })], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.add(p);
    p.on('exit', () => procs.delete(p));
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => (d.toString().includes('started') ? resolve() : undefined));
      p.on('exit', (c) => reject(new Error(`operator exited ${c}`)));
    });
    return p;
  }
  async function kill(p: ChildProcess): Promise<void> {
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
  async function holder(): Promise<string | undefined> {
    const l = await applier.get<KubeObject & { spec?: { holderIdentity?: string } }>(LEASE, leaseName, ns.name);
    return l?.spec?.holderIdentity ?? undefined;
  }

  it('two replicas: exactly one leader; the other takes over within the lease duration after a SIGKILL', async () => {
    const a = await start('replica-a');
    const b = await start('replica-b');
    const first = await waitFor('a leader', holder, 10000, 50);
    expect(['replica-a', 'replica-b']).toContain(first);
    for (let i = 0; i < 10; i++) {
      expect(await holder()).toBe(first);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [leader, standby] = first === 'replica-a' ? [a, b] : [b, a];
    const t0 = Date.now();
    await kill(leader);
    const next = await waitFor('failover', async () => {
      const h = await holder();
      return h && h !== first ? h : undefined;
    }, 10000, 50);
    const failoverMs = Date.now() - t0;
    expect(next).not.toBe(first);
    expect(failoverMs).toBeLessThan(2000 + 1000); // lease duration + one retry period, with margin
    await kill(standby);
  });

  it('resumes and converges after SIGKILL at 6 points of a RevisionBased upgrade', async () => {
    const name = `crash-${randSuffix()}`;
    const meshNs = `${name}-mesh`;
    const spec = (version: string): MeshConfigSpec => ({
      version,
      namespace: meshNs,
      injection: { namespaceLabel: `${name}.weft.dev/injection`, revisionLabel: `${name}.weft.dev/rev`, failurePolicy: 'Ignore' },
      gateways: [{ name: 'ingress', type: 'ingress' }],
      updateStrategy: { type: 'RevisionBased', revisionGracePeriod: '1s' },
    });
    const getMc = async (): Promise<MeshConfig | undefined> => (await applier.get(MC, name)) as unknown as MeshConfig | undefined;
    const converged = async (version: string): Promise<MeshConfig | undefined> => {
      const m = await getMc();
      const ready = m?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const rev = `${name}-${version.replace(/\./g, '-')}`;
      return m && ready && m.status?.observedGeneration === m.metadata.generation && m.status?.upgradePhase === 'Idle' && m.status?.activeRevision === rev && m.status?.revisions?.length === 1 ? m : undefined;
    };

    let op = await start('upgrader-0');
    await applier.apply({ ...MC, metadata: { name }, spec: spec('1.0.0') } as unknown as KubeObject);
    await waitFor('installed', () => converged('1.0.0'), 60000, 50);

    const killAfterMs = [0, 30, 80, 150, 300, 600];
    const phasesAtKill: string[] = [];
    for (let i = 0; i < killAfterMs.length; i++) {
      const version = `1.${i + 1}.0`;
      await applier.apply({ ...MC, metadata: { name }, spec: spec(version) } as unknown as KubeObject);
      await new Promise((r) => setTimeout(r, killAfterMs[i]));
      await kill(op);
      const m = await getMc();
      phasesAtKill.push(`${killAfterMs[i]}ms:${m?.status?.upgradePhase ?? '-'}/${m?.status?.revisions?.length ?? 0}rev`);
      op = await start(`upgrader-${i + 1}`);
      await waitFor(`converged on ${version} after kill at ${killAfterMs[i]}ms`, () => converged(version), 60000, 50);
      // Exactly one control plane revision is left, and it is the new one.
      const deps = (await applier.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { namespace: meshNs, labelSelector: 'app=weft-controlplane' })).items;
      expect(deps.map((d) => d.metadata.name)).toEqual([`weft-controlplane-${name}-${version.replace(/\./g, '-')}`]);
    }
    // Different points of the upgrade were hit (not all kills in the same phase).
    expect(new Set(phasesAtKill).size).toBeGreaterThanOrEqual(3);

    // Kill during teardown too: deletion still completes after restart.
    await applier.delete(MC, name);
    await new Promise((r) => setTimeout(r, 50));
    await kill(op);
    op = await start('upgrader-final');
    await waitFor('teardown', async () => !(await getMc()), 90000, 200);
    let left = 0;
    for (const t of OWNED_KINDS) left += (await applier.list(t, { labelSelector: `operator.weft.dev/meshconfig=${name}` })).items.length;
    expect(left).toBe(0);
    await kill(op);
    console.log(`kill points: ${phasesAtKill.join(', ')}`);
  });
});
