// The mesh demo for a human (`make demo` -> hack/demo.sh -> hack/demo-mesh.sh): the same
// scenario as mesh.test.ts, with progress output, left running until SIGTERM/SIGINT.
//   node dist/test/e2e/mesh/demo.js            set up, drive traffic, 90/10 split, report, keep running
// It expects the process kubelet to be running already (hack/demo-mesh.sh starts it).
// Every loop is bounded; traffic only starts inside pod netns the kubelet created.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { createRootLogger } from '../../../src/log/logger.js';
import { readPackageVersion } from '../../../src/cmd/version.js';
import { clusterClients, waitFor } from '../../helpers/cluster.js';
import { kubeconfigPath } from '../../helpers/paths.js';
import { onProcessNode, repoRoot } from '../kubelet/start.js';
import { downwardEnv, httpGet, waitForDefaultSA } from '../kubelet/pods.js';
import {
  curlInNetns, logDir, meshInjectionConfig, podNetns, readyPods, startControlPlaneProcess, startInjector,
  type ControlPlaneProcess, type Injector,
} from './harness.js';

const NS = process.env.WEFT_DEMO_NAMESPACE ?? 'weft-demo';
const SYS = `${NS}-system`;
const SEL = 'weft.dev/demo-mesh';
const id = randomBytes(3).toString('hex');
const clients = clusterClients();
const stateFile = path.join(repoRoot, '.cluster', 'demo-mesh.json');
fs.mkdirSync(logDir, { recursive: true });
const logger = createRootLogger('demo-mesh', { level: 'info', destination: fs.createWriteStream(path.join(logDir, 'demo-mesh-injector.log')) });

