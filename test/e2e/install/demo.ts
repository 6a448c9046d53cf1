// The mesh demo for a human (`make demo` -> hack/demo.sh -> hack/demo-mesh.sh), done the way a
// user would: `kubectl apply -f manifests/`, a MeshConfig with an ingress gateway, a labeled
// namespace, Bookinfo from samples/, Istio's own task files. Progress on every step, a report
// from the proxies' own metrics, then it keeps running until SIGTERM/SIGINT (make demo-down).
//   node dist/test/e2e/install/demo.js
// It expects the process kubelet to be running (hack/demo-mesh.sh starts it). Every loop is
// bounded; traffic starts inside pod netns the kubelet created, or goes from the host to pod IPs.
import fs from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { readPackageVersion } from '../../../src/cmd/version.js';
import { clusterClients, waitFor } from '../../helpers/cluster.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { onProcessNode } from '../kubelet/start.js';
import { downwardEnv, httpGet, waitForDefaultSA } from '../kubelet/pods.js';
import { curlInNetns, podNetns, readyPods } from '../mesh/harness.js';
import { MESH_NS, applyObject, installManifests, kubectl, kubectlPath, processNodePlacement, uninstall } from './install-kit.js';

const NS = process.env.WEFT_DEMO_NAMESPACE ?? 'bookinfo';
const clients = clusterClients();
const stateFile = path.join(repoRoot, '.cluster', 'demo-mesh.json');
const t0 = Date.now();
function step(msg: string): void {
  process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

const meshConfig = {
  apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' },
  spec: {
    version: readPackageVersion(),
    controlPlane: { ...processNodePlacement },
    gateways: [{ name: 'ingressgateway', type: 'ingress', labels: { istio: 'ingressgateway' }, ...processNodePlacement }],
  },
};

const client = {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'client', namespace: NS, labels: { app: 'client' } },
  spec: {
    replicas: 1, selector: { matchLabels: { app: 'client' } },
    template: {
      metadata: { labels: { app: 'client' } },
      spec: {
        ...onProcessNode, terminationGracePeriodSeconds: 2,
        containers: [{ name: 'app', image: 'weft-test/echo:1', env: downwardEnv, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 3 } }],
      },
    },
  },
};

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** p-quantile from a Prometheus histogram's cumulative buckets (upper bound of the bucket). */
function histogramQuantile(text: string, metric: string, filter: string, q: number): number | undefined {
  const buckets = new Map<number, number>();
  for (const l of text.split('\n')) {
    if (!l.startsWith(`${metric}_bucket{`) || !l.includes(filter)) continue;
    const le = /le="([^"]+)"/.exec(l)?.[1];
    const v = Number(l.slice(l.lastIndexOf(' ') + 1));
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + v);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  return sorted.find(([, c]) => c >= q * total)?.[0];
}

