// kube/ primitives against the real API server: server-side apply (idempotent, no-op
// detection), prune by label, /status patch, a supervised informer that relists after 410,
// and Lease leader election with failover.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';

jest.setTimeout(120000);
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { compactEtcdNow } from '../../helpers/etcd.js';
import { KubeApplier, needsApply, objectKey, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import { Informer } from '../../../src/kube/informer.js';
import { LeaderElector } from '../../../src/kube/lease.js';
import { silentLogger } from '../../../src/log/logger.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

const CM = { apiVersion: 'v1', kind: 'ConfigMap' } as const;

describe('kube primitives (real API server)', () => {
  let ns: TestNamespace;
  let rest: KubeRest;
  let applier: KubeApplier;
  beforeAll(async () => {
    ns = await createTestNamespace('op-kube');
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test');
    await ensureMeshConfigCrd(rest);
  });
  afterAll(async () => {
    await ns.cleanup();
    rest.close();
  });

  const cm = (name: string, data: Record<string, string>, owner = 'x'): KubeObject => ({
    ...CM,
    metadata: { name, namespace: ns.name, labels: { 'test.weft.dev/owner': owner } },
    data,
  });

  it('server-side applies idempotently and detects no-ops without writing', async () => {
    const a = await applier.apply(cm('a', { k: 'v1' }));
    const again = await applier.apply(cm('a', { k: 'v1' }));
    expect(again.metadata.resourceVersion).toBe(a.metadata.resourceVersion); // SSA no-op
    expect(needsApply(cm('a', { k: 'v1' }), again)).toBe(false);
    expect(needsApply(cm('a', { k: 'v2' }), again)).toBe(true);
    const updated = await applier.apply<KubeObject & { data: Record<string, string> }>(cm('a', { k: 'v2' }));
    expect(updated.data.k).toBe('v2');
    expect((updated.metadata.managedFields as Array<{ manager: string }>).some((m) => m.manager === 'weft-test')).toBe(true);
  });

  it('prunes by label only what is no longer desired', async () => {
    await applier.apply(cm('p1', { a: '1' }, 'prune'));
    await applier.apply(cm('p2', { a: '2' }, 'prune'));
    await applier.apply(cm('other', { a: '3' }, 'someone-else'));
    const desired = new Set([objectKey(cm('p1', {}, 'prune'))]);
    const deleted = await applier.pruneByLabel([CM], 'test.weft.dev/owner=prune', desired);
    expect(deleted).toEqual([objectKey(cm('p2', {}, 'prune'))]);
    expect(await applier.get(CM, 'p1', ns.name)).toBeDefined();
    expect(await applier.get(CM, 'p2', ns.name)).toBeUndefined();
    expect(await applier.get(CM, 'other', ns.name)).toBeDefined();
  });

  it('patches the status subresource', async () => {
    const T = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' };
    const name = `kube-status-${randSuffix()}`;
    await applier.apply({ ...T, metadata: { name }, spec: { version: '1.0.0' } });
    try {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const r = await applier.patchStatus<KubeObject & { status: { observedGeneration: number } }>(T, name, undefined, {
        observedGeneration: 1,
        conditions: [{ type: 'Ready', status: 'True', reason: 'Test', message: 'ok', lastTransitionTime: now }],
      });
      expect(r.status.observedGeneration).toBe(1);
      expect(r.metadata.generation).toBe(1); // status writes do not bump generation
    } finally {
      await applier.delete(T, name);
    }
  });

  it('informer lists, watches, and relists after 410 Gone', async () => {
    const inf = new Informer<KubeObject>(rest, { type: CM, namespace: ns.name, labelSelector: 'test.weft.dev/owner=inf', logger: silentLogger(), minBackoffMs: 50 });
    const events: string[] = [];
    inf.onEvent((t, o) => events.push(`${t}:${o.metadata.name}`));
    await applier.apply(cm('i1', { a: '1' }, 'inf'));
    inf.start();
    await inf.waitForSync();
    expect(inf.get(`${ns.name}/i1`)).toBeDefined();
    await applier.apply(cm('i2', { a: '1' }, 'inf'));
    await waitFor('watch add', async () => inf.get(`${ns.name}/i2`), 10000, 20);
    // Force an expired resourceVersion: the server answers 410 and the informer relists.
    await inf.stop();
    (inf as unknown as { resourceVersion: string }).resourceVersion = '1';
    await applier.delete(CM, 'i1', ns.name);
    // A young cluster still holds revision 1; compact etcd so that version is really gone, as it
    // would be after the API server's periodic compaction.
    await compactEtcdNow();
    inf.start();
    await waitFor('relist after 410', async () => inf.counters.relists410 > 0 && !inf.get(`${ns.name}/i1`), 15000, 20);
    expect(events).toContain('delete:i1');
    await inf.stop();
  });

  it('elects exactly one leader and fails over when it stops', async () => {
    const lease = `lease-${randSuffix()}`;
    const leaders = new Set<string>();
    const mk = (id: string): LeaderElector =>
      new LeaderElector(rest, {
        namespace: ns.name,
        name: lease,
        identity: id,
        logger: silentLogger(),
        leaseDurationMs: 3000,
        renewDeadlineMs: 2000,
        retryPeriodMs: 250,
        onStartedLeading: () => leaders.add(id),
        onStoppedLeading: () => leaders.delete(id),
      });
    const a = mk('a');
    const b = mk('b');
    a.start();
    b.start();
    await waitFor('a leader', async () => leaders.size === 1, 10000, 50);
    // Both keep campaigning for a while: never two leaders.
    for (let i = 0; i < 10; i++) {
      expect(leaders.size).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const first = [...leaders][0]!;
    const [leader, standby] = first === 'a' ? [a, b] : [b, a];
    const t0 = Date.now();
    await leader.stop();
    await waitFor('failover', async () => standby.isLeader(), 5000, 20);
    expect(Date.now() - t0).toBeLessThan(3000); // within the lease duration
    expect(leaders.size).toBe(1);
    await standby.stop();
  });

  it('a crashed leader (no release) is replaced after the lease expires', async () => {
    const lease = `lease-${randSuffix()}`;
    const mk = (id: string): LeaderElector =>
      new LeaderElector(rest, { namespace: ns.name, name: lease, identity: id, logger: silentLogger(), leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 200, onStartedLeading: () => undefined, onStoppedLeading: () => undefined });
    const a = mk('crash-a');
    expect(await a.tryAcquireOrRenew()).toBe(true); // a acquires once and then "dies"
    const b = mk('crash-b');
    expect(await b.tryAcquireOrRenew()).toBe(false);
    const t0 = Date.now();
    b.start();
    await waitFor('takeover after expiry', async () => b.isLeader(), 8000, 50);
    expect(Date.now() - t0).toBeGreaterThan(500);
    await b.stop();
  });
});
