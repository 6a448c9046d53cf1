// Install from the real manifests, as a user would: `kubectl apply -f manifests/`, a MeshConfig,
// `kubectl wait --for=condition=Ready`. The operator, the control plane it renders and the
// sidecars it injects all run as real processes on the process kubelet (no in-process stand-ins).
// A labeled namespace gets injected pods that obtain SPIFFE certs from the in-pod control plane
// and pass mTLS traffic; then uninstall leaves 0 Weft resources.
//
// The one dev overlay: the operator Deployment (and, through MeshConfig placement fields, the
// control plane) is pinned to the process kubelet's node; everywhere else kwok would only
// pretend to run it. Name lookups use the process kubelet's cluster DNS; the API server calls
// the operator's webhook at its pod IP (--enable-aggregator-routing, no kube-proxy here).
// NETWORK RULE: all traffic is between pod netns on the test bridge and 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { clusterClients, waitFor } from '../../helpers/cluster.js';
import { repoRoot } from '../../helpers/paths.js';
import { MESH_NS, applyObject, installManifests, kubectl, processNodePlacement, uninstall } from './install-kit.js';
import { onProcessNode, startProcessKubelet, type ProcessKubeletHandle } from '../kubelet/start.js';
import { downwardEnv, waitForDefaultSA } from '../kubelet/pods.js';
import { containerLog, curlInNetns, loadInNetns, podNetns, readyPods, requestCount } from '../mesh/harness.js';
import { grpcCallsInNetns, tcpEchoVersion } from './l4-probes.js';
import { readPackageVersion } from '../../../src/cmd/version.js';

const clients = clusterClients();
const APP_NS = 'e2e-install-app';
const MC_NAME = 'default';
/** 400 requests: a 5-point band is 3.3 standard deviations of a 90/10 split (a false alarm about 1 in 1,000). */
const SPLIT_N = 400;
/** TCP connections for the 80/20 shift: a 5-point band is 3.1 standard deviations of it at 600. */
const TCP_N = 600;
const GRPC_N = 200;
/**
 * Upgrade path: OLD -InPlace-> MID -RevisionBased-> the current build. OLD is the previous
 * release built from its commit (hack/previous-release), so old proxies and an old control
 * plane meet the new operator; MID is the current build stamped with a second version.
 */
const NEW = readPackageVersion();
const [OLD, OLD_REF] = fs.readFileSync(path.join(repoRoot, 'hack/previous-release'), 'utf8').trim().split(/\s+/) as [string, string];
const MID = '0.0.9';
/** Short enough that every sidecar renews about every 30 s (50% ± 10%) while the loops run. */
const CERT_TTL = '1m';
let kubelet: ProcessKubeletHandle | undefined;
let serverPod: V1Pod | undefined;
let clientPod: V1Pod | undefined;

const meshConfig = {
  apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: MC_NAME },
  spec: {
    version: OLD, controlPlane: { ...processNodePlacement },
    gateways: [{ name: 'ingressgateway', type: 'ingress', labels: { istio: 'ingressgateway' }, ...processNodePlacement }],
    security: { workloadCertTTL: CERT_TTL },
    updateStrategy: { type: 'InPlace', dataPlaneRollout: { mode: 'Automatic' } },
  },
};

function app(name: string, sa: string, env: { name: string; value: string }[] = []): object {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: APP_NS, labels },
    spec: {
      replicas: 1, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          // A rolling restart must not drop requests: the app keeps serving 3 s after SIGTERM,
          // while the endpoint's removal reaches every client sidecar (as a preStop sleep would).
          ...onProcessNode, serviceAccountName: sa, terminationGracePeriodSeconds: 10,
          containers: [{
            name: 'app', image: 'weft-test/echo:1', env: [...downwardEnv, { name: 'SHUTDOWN_DELAY_MS', value: '3000' }, ...env],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 10 },
          }],
        },
      },
    },
  };
}

/**
 * The traffic source: a bare Pod, not a Deployment, so a data-plane rollout (which restarts
 * Deployments) never kills the loop that watches it. It is replaced once the upgrades are done.
 */
function clientPodSpec(): object {
  const d = app('client', 'client') as { spec: { template: { metadata: object; spec: object } } };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...d.spec.template.metadata, name: 'client', namespace: APP_NS }, spec: d.spec.template.spec };
}

