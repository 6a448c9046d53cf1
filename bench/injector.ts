// Injector benchmark: AdmissionReviews over TLS keep-alive on loopback with a realistic
// ~3.5 KB pod, against an anchor measured in the same run: an express HTTPS handler that
// reads the body and returns "allowed" without work. The load generator runs in a worker
// thread, so the server's event loop (one core) is what is measured. Every loop is bounded
// in count and time, and only 127.0.0.1 is contacted.
//   node dist/bench/injector.js [--quick]
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig } from '../src/api/injection.js';
import { silentLogger } from '../src/log/logger.js';
import { createCA, issueServingCert, type KeyAndCert } from '../src/webhook/certs.js';
import { WebhookServer } from '../src/webhook/server.js';
import { formatTable, percentile, writeJson, type BenchRow } from './lib/report.js';

interface LoadJob {
  port: number;
  ca: string;
  path: string;
  body: string;
  /** closed: `concurrency` loops back to back; open: a fixed arrival rate. */
  mode: 'closed' | 'open';
  concurrency: number;
  ratePerSec: number;
  durationMs: number;
  maxCount: number;
  /** Leading samples dropped (connection set-up, JIT warm-up). */
  warmup: number;
}

interface LoadResult {
  count: number;
  errors: number;
  elapsedMs: number;
  latenciesMs: number[];
}

/** A pod as a Deployment controller would send it: two containers, probes, env, volumes. */
export function realisticPod(): V1Pod {
  const env = Array.from({ length: 24 }, (_, i) => ({ name: `APP_SETTING_${i}`, value: `value-${i}-${'x'.repeat(12)}` }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'checkout-6f9c8d7b5-',
      namespace: 'shop',
      labels: { app: 'checkout', version: 'v3', 'pod-template-hash': '6f9c8d7b5', team: 'payments', tier: 'backend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-6f9c8d7b5', uid: '6a1f0f7e-9d52-4b0c-8f0a-2c9a1d3e4b5f', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: 'checkout',
      terminationGracePeriodSeconds: 30,
      volumes: [{ name: 'config', configMap: { name: 'checkout-config' } }, { name: 'tmp', emptyDir: {} }],
      containers: [
        {
          name: 'checkout',
          image: 'registry.example.com/shop/checkout:3.14.2',
          args: ['--port=8080', '--admin-port=9102', '--log-format=json'],
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9102, protocol: 'TCP' }],
          env,
          resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          volumeMounts: [{ name: 'config', mountPath: '/etc/checkout', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 10, initialDelaySeconds: 5 },
          securityContext: { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false },
        },
        {
          name: 'log-shipper',
          image: 'registry.example.com/infra/log-shipper:1.9.0',
          args: ['--input=/var/log/app', '--output=stdout'],
          resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
          volumeMounts: [{ name: 'tmp', mountPath: '/var/log/app' }],
        },
      ],
    },
  };
}

export function reviewFor(pod: V1Pod, uid: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: pod,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

// ------------------------------------------------------------------ load generator (worker)
async function runLoad(job: LoadJob): Promise<LoadResult> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: job.concurrency });
  const payload = Buffer.from(job.body);
  const one = (): Promise<number> => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = https.request({
      host: '127.0.0.1', port: job.port, path: job.path, method: 'POST', agent, ca: job.ca, servername: 'weft-webhook.weft-system.svc',
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
    }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
  const latenciesMs: number[] = [];
  let errors = 0;
  let start = performance.now();
  if (job.mode === 'closed') {
    let issued = 0;
    // Warm-up: open every connection (TLS handshakes) before the clock starts.
    await Promise.all(Array.from({ length: job.concurrency }, () => one().catch(() => { errors++; })));
    start = performance.now();
    await Promise.all(Array.from({ length: job.concurrency }, async () => {
      while (issued < job.maxCount && performance.now() < start + job.durationMs) {
        issued++;
        try { latenciesMs.push(await one()); } catch { errors++; }
      }
    }));
  } else {
    const interval = 1000 / job.ratePerSec;
    const stopAt = start + job.durationMs + job.warmup * interval;
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < job.maxCount + job.warmup && performance.now() < stopAt; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const keep = i >= job.warmup;
      inflight.push(one().then((ms) => { if (keep) latenciesMs.push(ms); }, () => { errors++; }));
    }
    await Promise.all(inflight);
  }
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return { count: latenciesMs.length, errors, elapsedMs, latenciesMs };
}

if (!isMainThread && parentPort && (workerData as { bench?: string })?.bench === 'injector') {
  const port = parentPort;
  runLoad((workerData as { job: LoadJob }).job).then((r) => port.postMessage(r), (e: unknown) => port.postMessage({ error: String(e) }));
}

function inWorker(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { bench: 'injector', job } });
    w.once('message', (m: LoadResult | { error: string }) => {
      void w.terminate();
      if ('error' in m) reject(new Error(m.error));
      else resolve(m);
    });
    w.once('error', reject);
  });
}

// ------------------------------------------------------------------ servers
async function anchorServer(tls: KeyAndCert): Promise<{ port: number; close: () => Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const reply = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'anchor', allowed: true } });
  app.post('/inject', express.raw({ type: () => true, limit: 4 * 1024 * 1024 }), (_req, res) => { res.type('application/json').send(reply); });
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

