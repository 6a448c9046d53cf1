// Operator benchmark against the real local cluster (needs `make cluster-up`):
//   - apply -> applied: from writing a MeshConfig change to status Reconciled=True for that
//     generation, i.e. every desired object server-side-applied (pod start not counted);
//   - no-op reconcile: one reconcile pass with nothing to do, and the API writes it made (must be 0);
//   - anchor: one raw SSA PATCH round trip of a small ConfigMap, measured in the same run.
// Bounded in count and time.
//   node dist/bench/operator.js [--quick]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { KubeApplier, KubeRest, type KubeObject } from '../src/kube/apply.js';
import { loadKubeConfig } from '../src/kube/client.js';
import { silentLogger } from '../src/log/logger.js';
import { runOperator } from '../src/operator/manager.js';
import { formatTable, writeJson, type BenchRow } from './lib/report.js';
import fs from 'node:fs';
import YAML from 'yaml';

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}
function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? Number.NaN;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 5): Promise<T> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}

export interface OperatorBenchResult {
  rows: BenchRow[];
  installMs: number;
  applyToAppliedMs: number[];
  noopMs: number[];
  noopWrites: number;
  ssaMs: number[];
}

export async function runOperatorBench(quick: boolean, kubeconfig = process.env.KUBECONFIG ?? path.join(process.cwd(), '.cluster/kubeconfig')): Promise<OperatorBenchResult> {
  const kc = loadKubeConfig({ kubeconfig });
  const rest = new KubeRest(kc);
  const user = new KubeApplier(rest, 'weft-bench');
  const crd = YAML.parse(fs.readFileSync(path.join(process.cwd(), 'manifests/crds/meshconfig.yaml'), 'utf8')) as KubeObject;
  await user.apply(crd);
  const sfx = Math.random().toString(16).slice(2, 8);
  const opNs = `bench-op-${sfx}`;
  const name = `bench-${sfx}`;
  await user.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: opNs } });
  await until('CRD established', async () => ((await user.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(crd, crd.metadata.name))?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined), 30000, 50);
  const op = await runOperator({ kubeConfig: kc, namespace: opNs, logger: silentLogger(), webhookUrl: 'https://127.0.0.1:1', leaseDurationMs: 3000, retryPeriodMs: 200, pollMs: 1000 });
  const iters = quick ? 5 : 20;
  const noopIters = quick ? 20 : 100;
  try {
    await until('leader', async () => (op.isLeader() ? true : undefined), 10000, 20);
    await op.synced;

    // Anchor: a raw SSA PATCH round trip (same connection pool, same server).
    const ssaMs: number[] = [];
    for (let i = 0; i < noopIters; i++) {
      const t = performance.now();
      await user.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bench-anchor', namespace: opNs }, data: { i: String(i) } });
      ssaMs.push(performance.now() - t);
    }

    const spec = (sampling: number): Record<string, unknown> => ({
      version: '1.0.0',
      namespace: `bench-${sfx}-mesh`,
      injection: { namespaceLabel: `bench-${sfx}.weft.dev/injection`, revisionLabel: `bench-${sfx}.weft.dev/rev`, failurePolicy: 'Ignore' },
      gateways: [{ name: 'ingress', type: 'ingress' }, { name: 'egress', type: 'egress' }],
      telemetry: { tracing: { samplingPercent: sampling } },
    });
    const reconciledGen = async (gen: number): Promise<true | undefined> => {
      const mc = await user.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string; observedGeneration?: number }> } }>(MC, name);
      return mc?.status?.conditions?.some((c) => c.type === 'Reconciled' && c.status === 'True' && c.observedGeneration === gen) ? true : undefined;
    };

    // First install (all objects created).
    let t = performance.now();
    let mc = await user.apply(({ ...MC, metadata: { name }, spec: spec(1) }) as KubeObject);
    await until('install reconciled', async () => reconciledGen(mc.metadata.generation ?? 1), 30000);
    const installMs = performance.now() - t;

    // apply -> applied for spec changes (every change touches the mesh ConfigMaps + Deployments' config hash).
    const applyToAppliedMs: number[] = [];
    for (let i = 0; i < iters; i++) {
      t = performance.now();
      mc = await user.apply(({ ...MC, metadata: { name }, spec: spec(2 + i) }) as KubeObject);
      await until('change reconciled', async () => reconciledGen(mc.metadata.generation ?? 0), 30000);
      applyToAppliedMs.push(performance.now() - t);
    }

    // Let the pods settle, then measure no-op passes and count their writes.
    await until('settled', async () => {
      const m = await user.get<KubeObject & { status?: { upgradePhase?: string; conditions?: Array<{ type: string; status: string }> } }>(MC, name);
      return m?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, 60000, 50);
    await new Promise((r) => setTimeout(r, 1500));
    // Count the reconciler's writes only: leader election renews its Lease every retry period
    // (200 ms here) on the same client, and a renewal landing inside the window is not the reconcile's.
    let noopWrites = 0;
    const request = op.rest.request.bind(op.rest);
    op.rest.request = (async (method: string, path: string, opts?: Parameters<typeof request>[2]) => {
      if (!['GET', 'HEAD'].includes(method) && !path.includes('/leases/')) noopWrites++;
      return await request(method, path, opts);
    }) as typeof op.rest.request;
    const noopMs: number[] = [];
    try {
      for (let i = 0; i < noopIters; i++) {
        const s = performance.now();
        await op.reconciler.reconcile(name);
        noopMs.push(performance.now() - s);
      }
    } finally {
      op.rest.request = request;
    }

    const rows: BenchRow[] = [
      { scenario: 'apply -> all objects applied', measure: 'median', unit: 'ms', weft: median(applyToAppliedMs), anchor: median(ssaMs), anchorName: 'ms per raw SSA PATCH', goal: '<= 2000 ms absolute', better: 'lower', spread: [Math.min(...applyToAppliedMs), Math.max(...applyToAppliedMs)] },
      { scenario: 'first install (all objects)', measure: 'once', unit: 'ms', weft: installMs, anchor: median(ssaMs), anchorName: 'ms per raw SSA PATCH', goal: '<= 2000 ms absolute', better: 'lower' },
      { scenario: 'no-op reconcile', measure: 'median', unit: 'ms', weft: median(noopMs), anchor: median(ssaMs), anchorName: 'ms per raw SSA PATCH', goal: '<= 50 ms, 0 writes', better: 'lower', spread: [Math.min(...noopMs), p99(noopMs)] },
    ];
    return { rows, installMs, applyToAppliedMs, noopMs, noopWrites, ssaMs };
  } finally {
    await user.delete(MC, name).catch(() => undefined);
    const end = performance.now() + 60000;
    while (performance.now() < end && (await user.get(MC, name))) await new Promise((r) => setTimeout(r, 200));
    await op.stop();
    await user.delete({ apiVersion: 'v1', kind: 'Namespace' }, opNs).catch(() => undefined);
    rest.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  runOperatorBench(quick).then((r) => {
    console.log(formatTable(r.rows));
    console.log(
      `apply->applied median ${median(r.applyToAppliedMs).toFixed(1)} ms (goal <= 2000): ${median(r.applyToAppliedMs) <= 2000 ? 'pass' : 'fail'}; ` +
        `no-op reconcile median ${median(r.noopMs).toFixed(2)} ms, p99 ${p99(r.noopMs).toFixed(2)} ms with ${r.noopWrites} writes (goal <= 50 ms, 0 writes): ${median(r.noopMs) <= 50 && r.noopWrites === 0 ? 'pass' : 'fail'}; ` +
        `raw SSA PATCH median ${median(r.ssaMs).toFixed(2)} ms`,
    );
    writeJson('bench/results/operator.json', { when: new Date().toISOString(), quick, ...r });
  }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