/** Pods of the mesh namespace with their phase and restart counts, and their last log lines. */
async function diagnostics(): Promise<string> {
  const pods = await clients.core.listNamespacedPod({ namespace: MESH_NS }).catch(() => ({ items: [] as V1Pod[] }));
  const lines = pods.items.map((p) => `${p.metadata?.name} ${p.spec?.nodeName ?? '-'} ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((s) => [s.name, s.ready, s.restartCount]))}\n${containerLog(p, p.spec?.containers[0]?.name ?? '', 1500)}`);
  const mc = await kubectl('get', 'meshconfig', MC_NAME, '-o', 'jsonpath={.status.conditions}').catch((e: unknown) => String(e));
  const appPods = await clients.core.listNamespacedPod({ namespace: APP_NS }).catch(() => ({ items: [] as V1Pod[] }));
  const apps = appPods.items.map((p) => `${p.metadata?.name} weft-proxy:\n${containerLog(p, 'weft-proxy', 800)}`);
  return [`meshconfig conditions: ${mc}`, ...lines, ...apps].join('\n');
}

async function withDiagnostics<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new Error(`${String(e)}\n${await diagnostics()}`, { cause: e });
  }
}

/** A control plane at `version` is Ready, and every Deployment-owned proxy in the app namespace runs `version`, Ready, none terminating. */
async function upgradedTo(version: string): Promise<boolean> {
  const tag = `:${version}`;
  const cps = (await clients.core.listNamespacedPod({ namespace: MESH_NS, labelSelector: 'app=weft-controlplane' })).items;
  const apps = (await clients.core.listNamespacedPod({ namespace: APP_NS })).items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'ReplicaSet'));
  const ready = (p: V1Pod): boolean => !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  // A new control plane serves (RevisionBased keeps the old revision while a proxy still uses it).
  return cps.some((p) => ready(p) && (p.spec?.containers[0]?.image ?? '').endsWith(tag))
    && apps.length > 0 && apps.every((p) => ready(p) && (p.spec?.initContainers ?? []).some((c) => c.name === 'weft-proxy' && (c.image ?? '').endsWith(tag)));
}

/** Every object Weft creates carries app.kubernetes.io/part-of=weft; plus its CRDs and namespace. */
async function weftLeftovers(): Promise<string[]> {
  const kinds = 'deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations,poddisruptionbudgets,leases';
  const labeled = (await kubectl('get', kinds, '-A', '-l', 'app.kubernetes.io/part-of=weft', '-o', 'name')).split('\n').filter(Boolean);
  const crds = (await kubectl('get', 'crd', '-o', 'name')).split('\n').filter((n) => n.endsWith('.operator.weft.dev'));
  const ns = (await kubectl('get', 'namespace', MESH_NS, '--ignore-not-found', '-o', 'name')).trim();
  return [...labeled, ...crds, ...(ns ? [ns] : [])];
}

/** The previous release's build; a clone without its commit (shallow) upgrades from the current build instead, and says so. */
function cachePreviousRelease(): void {
  try {
    execFileSync('bash', [path.join(repoRoot, 'hack/version-cache.sh'), OLD, OLD_REF], { stdio: ['ignore', 'ignore', 'pipe'] });
    console.log(`install e2e: ${OLD} is the previous release, built from ${OLD_REF}`);
  } catch (e) {
    if ((e as { status?: number }).status !== 3) throw new Error(`building the previous release ${OLD_REF}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`, { cause: e });
    console.warn(`install e2e: WARNING ${OLD_REF} is not in this clone; ${OLD} is the current build stamped ${OLD}`);
    execFileSync('bash', [path.join(repoRoot, 'hack/version-cache.sh'), OLD], { stdio: 'ignore' });
  }
}

/** The serial of the workload certificate a pod's sidecar serves now (its /certs admin page). */
async function certSerial(pod: V1Pod): Promise<string> {
  const r = await curlInNetns(podNetns(pod), 'http://127.0.0.1:15000/certs');
  return r.status === 200 ? (JSON.parse(r.body) as { certificates: Array<{ serial: string }> }).certificates[0]?.serial ?? 'none' : `error ${r.status}`;
}