function timeHandler(fn: () => unknown, count: number, maxMs: number): number {
  for (let i = 0; i < Math.min(200, count); i++) fn(); // warm-up
  const start = performance.now();
  let n = 0;
  while (n < count && performance.now() - start < maxMs) {
    fn();
    n++;
  }
  return (performance.now() - start) / n;
}

export async function runInjectorBench(quick = false): Promise<BenchRow[]> {
  const now = new Date();
  const ca = await createCA(now, 24 * 3600 * 1000);
  const leaf = await issueServingCert(ca, now, 3600 * 1000, ['weft-webhook.weft-system.svc'], ['127.0.0.1']);
  const pod = realisticPod();
  const body = reviewFor(pod, '2f1d6c1e-7a43-4f0e-9b1e-5d3c2b1a0f9e');
  const podBytes = Buffer.byteLength(JSON.stringify(pod));

  const weft = new WebhookServer({ injection: new Map([['default', defaultInjectionConfig()]]), defaultRevision: 'default', logger: silentLogger() });
  const weftPort = await weft.listen(leaf, 0);
  const anchor = await anchorServer(leaf);
  const rows: BenchRow[] = [];
  try {
    // 1. Handler time per review, in process (no HTTP, no TLS).
    const count = quick ? 2000 : 10000;
    const handlerMs = timeHandler(() => weft.inject(body, 'default'), count, quick ? 3000 : 10000);
    const anchorHandlerMs = timeHandler(() => JSON.stringify({ response: { uid: (JSON.parse(body) as { request: { uid: string } }).request.uid, allowed: true } }), count, 3000);
    rows.push({
      scenario: `inject handler (${podBytes} B pod)`, measure: 'time per review', unit: 'ms', weft: handlerMs, anchor: anchorHandlerMs,
      anchorName: 'JSON parse+reply', goal: '<= 0.65 ms absolute', better: 'lower',
    });

    // 2. Max reviews/s over TLS keep-alive, closed loop, server on one event loop.
    const closed = (port: number): LoadJob => ({
      port, ca: ca.certPem, path: '/inject', body, mode: 'closed', concurrency: 16, ratePerSec: 0, warmup: 0,
      durationMs: quick ? 2000 : 5000, maxCount: quick ? 20000 : 100000,
    });
    await inWorker({ ...closed(weftPort), durationMs: 500, maxCount: 2000 }); // warm-up
    const wMax = await inWorker(closed(weftPort));
    const aMax = await inWorker(closed(anchor.port));
    const rps = (r: LoadResult): number => (r.count / r.elapsedMs) * 1000;
    rows.push({
      scenario: 'inject over TLS keep-alive, 16 conns', measure: 'max reviews/s', unit: 'req/s', weft: rps(wMax), anchor: rps(aMax),
      anchorName: 'express allow-only', goal: '>= 1,000 req/s absolute', better: 'higher',
    });

    // 3. End-to-end latency at a fixed 200 reviews/s.
    const open = (port: number): LoadJob => ({
      port, ca: ca.certPem, path: '/inject', body, mode: 'open', concurrency: 16, ratePerSec: 200, warmup: 200,
      durationMs: quick ? 3000 : 10000, maxCount: quick ? 600 : 2000,
    });
    const wOpen = await inWorker(open(weftPort));
    const aOpen = await inWorker(open(anchor.port));
    const p = (r: LoadResult, q: number): number => percentile([...r.latenciesMs].sort((a, b) => a - b), q);
    rows.push({
      scenario: 'inject at 200 reviews/s', measure: 'p50 latency', unit: 'ms', weft: p(wOpen, 50), anchor: p(aOpen, 50),
      anchorName: 'express allow-only', better: 'lower',
    });
    rows.push({
      scenario: 'inject at 200 reviews/s', measure: 'p99 latency', unit: 'ms', weft: p(wOpen, 99), anchor: p(aOpen, 99),
      anchorName: 'express allow-only', goal: '<= 5 ms absolute', better: 'lower',
    });
    const errors = wMax.errors + aMax.errors + wOpen.errors + aOpen.errors;
    if (errors > 0) throw new Error(`${errors} requests failed during the benchmark`);
  } finally {
    await weft.close();
    await anchor.close();
  }
  return rows;
}

const invokedDirectly = isMainThread && process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  runInjectorBench(quick).then((rows) => {
    console.log(formatTable(rows));
    const [handler, max, , p99] = rows;
    console.log(`absolute goals: handler ${handler!.weft.toFixed(3)} ms <= 0.65: ${handler!.weft <= 0.65 ? 'pass' : 'fail'}; `
      + `max ${max!.weft.toFixed(0)} req/s >= 1000: ${max!.weft >= 1000 ? 'pass' : 'fail'}; p99 ${p99!.weft.toFixed(2)} ms <= 5: ${p99!.weft <= 5 ? 'pass' : 'fail'}`);
    writeJson('bench/results/injector.json', { when: new Date().toISOString(), quick, rows });
  }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