const t0 = Date.now();
function step(msg: string): void {
  process.stdout.write(`[demo-mesh +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

function deployment(name: string, labels: Record<string, string>, sa: string, version?: string): V1Deployment {
  return {
    metadata: { name, labels },
    spec: {
      replicas: 1, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...onProcessNode, serviceAccountName: sa, terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'app', image: 'weft-test/echo:1', env: [...downwardEnv, ...(version ? [{ name: 'VERSION', value: version }] : [])],
            ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
          }],
        },
      },
    },
  };
}

async function ensureCrds(): Promise<void> {
  const dir = path.join(repoRoot, 'manifests', 'crds', 'istio');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
    const crd = loadYaml<V1CustomResourceDefinition>(fs.readFileSync(path.join(dir, f), 'utf8'));
    const exists = await clients.apiext.readCustomResourceDefinition({ name: crd.metadata!.name! }).catch(() => undefined);
    if (!exists) await clients.apiext.createCustomResourceDefinition({ body: crd });
  }
}

async function deleteNamespaces(): Promise<void> {
  for (const name of [NS, `${NS}-plain`, SYS]) await clients.core.deleteNamespace({ name }).catch(() => undefined);
  await waitFor('demo namespaces gone', async () => {
    const left = await Promise.all([NS, `${NS}-plain`, SYS].map((name) => clients.core.readNamespace({ name }).then(() => true, () => false)));
    return left.every((x) => !x);
  }, 90_000, 500).catch(() => undefined);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function main(): Promise<void> {
  let cp: ControlPlaneProcess | undefined;
  let injector: Injector | undefined;
  let closing = false;
  const shutdown = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    step('shutting down: deleting the demo namespaces, the webhook configuration and the control plane');
    await deleteNamespaces();
    await injector?.close().catch(() => undefined);
    await cp?.close().catch(() => undefined);
    fs.rmSync(stateFile, { force: true });
    step('demo stopped; nothing of it is left in the cluster');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  try {
    step('removing leftovers of an earlier demo (if any)');
    await deleteNamespaces();
    step('installing the Istio API CRDs (networking.istio.io, security.istio.io)');
    await ensureCrds();
    for (const [name, labels] of [[SYS, {}], [NS, { [SEL]: id, 'weft.dev/injection': 'enabled' }], [`${NS}-plain`, { [SEL]: id }]] as const) {
      await clients.core.createNamespace({ body: { metadata: { name, labels: { 'weft.dev/demo': 'true', ...labels } } } });
    }
    step(`starting 'weft controlplane' (registry + ADS + CA over TLS) on 10.88.0.1`);
    cp = await startControlPlaneProcess({ kubeconfig: kubeconfigPath, meshNamespace: SYS, id: 'demo', caTls: true, bundleNamespaceSelector: `${SEL}=${id}` });
    step(`control plane up: xds 10.88.0.1:${cp.xdsPort}, ca 10.88.0.1:${cp.caPort}, debug http://10.88.0.1:${cp.debugPort}/debug/syncz (log ${cp.logFile})`);
    injector = await startInjector({ clients, id, secretNamespace: SYS, selector: { [SEL]: id }, injection: meshInjectionConfig(cp, readPackageVersion()), logger });
    step(`sidecar injector up on https://127.0.0.1:${injector.port}/inject (MutatingWebhookConfiguration ${injector.configName})`);
    await Promise.all([NS, `${NS}-plain`].map((n) => waitForDefaultSA(clients, n)));
    for (const sa of ['server', 'client']) await clients.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: sa } } });
    await waitFor('webhook configuration live', async () => {
      const p = await clients.core.createNamespacedPod({ namespace: NS, dryRun: 'All', body: { metadata: { name: `probe-${randomBytes(2).toString('hex')}` }, spec: { containers: [{ name: 'a', image: 'weft-test/echo:1' }] } } });
      return (p.spec?.initContainers ?? []).some((c) => c.name === 'weft-proxy');
    }, 30_000, 300);

    step(`namespace ${NS} is labeled weft.dev/injection=enabled; deploying server v1, server v2, client and Service server:8080`);
    await clients.apps.createNamespacedDeployment({ namespace: NS, body: deployment('server-v1', { app: 'server', version: 'v1' }, 'server', 'v1') });
    await clients.apps.createNamespacedDeployment({ namespace: NS, body: deployment('server-v2', { app: 'server', version: 'v2' }, 'server', 'v2') });
    await clients.apps.createNamespacedDeployment({ namespace: NS, body: deployment('client', { app: 'client' }, 'client') });
    const svc = await clients.core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'server' }, spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 8080 }] } } });
    const clusterIP = svc.spec!.clusterIP!;
    const servers = await readyPods(clients, NS, 'app=server', 2, 120_000);
    const [client] = await readyPods(clients, NS, 'app=client', 1, 120_000) as [V1Pod];
    for (const p of [...servers, client]) {
      step(`  ${p.metadata!.name} Ready on ${p.status!.podIP} with init containers [${(p.spec!.initContainers ?? []).map((c) => c.name).join(', ')}]`);
    }
    const netns = podNetns(client);
    const url = `http://${clusterIP}:8080/`;

    step(`driving traffic: 40 requests from the client pod (netns ${netns}) to the ClusterIP ${url}`);
    const lat: number[] = [];
    let ok = 0;
    let xfcc = '';
    for (let i = 0; i < 40; i++) {
      const s = Date.now();
      const r = await curlInNetns(netns, url);
      lat.push(Date.now() - s);
      if (r.status === 200) {
        ok++;
        xfcc ||= (JSON.parse(r.body) as { headers?: Record<string, string> }).headers?.['x-forwarded-client-cert'] ?? '';
      }
    }
    step(`  ${ok}/40 OK; the server saw x-forwarded-client-cert: ${xfcc || '(none)'}`);

    step('applying DestinationRule (subsets v1/v2) and a 90/10 VirtualService');
    const custom = (group: string, plural: string, body: Record<string, unknown>): Promise<unknown> => clients.custom.createNamespacedCustomObject({ group, version: 'v1', namespace: NS, plural, body });
    await custom('networking.istio.io', 'destinationrules', { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'server' }, spec: { host: 'server', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } });
    await custom('networking.istio.io', 'virtualservices', { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'server' }, spec: { hosts: ['server'], http: [{ route: [{ destination: { host: 'server', subset: 'v1' }, weight: 90 }, { destination: { host: 'server', subset: 'v2' }, weight: 10 }] }] } });
    await new Promise((r) => setTimeout(r, 1500)); // debounce + push
    const split = { v1: 0, v2: 0, other: 0 };
    const N = 200;
    for (let i = 0; i < N; i++) {
      const r = await curlInNetns(netns, url);
      const v = r.status === 200 ? (JSON.parse(r.body) as { version?: string }).version : undefined;
      split[v === 'v1' || v === 'v2' ? v : 'other']++;
    }
    step(`  measured split over ${N} requests: v1 ${split.v1} (${((100 * split.v1) / N).toFixed(1)}%), v2 ${split.v2} (${((100 * split.v2) / N).toFixed(1)}%), failed ${split.other}`);

    const permissive = await httpGet(servers[0]!.status!.podIP!, 8080, '/', 2000).then((r) => `HTTP ${r.status}`, (e: unknown) => `failed (${String(e)})`);
    step(`  plaintext GET to a server pod IP from outside the mesh under PERMISSIVE (the default): ${permissive}`);
    step('applying PeerAuthentication STRICT in the namespace');
    await custom('security.istio.io', 'peerauthentications', { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } } });
    // A plaintext request from outside the mesh (the host, to a server pod IP) must now be refused.
    const serverIP = servers[0]!.status!.podIP!;
    let plaintext = 'accepted (STRICT not in effect!)';
    for (let i = 0; i < 40; i++) {
      const outcome = await httpGet(serverIP, 8080, '/', 2000).then((r) => `HTTP ${r.status}`, (e: unknown) => `refused (${String(e)})`);
      if (outcome.startsWith('refused')) { plaintext = outcome; break; }
      await new Promise((res) => setTimeout(res, 250));
    }
    step(`  plaintext GET to server pod ${serverIP}:8080 from outside the mesh: ${plaintext}`);

    const stats = await curlInNetns(netns, 'http://127.0.0.1:15000/stats/prometheus');
    const requestLines = stats.body.split('\n').filter((l) => l.startsWith('istio_requests_total')).slice(0, 6);
    const certs = await curlInNetns(netns, 'http://127.0.0.1:15000/certs');
    fs.writeFileSync(stateFile, JSON.stringify({ pid: process.pid, namespace: NS, clusterIP, clientNetns: netns, controlPlane: { xds: cp.xdsPort, ca: cp.caPort, debug: cp.debugPort, log: cp.logFile }, injectorPort: injector.port }, null, 2));

    const line = '-'.repeat(78);
    process.stdout.write(`\n${line}\nWeft mesh demo report\n${line}\n`);
    process.stdout.write(`meshed pods (sidecar + iptables init):\n${[...servers, client].map((p) => `  ${NS}/${p.metadata!.name}  ${p.status!.podIP}`).join('\n')}\n`);
    process.stdout.write(`mTLS: client identity seen by the server: ${xfcc || '(none)'}\n`);
    process.stdout.write(`      client workload cert: ${certs.body.replace(/\s+/g, ' ').slice(0, 200)}\n`);
    process.stdout.write(`      PeerAuthentication STRICT in ${NS}: plaintext to a server pod IP was ${plaintext}\n`);
    process.stdout.write(`split (90/10 asked): v1 ${split.v1}, v2 ${split.v2}, failed ${split.other} of ${N}\n`);
    process.stdout.write(`latency of the first 40 requests incl. 'ip netns exec curl' spawn: p50 ${percentile(lat, 50)} ms, p99 ${percentile(lat, 99)} ms\n`);
    process.stdout.write(`client sidecar metrics (istio_requests_total):\n${requestLines.map((l) => `  ${l}`).join('\n') || '  (none exported)'}\n`);
    process.stdout.write(`${line}\nTry it:\n`);
    process.stdout.write(`  export KUBECONFIG=${kubeconfigPath}\n`);
    process.stdout.write(`  kubectl -n ${NS} get pods -o wide\n`);
    process.stdout.write(`  ip netns exec ${netns} curl -s http://${clusterIP}:8080/ ; echo      # via the client's sidecar\n`);
    process.stdout.write(`  ip netns exec ${netns} curl -s http://127.0.0.1:15000/config_dump   # the client proxy's config\n`);
    process.stdout.write(`  curl -s http://10.88.0.1:${cp.debugPort}/debug/syncz                 # control plane: proxies and ACKs\n`);
    process.stdout.write(`  node dist/src/cmd/weftctl.js --help\n`);
    process.stdout.write(`Stop it: bash hack/demo-mesh.sh down\n${line}\n`);
    step('READY (the demo keeps running)');
  } catch (e) {
    step(`FAILED: ${String(e)}`);
    await shutdown(1);
  }
}

void main();