beforeAll(async () => {
  cachePreviousRelease();
  execFileSync('bash', [path.join(repoRoot, 'hack/version-cache.sh'), MID], { stdio: 'ignore' });
  kubelet = await startProcessKubelet();
}, 240_000);

afterAll(async () => {
  // Best effort if a step failed half way: never leave the operator's webhook behind, it would
  // inject pods of later suites.
  await kubectl('delete', 'namespace', APP_NS, '--ignore-not-found', '--wait=false').catch(() => undefined);
  await uninstall();
  await kubelet?.stop();
}, 300_000);

describe('install from manifests/, inject, uninstall (real operator, control plane and sidecars as pods)', () => {
  it('1. kubectl apply -f manifests/ and a MeshConfig: the operator and the control plane it renders run as pods and report Ready', async () => {
    expect(fs.existsSync(path.join(repoRoot, 'manifests/weft.yaml'))).toBe(true);
    await withDiagnostics(async () => {
      await installManifests(); // + the dev overlay: the operator runs where pods really run
      await applyObject(meshConfig);
      expect(await kubectl('wait', '--for=condition=Ready', `meshconfig/${MC_NAME}`, '--timeout=180s')).toMatch(/condition met/);
    });
    const cps = await clients.core.listNamespacedPod({ namespace: MESH_NS, labelSelector: 'app=weft-controlplane' });
    expect(cps.items.length).toBeGreaterThan(0);
    for (const p of cps.items) expect(p.spec?.nodeName).toBe('weft-proc-0');
  }, 420_000);

  it('2. a labeled namespace gets sidecars from the operator webhook; they take SPIFFE certs from the in-pod CA and carry mTLS traffic', async () => {
    await applyObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS, labels: { 'weft.dev/injection': 'enabled', 'weft.dev/test': 'true' } } });
    await waitForDefaultSA(clients, APP_NS);
    for (const sa of ['server', 'client']) await applyObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: APP_NS } });
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'server', namespace: APP_NS }, spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } };
    await applyObject({ apiVersion: 'v1', kind: 'List', items: [svc, app('server', 'server', [{ name: 'VERSION', value: 'v1' }]), clientPodSpec()] });
    await withDiagnostics(async () => {
      [serverPod] = await readyPods(clients, APP_NS, 'app=server', 1, 120_000);
      [clientPod] = await readyPods(clients, APP_NS, 'app=client', 1, 120_000);
    });
    for (const p of [serverPod!, clientPod!]) {
      expect((p.spec?.initContainers ?? []).map((c) => c.name)).toEqual(['weft-init', 'weft-proxy']);
      const certs = await curlInNetns(podNetns(p), 'http://127.0.0.1:15000/certs');
      expect(certs.body).toContain(`spiffe://cluster.local/ns/${APP_NS}/sa/${p.spec?.serviceAccountName}`);
    }
    const clusterIP = (await clients.core.readNamespacedService({ name: 'server', namespace: APP_NS })).spec!.clusterIP!;
    const r = await withDiagnostics(() => waitFor('client -> server through both sidecars', async () => {
      const x = await curlInNetns(podNetns(clientPod!), `http://${clusterIP}:8080/`, { timeoutS: 5 });
      return x.status === 200 && x.body.includes('"version":"v1"') ? x : undefined;
    }, 60_000, 500));
    // mTLS on the wire: the server's sidecar saw the client's SPIFFE identity and says so in XFCC.
    const headers = (JSON.parse(r.body) as { headers?: Record<string, string> }).headers ?? {};
    expect(headers['x-forwarded-client-cert'] ?? '').toContain(`URI=spiffe://cluster.local/ns/${APP_NS}/sa/client`);
  }, 300_000);

  it('3. Bookinfo from samples/: every pod meshed; Istio task files route all-v1, reviews 90/10 within 5 points, jason to v2 and the rest to v3', async () => {
    const apply = (f: string): Promise<string> => kubectl('apply', '-n', APP_NS, '-f', path.join(repoRoot, 'samples/bookinfo', f));
    await apply('bookinfo.yaml');
    await withDiagnostics(async () => {
      for (const a of ['productpage', 'details', 'ratings']) await readyPods(clients, APP_NS, `app=${a}`, 1, 120_000);
      await readyPods(clients, APP_NS, 'app=reviews', 3, 120_000);
    });
    const pods = await clients.core.listNamespacedPod({ namespace: APP_NS });
    for (const p of pods.items) expect((p.spec?.initContainers ?? []).map((c) => c.name)).toContain('weft-proxy');
    const pp = (await clients.core.readNamespacedService({ name: 'productpage', namespace: APP_NS })).spec!.clusterIP!;
    interface Page { details?: { ok: boolean }; reviews?: { ok: boolean; body?: { version?: string; reviews?: Array<{ rating?: { color?: string } }> } } }
    const page = async (headers: Record<string, string> = {}): Promise<Page> => {
      const r = await curlInNetns(podNetns(clientPod!), `http://${pp}:9080/api/v1/products/0`, { headers, timeoutS: 10 });
      return r.status === 200 ? JSON.parse(r.body) as Page : {};
    };
    const reviewsVersion = async (headers: Record<string, string> = {}): Promise<string> => (await page(headers)).reviews?.body?.version ?? 'none';
    await apply('networking/destination-rule-all.yaml');
    await apply('networking/virtual-service-all-v1.yaml');
    await withDiagnostics(() => waitFor('all traffic on reviews v1', async () => {
      const vs = await Promise.all(Array.from({ length: 5 }, () => reviewsVersion()));
      return vs.every((v) => v === 'v1');
    }, 60_000, 500));
    expect((await page()).details?.ok).toBe(true);

    await apply('networking/virtual-service-reviews-90-10.yaml');
    await waitFor('the 90/10 split is live', async () => (await reviewsVersion()) === 'v2', 60_000, 100);
    const counts: Record<string, number> = {};
    for (let i = 0; i < SPLIT_N; i++) {
      const v = await reviewsVersion();
      counts[v] = (counts[v] ?? 0) + 1;
    }
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(SPLIT_N);
    expect(Math.abs((counts.v1 ?? 0) / SPLIT_N - 0.9)).toBeLessThanOrEqual(0.05);

    await apply('networking/virtual-service-reviews-jason-v2-v3.yaml');
    await waitFor('jason on v2, others on v3', async () => (await reviewsVersion({ 'end-user': 'jason' })) === 'v2' && (await reviewsVersion()) === 'v3', 60_000, 500);
    const jason = await Promise.all(Array.from({ length: 10 }, () => reviewsVersion({ 'end-user': 'jason' })));
    const others = await Promise.all(Array.from({ length: 10 }, () => reviewsVersion()));
    expect(jason).toEqual(Array(10).fill('v2'));
    expect(others).toEqual(Array(10).fill('v3'));
    // v3 calls ratings through its own sidecar: red stars, not an error.
    expect((await page()).reviews?.body?.reviews?.[0]?.rating?.color).toBe('red');
    console.log(`install e2e: reviews 90/10 measured v1=${counts.v1 ?? 0} v2=${counts.v2 ?? 0} of ${SPLIT_N}`);
  }, 420_000);

  it(`4. upgrade under a 40 ms request loop: InPlace ${OLD} -> ${MID}, then RevisionBased ${MID} -> ${NEW}, Automatic data-plane rollout: 100% success, every proxy ends on ${NEW}`, async () => {
    const clusterIP = (await clients.core.readNamespacedService({ name: 'server', namespace: APP_NS })).spec!.clusterIP!;
    const netns = podNetns(clientPod!);
    const results: string[] = [];
    for (const [to, strategy] of [[MID, { type: 'InPlace' }], [NEW, { type: 'RevisionBased', revisionGracePeriod: '0s' }]] as const) {
      await kubectl('patch', 'meshconfig', MC_NAME, '--type=merge', '-p', JSON.stringify({ spec: { version: to, updateStrategy: { ...strategy, dataPlaneRollout: { mode: 'Automatic' } } } }));
      const totals: Record<string, number> = {};
      const errors: string[] = [];
      let done = false;
      const deadline = Date.now() + 240_000;
      while (Date.now() < deadline) {
        const r = await loadInNetns(netns, `http://${clusterIP}:8080/upgrade`, { n: 50, gapMs: 40, timeoutMs: 10_000 });
        for (const [k, v] of Object.entries(r.statuses)) totals[k] = (totals[k] ?? 0) + v;
        errors.push(...r.errors);
        if (done) break; // one more chunk after everything reports the new version
        done = await upgradedTo(to);
      }
      results.push(`${strategy.type} -> ${to}: ${JSON.stringify(totals)}`);
      expect({ to, done, errors: errors.slice(0, 3), statuses: Object.keys(totals) }).toEqual({ to, done: true, errors: [], statuses: ['200'] });
    }
    console.log(`install e2e: upgrades under a 40 ms loop: ${results.join('; ')}`);
    // The bare client kept its old sidecar (nothing restarts a bare Pod); replace it, and then
    // every proxy in the mesh runs the new version and the operator reports none outdated.
    await kubectl('delete', 'pod', 'client', '-n', APP_NS, '--wait=true', '--timeout=60s');
    await applyObject(clientPodSpec());
    [clientPod] = await readyPods(clients, APP_NS, 'app=client', 1, 120_000);
    // Every proxy in the namespace now runs the new version (read from the pods themselves), and
    // the operator says the upgrade is over with none outdated.
    const pods = (await clients.core.listNamespacedPod({ namespace: APP_NS })).items;
    const images = pods.map((p) => `${p.metadata?.name}: ${(p.spec?.initContainers ?? []).find((c) => c.name === 'weft-proxy')?.image ?? 'none'}`);
    expect(images.filter((i) => !i.endsWith(`:${NEW}`))).toEqual([]);
    await withDiagnostics(() => waitFor('Upgrading=False, no outdated proxies, proxiesByVersion only the new version', async () => {
      const st = JSON.parse(await kubectl('get', 'meshconfig', MC_NAME, '-o', 'jsonpath={.status}')) as { dataPlane?: { outdatedProxies?: number; proxiesByVersion?: Record<string, number> }; conditions?: Array<{ type: string; status: string }> };
      const versions = Object.keys(st.dataPlane?.proxiesByVersion ?? {});
      return st.conditions?.find((c) => c.type === 'Upgrading')?.status === 'False' && (st.dataPlane?.outdatedProxies ?? 0) === 0
        && versions.length > 0 && versions.every((v) => v === NEW) ? true : undefined;
    }, 120_000, 1000));
  }, 600_000);

  it(`4b. on ${NEW}, gRPC and TCP samples: unary gRPC through both sidecars counted exactly by the servers' proxies; Istio's TCP traffic-shifting task through the ingress gateway (all v1, then 80/20 within 5 points)`, async () => {
    const apply = (f: string): Promise<string> => kubectl('apply', '-n', APP_NS, '-f', path.join(repoRoot, 'samples', f));
    await apply('grpc-echo/grpc-echo.yaml');
    await apply('tcp-echo/tcp-echo.yaml');
    const grpcPods = await withDiagnostics(async () => {
      await readyPods(clients, APP_NS, 'app=tcp-echo', 2, 120_000);
      return await readyPods(clients, APP_NS, 'app=grpc-echo', 2, 120_000); // v1 and v2
    });
    // Inbound requests the grpc-echo sidecars answered with 200, summed over both pods.
    const served = async (): Promise<number> => (await Promise.all(grpcPods.map((p) => requestCount(podNetns(p), ['reporter="destination"', 'response_code="200"'])))).reduce((a, b) => a + b, 0);
    // gRPC: one HTTP/2 connection from the client's sidecar, mTLS to grpc-echo's sidecar.
    const grpcIP = (await clients.core.readNamespacedService({ name: 'grpc-echo', namespace: APP_NS })).spec!.clusterIP!;
    await withDiagnostics(() => waitFor('a first gRPC answer', async () => {
      const r = await grpcCallsInNetns(podNetns(clientPod!), `${grpcIP}:9090`, 1);
      if (r.ok !== 1) throw new Error(r.errors.join('; '));
      return true;
    }, 60_000, 500));
    const before = await served();
    const calls = await grpcCallsInNetns(podNetns(clientPod!), `${grpcIP}:9090`, GRPC_N);
    expect({ ok: calls.ok, errors: calls.errors }).toEqual({ ok: GRPC_N, errors: [] });
    const counted = await waitFor('the server sidecars count every call', async () => {
      const n = (await served()) - before;
      return n >= GRPC_N ? n : undefined;
    }, 10_000, 250).catch(async () => (await served()) - before);
    expect(counted).toBe(GRPC_N);

    // TCP through the ingress gateway, with Istio's task files unchanged.
    await apply('tcp-echo/tcp-echo-all-v1.yaml');
    const [gw] = await readyPods(clients, MESH_NS, 'istio=ingressgateway', 1, 120_000);
    const gwIP = gw!.status!.podIP!;
    await withDiagnostics(() => waitFor('tcp-echo v1 through the gateway', async () => {
      const vs = await Promise.all(Array.from({ length: 5 }, () => tcpEchoVersion(gwIP, 31400)));
      return vs.every((v) => v === 'v1') ? true : undefined;
    }, 60_000, 500));
    const allV1: Record<string, number> = {};
    for (let i = 0; i < 50; i++) { const v = await tcpEchoVersion(gwIP, 31400); allV1[v] = (allV1[v] ?? 0) + 1; }
    expect(allV1).toEqual({ v1: 50 });
    await apply('tcp-echo/tcp-echo-20-v2.yaml');
    await waitFor('the 80/20 TCP split is live', async () => (await tcpEchoVersion(gwIP, 31400)) === 'v2', 60_000, 100);
    const tcp: Record<string, number> = {};
    for (let i = 0; i < TCP_N; i++) { const v = await tcpEchoVersion(gwIP, 31400); tcp[v] = (tcp[v] ?? 0) + 1; }
    expect((tcp.v1 ?? 0) + (tcp.v2 ?? 0)).toBe(TCP_N);
    expect(Math.abs((tcp.v2 ?? 0) / TCP_N - 0.2)).toBeLessThanOrEqual(0.05);
    console.log(`install e2e: gRPC ${calls.ok}/${GRPC_N} ok, counted ${counted}; TCP 80/20 measured v1=${tcp.v1 ?? 0} v2=${tcp.v2 ?? 0} of ${TCP_N}`);
  }, 420_000);

  it(`5. certificate rotation with a ${CERT_TTL} TTL under the 40 ms loop: every sidecar renews twice, 0 failed requests`, async () => {
    const clusterIP = (await clients.core.readNamespacedService({ name: 'server', namespace: APP_NS })).spec!.clusterIP!;
    [serverPod] = await readyPods(clients, APP_NS, 'app=server', 1, 60_000);
    const watched = [serverPod!, clientPod!];
    const seen = watched.map(() => new Set<string>());
    const sample = async (): Promise<void> => {
      const serials = await Promise.all(watched.map(certSerial));
      serials.forEach((x, i) => { if (!x.startsWith('error')) seen[i]!.add(x); });
    };
    await sample();
    const totals: Record<string, number> = {};
    const errors: string[] = [];
    // 90 s: renewals land 24-36 s apart, so each sidecar renews at least twice.
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const r = await loadInNetns(podNetns(clientPod!), `http://${clusterIP}:8080/rotation`, { n: 50, gapMs: 40, timeoutMs: 10_000 });
      for (const [k, v] of Object.entries(r.statuses)) totals[k] = (totals[k] ?? 0) + v;
      errors.push(...r.errors);
      await sample();
    }
    const renewals = seen.map((s) => s.size - 1);
    console.log(`install e2e: ${CERT_TTL} TTL under a 40 ms loop for 90 s: ${JSON.stringify(totals)}, renewals server=${renewals[0]} client=${renewals[1]}`);
    expect({ errors: errors.slice(0, 3), statuses: Object.keys(totals) }).toEqual({ errors: [], statuses: ['200'] });
    for (const n of renewals) expect(n).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('6. uninstall (MeshConfig, then manifests/) leaves 0 Weft resources', async () => {
    await kubectl('delete', 'namespace', APP_NS, '--timeout=120s');
    await kubectl('delete', 'meshconfig', MC_NAME, '--timeout=120s');
    await kubectl('delete', '-f', path.join(repoRoot, 'manifests/weft.yaml'), '--ignore-not-found', '--timeout=180s');
    const left = await waitFor('no Weft resources left', async () => {
      const l = await weftLeftovers();
      return l.length === 0 ? l : undefined;
    }, 120_000, 1000).catch(async () => await weftLeftovers());
    expect(left).toEqual([]);
  }, 420_000);
});