/** The sum of istio_requests_total series whose labels contain every fragment. */
function requestsTotal(text: string, fragments: string[]): number {
  return text.split('\n').filter((l) => l.startsWith('istio_requests_total{') && fragments.every((f) => l.includes(f)))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function deleteDemoNamespace(): Promise<void> {
  await kubectl('delete', 'namespace', NS, '--ignore-not-found', '--timeout=120s').catch(() => undefined);
}

async function main(): Promise<void> {
  let closing = false;
  const shutdown = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    step(`shutting down: namespace ${NS}, the MeshConfig, then manifests/ (uninstall)`);
    await deleteDemoNamespace();
    await uninstall();
    fs.rmSync(stateFile, { force: true });
    step('demo stopped; nothing of it is left in the cluster');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  try {
    step('removing leftovers of an earlier demo (if any)');
    await deleteDemoNamespace();
    step('kubectl apply --server-side -f manifests/   (CRDs, RBAC, the operator); dev overlay: operator pods on the process kubelet node');
    await installManifests();
    step('operator rolled out; applying MeshConfig "default" (control plane + ingress gateway istio=ingressgateway)');
    await applyObject(meshConfig);
    await kubectl('wait', '--for=condition=Ready', 'meshconfig/default', '--timeout=180s');
    step(`MeshConfig Ready:\n${(await kubectl('get', 'meshconfig', 'default')).trimEnd()}\n${(await kubectl('get', 'pods', '-n', MESH_NS, '-o', 'wide')).trimEnd()}`);

    step(`namespace ${NS} labeled weft.dev/injection=enabled; kubectl apply -f samples/bookinfo/bookinfo.yaml plus a client`);
    await applyObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'weft.dev/injection': 'enabled', 'weft.dev/demo': 'true' } } });
    await waitForDefaultSA(clients, NS);
    await kubectl('apply', '-n', NS, '-f', path.join(repoRoot, 'samples/bookinfo/bookinfo.yaml'));
    await applyObject(client);
    for (const a of ['productpage', 'details', 'ratings', 'client']) await readyPods(clients, NS, `app=${a}`, 1, 180_000);
    await readyPods(clients, NS, 'app=reviews', 3, 180_000);
    const pods = (await clients.core.listNamespacedPod({ namespace: NS })).items;
    for (const p of pods) step(`  ${p.metadata!.name} Ready on ${p.status!.podIP}, init containers [${(p.spec!.initContainers ?? []).map((c) => c.name).join(', ')}]`);
    const clientPod = pods.find((p) => p.metadata?.labels?.app === 'client') as V1Pod;
    const netns = podNetns(clientPod);
    const pp = (await clients.core.readNamespacedService({ name: 'productpage', namespace: NS })).spec!.clusterIP!;
    const url = `http://${pp}:9080/api/v1/products/0`;
    interface Page { reviews?: { body?: { version?: string } }; details?: { ok?: boolean } }
    const reviewsVersion = async (): Promise<string> => {
      const r = await curlInNetns(netns, url, { timeoutS: 10 });
      return r.status === 200 ? ((JSON.parse(r.body) as Page).reviews?.body?.version ?? 'none') : `HTTP ${r.status}`;
    };

    step(`driving traffic: 40 requests from the client pod (netns ${netns}) to productpage ${url}`);
    const lat: number[] = [];
    let ok = 0;
    for (let i = 0; i < 40; i++) {
      const s = Date.now();
      const r = await curlInNetns(netns, url, { timeoutS: 10 });
      lat.push(Date.now() - s);
      if (r.status === 200) ok++;
    }
    step(`  ${ok}/40 OK`);

    step('kubectl apply -f samples/bookinfo/networking/destination-rule-all.yaml and virtual-service-reviews-90-10.yaml');
    await kubectl('apply', '-n', NS, '-f', path.join(repoRoot, 'samples/bookinfo/networking/destination-rule-all.yaml'));
    await kubectl('apply', '-n', NS, '-f', path.join(repoRoot, 'samples/bookinfo/networking/virtual-service-reviews-90-10.yaml'));
    // Before the VirtualService lands, reviews round-robins over v1-v3: live means 10 answers in a row without v3.
    await waitFor('the 90/10 split to be live', async () => {
      for (let i = 0; i < 10; i++) if (!['v1', 'v2'].includes(await reviewsVersion())) return false;
      return true;
    }, 60_000, 100);
    const split: Record<string, number> = {};
    const N = 200;
    for (let i = 0; i < N; i++) {
      const v = await reviewsVersion();
      split[v] = (split[v] ?? 0) + 1;
    }
    const pct = (k: string): string => `${split[k] ?? 0} (${((100 * (split[k] ?? 0)) / N).toFixed(1)}%)`;
    step(`  measured split of reviews over ${N} productpage requests: v1 ${pct('v1')}, v2 ${pct('v2')}, other ${N - (split.v1 ?? 0) - (split.v2 ?? 0)}${Object.keys(split).some((k) => k !== 'v1' && k !== 'v2') ? ` ${JSON.stringify(split)}` : ''}`);

    step('kubectl apply -f samples/bookinfo/networking/bookinfo-gateway.yaml (Istio Gateway + VirtualService on the ingress gateway)');
    await kubectl('apply', '-n', NS, '-f', path.join(repoRoot, 'samples/bookinfo/networking/bookinfo-gateway.yaml'));
    const [gw] = await readyPods(clients, MESH_NS, 'istio=ingressgateway', 1, 120_000);
    // bookinfo-gateway's server port is 8080, which no port of the rendered gateway Service
    // (15021, 80 -> 8080, 443 -> 8443) has: the gateway binds 8080 as it is, as Istio does.
    const gwAddr = `${gw!.status!.podIP!}:8080`;
    const viaGateway = await waitFor('productpage through the ingress gateway', async () => {
      const r = await httpGet(gw!.status!.podIP!, 8080, '/productpage', 3000).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 60_000, 500).then((r) => `HTTP ${r.status}, ${r.body.length} bytes`, (e: unknown) => `failed (${String(e)})`);
    step(`  GET http://${gwAddr}/productpage from the host: ${viaGateway}`);

    const reviewsPod = pods.find((p) => p.metadata?.labels?.app === 'reviews')!;
    step('applying PeerAuthentication STRICT in the namespace');
    await applyObject({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } });
    let plaintext = 'accepted (STRICT not in effect!)';
    for (let i = 0; i < 40; i++) {
      const outcome = await httpGet(reviewsPod.status!.podIP!, 9080, '/health', 2000).then((r) => `HTTP ${r.status}`, (e: unknown) => `refused (${String(e)})`);
      if (outcome.startsWith('refused')) { plaintext = outcome; break; }
      await new Promise((res) => setTimeout(res, 250));
    }
    step(`  plaintext GET from the host (outside the mesh) to reviews pod ${reviewsPod.status!.podIP}:9080: ${plaintext}`);

    const ppPod = pods.find((p) => p.metadata?.labels?.app === 'productpage')!;
    const stats = (await curlInNetns(podNetns(ppPod), 'http://127.0.0.1:15000/stats/prometheus')).body;
    const certs = (await curlInNetns(podNetns(ppPod), 'http://127.0.0.1:15000/certs')).body;
    const spiffe = /spiffe:\/\/[^"\s,]+/.exec(certs)?.[0] ?? '(none)';
    const toReviews = requestsTotal(stats, ['reporter="source"', `reviews.${NS}.svc.cluster.local`, 'response_code="200"']);
    const p50 = histogramQuantile(stats, 'istio_request_duration_milliseconds', 'reporter="source"', 0.5);
    const p99 = histogramQuantile(stats, 'istio_request_duration_milliseconds', 'reporter="source"', 0.99);
    fs.writeFileSync(stateFile, JSON.stringify({ pid: process.pid, namespace: NS, productpage: pp, clientNetns: netns, ingress: gwAddr }, null, 2));

    const line = '-'.repeat(78);
    const out = (s: string): boolean => process.stdout.write(`${s}\n`);
    out(`\n${line}\nWeft mesh demo report\n${line}`);
    out(`meshed pods (sidecar + iptables init):\n${pods.map((p) => `  ${NS}/${p.metadata!.name}  ${p.status!.podIP}`).join('\n')}`);
    out(`mTLS: productpage's workload identity ${spiffe}; STRICT in ${NS}: plaintext from outside was ${plaintext}`);
    out(`split (90/10 asked): reviews v1 ${pct('v1')}, v2 ${pct('v2')} of ${N}`);
    out(`first 40 requests incl. 'ip netns exec curl' spawn: ${ok}/40 OK, p50 ${percentile(lat, 50)} ms, p99 ${percentile(lat, 99)} ms`);
    out(`productpage sidecar metrics: ${toReviews} OK requests to reviews (istio_requests_total, reporter=source); outbound latency p50 <= ${p50 ?? '?'} ms, p99 <= ${p99 ?? '?'} ms (istio_request_duration_milliseconds buckets)`);
    out(`ingress: http://${gwAddr}/productpage (the gateway pod's address, reachable from this host)`);
    out(`${line}\nTry it:`);
    out(`  export KUBECONFIG=${kubeconfigPath} PATH=${path.dirname(kubectlPath)}:$PATH`);
    out(`  kubectl get meshconfig default; kubectl -n ${NS} get pods -o wide`);
    out(`  curl -s http://${gwAddr}/productpage | head        # through the ingress gateway`);
    out(`  ip netns exec ${netns} curl -s ${url}; echo   # from the client, through its sidecar`);
    out(`  ip netns exec ${netns} curl -s http://127.0.0.1:15000/config_dump | head -c 600`);
    out('  node dist/src/cmd/weftctl.js check; node dist/src/cmd/weftctl.js --help');
    out(`Stop it: make demo-down\n${line}`);
    step('READY (the demo keeps running)');
  } catch (e) {
    step(`FAILED: ${String(e)}`);
    await shutdown(1);
  }
}

void main();
