// Istio's ingress task, end to end with real pods: the gateway Deployment exactly as the
// operator renders it (renderControlPlane, pointed at this run's control plane) running
// `weft proxy gateway` on the process kubelet, an httpbin-shaped meshed backend, and the
// task's Gateway + VirtualService, unchanged in shape. Requests go from the host to the
// gateway pod's IP on the listen port: the Gateway's port 80 (443) binds the rendered Service's
// targetPort 8080 (8443), as Istio binds gateways; the gateway -> backend hop is mTLS (the backend sees the gateway's
// SPIFFE id in XFCC). Then garbage on the gateway port, and passthrough (ALLOW_ANY): a meshed
// client calling a pod IP that no Service covers gets through its sidecar.
// NETWORK RULE: the host talks only to pod IPs (10.88.x.x); everything else starts inside pod
// netns this test created.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Deployment, V1Pod, V1Role, V1RoleBinding, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { createCA, issueServingCert } from '../../../src/webhook/certs.js';
import { createRootLogger } from '../../../src/log/logger.js';
import { renderControlPlane } from '../../../src/render/controlplane/render.js';
import { readPackageVersion } from '../../../src/cmd/version.js';
import { validateMeshConfig, type MeshConfig } from '../../../src/api/meshconfig.js';
import { clusterClients, waitFor } from '../../helpers/cluster.js';
import { kubeconfigPath } from '../../helpers/paths.js';
import { ensureIstioCrds } from '../../helpers/crds.js';
import { onProcessNode, startProcessKubelet, type ProcessKubeletHandle } from '../kubelet/start.js';
import { downwardEnv, waitForDefaultSA } from '../kubelet/pods.js';
import {
  BRIDGE_IP, containerLog, curlInNetns, httpFromHost, logDir, meshInjectionConfig, podNetns, readyPods, requestCount, sendRaw,
  startControlPlaneProcess, startInjector, worktreeWeftVersion, type ControlPlaneProcess, type HostHttpResult, type Injector,
} from './harness.js';

const id = randomBytes(3).toString('hex');
const SEL = 'weft.dev/e2e-mesh';
const clients = clusterClients();
fs.mkdirSync(logDir, { recursive: true });
const logger = createRootLogger('e2e-ingress', { level: process.env.WEFT_E2E_LOG_LEVEL ?? 'info', destination: fs.createWriteStream(path.join(logDir, `e2e-mesh-test-${id}.log`)) });
/** The mesh namespace (Istio's istio-system): CA secret, trust bundle and the gateway. */
const sysNs = `e2e-gw-sys-${id}`;
/** Meshed: httpbin and a client; the Gateway and VirtualService live here, as in Istio's task. */
const appNs = `e2e-gw-app-${id}`;
/** Not meshed: a pod no Service covers (the passthrough target). */
const extNs = `e2e-gw-ext-${id}`;
/** A second mesh whose control plane runs with --outbound-traffic-policy REGISTRY_ONLY. */
const roId = `${id}r`;
const roSysNs = `e2e-gw-rosys-${id}`;
const roAppNs = `e2e-gw-ro-${id}`;
const HOST = 'httpbin.example.com';
const GATEWAY_SA = 'weft-ingressgateway';
/** Where the gateway pod listens for a Gateway server port: the rendered Service's targetPort for it (set in test 1). */
const listenPort = { http: 0, https: 0 };

let kubelet: ProcessKubeletHandle | undefined;
let cp: ControlPlaneProcess | undefined;
let injector: Injector | undefined;
let roCp: ControlPlaneProcess | undefined;
let roInjector: Injector | undefined;
let weft: { version: string; close(): void } | undefined;
const createdCrds: string[] = [];
let gatewayPod: V1Pod;
let backendPod: V1Pod;
let clientPod: V1Pod;
let extPod: V1Pod;

/** The operator's rendering of one ingress gateway, in the mesh namespace, at this worktree's build. */
function renderedGateway(version: string): { sa: V1ServiceAccount; role: V1Role; binding: V1RoleBinding; svc: V1Service; deploy: V1Deployment } {
  const mc: MeshConfig = {
    apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: `e2e-gw-${id}` },
    spec: { version, namespace: sysNs, hub: 'ghcr.io/weft', gateways: [{ name: 'ingressgateway', type: 'ingress', labels: { istio: 'ingressgateway' } }] },
  } as MeshConfig;
  const problems = validateMeshConfig(mc);
  if (problems.length) throw new Error(`MeshConfig for the gateway is invalid: ${JSON.stringify(problems)}`);
  const objs = renderControlPlane(mc, { operatorNamespace: sysNs, gatewayVersion: version });
  const find = <T>(kind: string): T => {
    const o = objs.find((x) => x.kind === kind && x.metadata.name === GATEWAY_SA);
    if (!o) throw new Error(`render produced no ${kind} ${GATEWAY_SA}`);
    return structuredClone(o) as unknown as T;
  };
  const deploy = find<V1Deployment>('Deployment');
  const pod = deploy.spec!.template.spec!;
  // What differs from a real install: the control plane is this run's host process on the
  // bridge address (not the weft-controlplane Service), and the pod lands on the process node.
  const c = pod.containers[0]!;
  c.env = (c.env ?? []).map((e) =>
    e.name === 'WEFT_XDS_ADDRESS' ? { name: e.name, value: `${BRIDGE_IP}:${cp!.xdsPort}` }
      : e.name === 'WEFT_CA_ADDRESS' ? { name: e.name, value: `${BRIDGE_IP}:${cp!.caPort}` } : e);
  Object.assign(pod, onProcessNode, { terminationGracePeriodSeconds: 2 });
  const svc = find<V1Service>('Service');
  const target = (port: number): number => Number(svc.spec!.ports!.find((p) => p.port === port)?.targetPort ?? port);
  listenPort.http = target(80);
  listenPort.https = target(443);
  svc.spec!.type = 'ClusterIP'; // nothing outside reaches it here; no node ports to allocate
  return { sa: find<V1ServiceAccount>('ServiceAccount'), role: find<V1Role>('Role'), binding: find<V1RoleBinding>('RoleBinding'), svc, deploy };
}

function echoDeployment(name: string, sa: string | undefined, labels: Record<string, string>, port = 8080): V1Deployment {
  return {
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...onProcessNode,
          ...(sa ? { serviceAccountName: sa } : {}),
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'app', image: 'weft-test/echo:1', env: [...downwardEnv, { name: 'PORT', value: String(port) }], ports: [{ name: 'http', containerPort: port }],
            // Tolerant of a loaded CI machine: a probe that times out 3 times in a row would take the
            // endpoint out of EDS mid-count and show up as a 503 UH that has nothing to do with routing.
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 10 },
          }],
        },
      },
    },
  };
}

function json(r: { body: string }): { pod?: string; path?: string; headers?: Record<string, string> } {
  try {
    return JSON.parse(r.body) as { pod?: string; path?: string; headers?: Record<string, string> };
  } catch {
    return {};
  }
}

function describeResult(r: HostHttpResult): string {
  return `status=${r.status} error=${r.error ?? ''} flags=${String(r.headers['x-weft-response-flags'] ?? '')} body=${r.body.slice(0, 300)}`;
}

function diagnostics(): string {
  const pods = [gatewayPod, backendPod, clientPod].filter(Boolean);
  return pods.map((p) => `--- ${p.metadata?.name} weft-proxy:\n${containerLog(p, 'weft-proxy', 1500)}`).join('\n') + `\n--- controlplane:\n${cp?.log().slice(-2000) ?? ''}`;
}

/** Retries until `ok` (config propagation is asynchronous), bounded in count and time. */
async function until<T>(what: string, send: () => Promise<T>, ok: (r: T) => boolean, show: (r: T) => string, timeoutMs = 30_000): Promise<T> {
  let last: T | undefined;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    last = await send();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last ${last === undefined ? 'none' : show(last)}\n${diagnostics()}`);
}

const toGateway = (urlPath: string, host = HOST): Promise<HostHttpResult> =>
  httpFromHost(gatewayPod.status!.podIP!, listenPort.http, urlPath, { headers: { host }, timeoutMs: 15_000 });

const H2_GOAWAY = 7;

/** Frame types in a server's HTTP/2 byte stream (9-byte headers: 24-bit length, type, flags, stream id). */
function h2FrameTypes(buf: Buffer): number[] {
  const types: number[] = [];
  for (let off = 0; off + 9 <= buf.length; off += 9 + buf.readUIntBE(off, 3)) types.push(buf[off + 3]!);
  return types;
}

/** One bounded HTTPS request from the host to a pod IP, verifying the server against `ca` for `servername`. */
async function httpsFromHost(ip: string, urlPath: string, servername: string, ca: string): Promise<HostHttpResult & { peerCn?: string }> {
  if (!ip.startsWith('10.88.')) throw new Error(`refusing to send to ${ip}: not a pod IP`);
  return await new Promise((resolve) => {
    let settled = false;
    const done = (r: HostHttpResult & { peerCn?: string }): void => { if (!settled) { settled = true; clearTimeout(timer); resolve(r); } };
    const req = https.request({ host: ip, port: listenPort.https, path: urlPath, servername, ca, headers: { host: servername }, agent: false }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), peerCn: String(peer.subject?.CN ?? '') }));
    });
    const timer = setTimeout(() => { req.destroy(); done({ status: 0, headers: {}, body: '', error: 'timeout' }); }, 10_000);
    req.on('error', (e) => done({ status: 0, headers: {}, body: '', error: e.message }));
    req.end();
  });
}

async function proxyRestarts(pod: V1Pod, container: string): Promise<number> {
  const p = await clients.core.readNamespacedPod({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace! });
  return [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])].find((s) => s.name === container)?.restartCount ?? 0;
}

beforeAll(async () => {
  // 0. Istio CRDs (created only when absent; removed in afterAll only if we created them).
  createdCrds.push(...await ensureIstioCrds(clients));
  for (const [name, labels] of [
    [sysNs, {}],
    [appNs, { [SEL]: id, 'weft.dev/injection': 'enabled' }],
    [extNs, { [SEL]: id }],
  ] as const) {
    await clients.core.createNamespace({ body: { metadata: { name, labels: { 'weft.dev/test': 'true', ...labels } } } });
  }
  kubelet = await startProcessKubelet();
  weft = worktreeWeftVersion(id, kubelet.pid, readPackageVersion());
  cp = await startControlPlaneProcess({ kubeconfig: kubeconfigPath, meshNamespace: sysNs, id, caTls: true, bundleNamespaceSelector: `${SEL}=${id}` });
  injector = await startInjector({ clients, id, secretNamespace: sysNs, selector: { [SEL]: id }, injection: meshInjectionConfig(cp, weft.version), logger });
  await Promise.all([sysNs, appNs, extNs].map((n) => waitForDefaultSA(clients, n)));
  for (const sa of ['httpbin', 'sleep']) await clients.core.createNamespacedServiceAccount({ namespace: appNs, body: { metadata: { name: sa } } });
  await waitFor('webhook configuration to be live', async () => {
    const p = await clients.core.createNamespacedPod({
      namespace: appNs, dryRun: 'All',
      body: { metadata: { name: `probe-${randomBytes(2).toString('hex')}` }, spec: { containers: [{ name: 'a', image: 'weft-test/echo:1' }] } },
    });
    return (p.spec?.initContainers ?? []).some((c) => c.name === 'weft-proxy');
  }, 30_000, 300);
}, 180_000);

afterAll(async () => {
  const pause = Math.min(600, Number(process.env.WEFT_E2E_MESH_PAUSE_S ?? 0) || 0);
  if (pause > 0) await new Promise((r) => setTimeout(r, pause * 1000));
  const all = [appNs, extNs, sysNs, roAppNs, roSysNs];
  await Promise.all(all.map((name) => clients.core.deleteNamespace({ name }).catch(() => undefined)));
  await injector?.close().catch(() => undefined);
  await roInjector?.close().catch(() => undefined);
  await waitFor('test pods gone', async () => {
    const lists = await Promise.all(all.map((namespace) => clients.core.listNamespacedPod({ namespace }).catch(() => ({ items: [] }))));
    return lists.every((l) => l.items.length === 0);
  }, 60_000, 500).catch(() => undefined);
  await cp?.close().catch(() => undefined);
  await roCp?.close().catch(() => undefined);
  for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  weft?.close();
  await kubelet?.stop();
}, 720_000);

describe('ingress gateway end to end (rendered gateway, Istio ingress task, real pods)', () => {
  it('1. the rendered gateway and a meshed httpbin come up; the gateway holds its own SPIFFE identity', async () => {
    const gw = renderedGateway(weft!.version);
    await clients.core.createNamespacedServiceAccount({ namespace: sysNs, body: gw.sa });
    const rbac = clients.config.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace: sysNs, body: gw.role });
    await rbac.createNamespacedRoleBinding({ namespace: sysNs, body: gw.binding });
    await clients.core.createNamespacedService({ namespace: sysNs, body: gw.svc });
    await clients.apps.createNamespacedDeployment({ namespace: sysNs, body: gw.deploy });
    // httpbin as in Istio's samples: Service port 8000 named http -> container 8080.
    await clients.apps.createNamespacedDeployment({ namespace: appNs, body: echoDeployment('httpbin', 'httpbin', { app: 'httpbin', version: 'v1' }) });
    await clients.core.createNamespacedService({
      namespace: appNs, body: { metadata: { name: 'httpbin', labels: { app: 'httpbin' } }, spec: { selector: { app: 'httpbin' }, ports: [{ name: 'http', port: 8000, targetPort: 8080 }] } },
    });
    await clients.apps.createNamespacedDeployment({ namespace: appNs, body: echoDeployment('sleep', 'sleep', { app: 'sleep' }) });
    await clients.apps.createNamespacedDeployment({ namespace: extNs, body: echoDeployment('outside', undefined, { app: 'outside' }) });
    try {
      [gatewayPod] = await readyPods(clients, sysNs, 'istio=ingressgateway', 1, 90_000);
      [backendPod] = await readyPods(clients, appNs, 'app=httpbin', 1, 90_000);
      [clientPod] = await readyPods(clients, appNs, 'app=sleep', 1, 90_000);
      [extPod] = await readyPods(clients, extNs, 'app=outside', 1, 60_000);
    } catch (e) {
      const list = [...(await clients.core.listNamespacedPod({ namespace: sysNs })).items, ...(await clients.core.listNamespacedPod({ namespace: appNs })).items];
      gatewayPod ??= list.find((p) => p.metadata?.labels?.istio === 'ingressgateway')!;
      const status = list.map((p) => `${p.metadata?.name}: ${JSON.stringify(p.status?.containerStatuses?.map((s) => s.state))} ${JSON.stringify(p.status?.conditions?.filter((c) => c.status !== 'True'))}`).join('\n');
      throw new Error(`${String(e)}\n${status}\n--- gateway:\n${gatewayPod ? containerLog(gatewayPod, 'weft-proxy', 3000) : ''}\n${diagnostics()}`, { cause: e });
    }
    // Not injected: the gateway IS the proxy (one container, the rendered args).
    expect(gatewayPod.spec?.initContainers ?? []).toHaveLength(0);
    expect(gatewayPod.spec?.containers.map((c) => c.args)).toEqual([['proxy', 'gateway', '--gateway-type=ingress', '--log-level=info']]);
    const certs = await curlInNetns(podNetns(gatewayPod), 'http://127.0.0.1:15000/certs');
    expect(certs.status).toBe(200);
    const sans = (JSON.parse(certs.body) as { certificates: { subjectAltNames: string[] }[] }).certificates[0]?.subjectAltNames;
    expect(sans).toEqual([`spiffe://cluster.local/ns/${sysNs}/sa/${GATEWAY_SA}`]);
    // The rendered pod asks for net.ipv4.ip_unprivileged_port_start=0 (it runs as 1337, and a
    // Gateway port below 1024 that no Service port maps is bound as it is). The process kubelet
    // does not apply pod sysctls, so the test does what the kubelet would, in the pod's own netns.
    const sysctls = gatewayPod.spec?.securityContext?.sysctls ?? [];
    expect(sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
    for (const s of sysctls) execFileSync('ip', ['netns', 'exec', podNetns(gatewayPod), 'sysctl', '-q', '-w', `${s.name}=${s.value}`]);
  }, 240_000);

  it('2. Istio ingress task: Host httpbin.example.com /status and /delay reach httpbin over mTLS; unknown host and unmatched path get 404', async () => {
    await clients.custom.createNamespacedCustomObject({
      group: 'networking.istio.io', version: 'v1', namespace: appNs, plural: 'gateways',
      body: {
        apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'httpbin-gateway' },
        spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [HOST] }] },
      },
    });
    await clients.custom.createNamespacedCustomObject({
      group: 'networking.istio.io', version: 'v1', namespace: appNs, plural: 'virtualservices',
      body: {
        apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'httpbin' },
        spec: {
          hosts: [HOST], gateways: ['httpbin-gateway'],
          http: [{ match: [{ uri: { prefix: '/status' } }, { uri: { prefix: '/delay' } }], route: [{ destination: { port: { number: 8000 }, host: 'httpbin' } }] }],
        },
      },
    });
    const first = await until('the gateway routes httpbin.example.com', () => toGateway('/status/200'), (r) => r.status === 200, describeResult, 45_000);
    expect(json(first).pod).toBe(backendPod.metadata!.name);
    // The Gateway's port 80 is the rendered Service's port 80 -> 8080: the gateway listens on 8080 only.
    expect(listenPort.http).toBe(8080);
    expect((await sendRaw(gatewayPod.status!.podIP!, 80, Buffer.from(`GET /status/200 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`), 2000)).connected).toBe(false);
    // The gateway -> httpbin hop is mTLS: httpbin's sidecar saw the gateway's SPIFFE id.
    expect(json(first).headers?.['x-forwarded-client-cert']).toBe(`By=;URI=spiffe://cluster.local/ns/${sysNs}/sa/${GATEWAY_SA}`);

    // Exactly N in, N answered: by the client, by the gateway's and httpbin's own counters.
    const gwNetns = podNetns(gatewayPod);
    const beNetns = podNetns(backendPod);
    const gwMatch = [`httpbin.${appNs}.svc.cluster.local`, 'response_code="200"'];
    const beMatch = ['reporter="destination"', 'response_code="200"'];
    const before = { gw: await requestCount(gwNetns, gwMatch), be: await requestCount(beNetns, beMatch) };
    const N = 20;
    const failures: string[] = [];
    let ok = 0;
    for (let i = 0; i < N; i++) {
      const r = await toGateway(i % 2 === 0 ? `/status/200?i=${i}` : '/delay/0.05');
      if (r.status === 200 && json(r).pod === backendPod.metadata!.name) ok++;
      else failures.push(describeResult(r));
    }
    expect(failures).toEqual([]);
    expect(ok).toBe(N);
    expect(await requestCount(gwNetns, gwMatch) - before.gw).toBe(N);
    expect(await requestCount(beNetns, beMatch) - before.be).toBe(N);

    // Not this Gateway's host: the gateway's catch-all virtual host answers 404 itself.
    const unknownHost = await toGateway('/status/200', 'unknown.example.com');
    expect(unknownHost.status).toBe(404);
    // The right host, but a path the VirtualService does not match: no route, 404.
    const unmatched = await toGateway('/headers');
    expect(unmatched.status).toBe(404);
    expect(unmatched.headers['x-weft-response-flags']).toBe('NR');
    expect(await requestCount(beNetns, beMatch) - before.be).toBe(N); // neither reached httpbin
  }, 120_000);

  it('3. garbage on the gateway port: every connection is closed or answered 400, the gateway stays up and keeps routing', async () => {
    const ip = gatewayPod.status!.podIP!;
    const restartsBefore = await proxyRestarts(gatewayPod, 'weft-proxy');
    const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const payloads = [
      randomBytes(512),
      Buffer.from('GET / HTTP/1.1\r\nHost: httpbin.example.com\r\nContent-Length: -1\r\n\r\n'),
      Buffer.from(`GET /status/200 HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`),
      Buffer.concat([Buffer.from('160301ffff', 'hex'), randomBytes(64)]),
      Buffer.concat([H2_PREFACE, randomBytes(100)]),
      Buffer.from('GET /status/200 HTTP/1.1\r\nHost: '), // a half request
      Buffer.alloc(0),
    ];
    const outcomes: string[] = [];
    for (const p of payloads) {
      const r = await sendRaw(ip, listenPort.http, p, 3000);
      const text = r.reply.toString('latin1');
      outcomes.push(`${r.outcome}:${text.slice(0, 12)}`);
      expect(r.connected).toBe(true);
      expect(text).not.toContain('"pod"'); // nothing reached httpbin
      if (text.length === 0) continue; // closed without a word
      // Otherwise a clean protocol error: an HTTP/1.1 4xx, or for the h2 preface an HTTP/2 GOAWAY.
      if (p.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) expect(h2FrameTypes(r.reply)).toContain(H2_GOAWAY);
      else expect(text).toMatch(/^HTTP\/1\.1 (400|408|431) /);
    }
    logger.info({ outcomes }, 'gateway garbage outcomes');
    const after = await until('the gateway still routes after garbage', () => toGateway('/status/200'), (r) => r.status === 200, describeResult, 15_000);
    expect(json(after).pod).toBe(backendPod.metadata!.name);
    expect(await proxyRestarts(gatewayPod, 'weft-proxy')).toBe(restartsBefore);
  }, 90_000);

  it('4. passthrough (ALLOW_ANY): a meshed client calling a pod IP no Service covers gets through its sidecar, not 503 UH', async () => {
    const target = extPod.status!.podIP!;
    const netns = podNetns(clientPod);
    // The client's sidecar captures the call (15001) and forwards to the original destination.
    const r = await until('passthrough to an uncovered pod IP', () => curlInNetns(netns, `http://${target}:8080/passthrough`, { timeoutS: 10 }),
      (x) => x.status === 200, (x) => `exit=${x.exit} status=${x.status} flags=${x.headers['x-weft-response-flags'] ?? ''} body=${x.body.slice(0, 200)}`, 30_000);
    expect(json(r).pod).toBe(extPod.metadata!.name);
    expect(json(r).path).toBe('/passthrough');
    // Plaintext to a workload outside the mesh: no client certificate was presented for it.
    expect(json(r).headers?.['x-forwarded-client-cert']).toBeUndefined();
    const N = 10;
    let ok = 0;
    for (let i = 0; i < N; i++) if ((await curlInNetns(netns, `http://${target}:8080/n${i}`, { timeoutS: 10 })).status === 200) ok++;
    expect(ok).toBe(N);
    // It really crossed the sidecar: the client proxy's listener counted outbound traffic to PassthroughCluster.
    const stats = await curlInNetns(netns, 'http://127.0.0.1:15000/stats/prometheus');
    expect(stats.body).toMatch(/PassthroughCluster/);
  }, 90_000);

  it('5. inbound passthrough: a port no Service declares is passed to the app under PERMISSIVE, and refused to plaintext under STRICT', async () => {
    // sleep's app listens on 8080, and no Service selects sleep: its sidecar's virtualInbound
    // catch-all takes the call and dials the app from 127.0.0.6 (InboundPassthroughClusterIpv4).
    const target = clientPod.status!.podIP!;
    const from = podNetns(extPod); // unmeshed: plaintext
    const ok = await until('plaintext to an undeclared port under PERMISSIVE', () => curlInNetns(from, `http://${target}:8080/inbound`, { timeoutS: 10 }),
      (x) => x.status === 200, (x) => `exit=${x.exit} status=${x.status} body=${x.body.slice(0, 200)}`, 30_000);
    expect(json(ok).pod).toBe(clientPod.metadata!.name);
    expect(json(ok).path).toBe('/inbound');
    await clients.custom.createNamespacedCustomObject({
      group: 'security.istio.io', version: 'v1', namespace: appNs, plural: 'peerauthentications',
      body: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } } },
    });
    const refused = await until('plaintext to an undeclared port refused under STRICT', () => curlInNetns(from, `http://${target}:8080/inbound`, { timeoutS: 3 }),
      (x) => x.status === 0 && x.exit !== 0, (x) => `exit=${x.exit} status=${x.status} body=${x.body.slice(0, 200)}`, 30_000);
    expect(refused.body).not.toContain('"pod"');
    // The gateway's hop to httpbin is mTLS, so ingress keeps working under STRICT.
    const viaGateway = await toGateway('/status/200');
    expect(viaGateway.status).toBe(200);
    expect(json(viaGateway).pod).toBe(backendPod.metadata!.name);
  }, 90_000);

  it('6. REGISTRY_ONLY: a second mesh blocks the same kind of call (HTTP 502 from block_all, TCP closed), while ALLOW_ANY lets it through', async () => {
    // An unmeshed pod on a port no Service in this test declares: the TCP catch-all's case.
    await clients.apps.createNamespacedDeployment({ namespace: extNs, body: echoDeployment('outside-tcp', undefined, { app: 'outside-tcp' }, 7077) });
    for (const [name, labels] of [[roSysNs, {}], [roAppNs, { [SEL]: roId, 'weft.dev/injection': 'enabled' }]] as const) {
      await clients.core.createNamespace({ body: { metadata: { name, labels: { 'weft.dev/test': 'true', ...labels } } } });
    }
    roCp = await startControlPlaneProcess({
      kubeconfig: kubeconfigPath, meshNamespace: roSysNs, id: roId, caTls: true, bundleNamespaceSelector: `${SEL}=${roId}`,
      extraArgs: ['--outbound-traffic-policy', 'REGISTRY_ONLY'],
    });
    roInjector = await startInjector({ clients, id: roId, secretNamespace: roSysNs, selector: { [SEL]: roId }, injection: meshInjectionConfig(roCp, weft!.version), logger });
    await waitForDefaultSA(clients, roAppNs);
    await clients.core.createNamespacedServiceAccount({ namespace: roAppNs, body: { metadata: { name: 'sleep' } } });
    await waitFor('the REGISTRY_ONLY injector is live', async () => {
      const p = await clients.core.createNamespacedPod({
        namespace: roAppNs, dryRun: 'All',
        body: { metadata: { name: `probe-${randomBytes(2).toString('hex')}` }, spec: { containers: [{ name: 'a', image: 'weft-test/echo:1' }] } },
      });
      return (p.spec?.initContainers ?? []).some((c) => c.name === 'weft-proxy');
    }, 30_000, 300);
    // A Service with an HTTP port 8080 makes 8080 an HTTP port for this mesh's sidecars, so an
    // unknown destination on 8080 meets the catch-all virtual host (block_all) deterministically.
    await clients.apps.createNamespacedDeployment({ namespace: roAppNs, body: echoDeployment('sleep', 'sleep', { app: 'sleep' }) });
    await clients.core.createNamespacedService({ namespace: roAppNs, body: { metadata: { name: 'known' }, spec: { selector: { app: 'sleep' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } } });
    const [roClient] = await readyPods(clients, roAppNs, 'app=sleep', 1, 90_000);
    const [outsideTcp] = await readyPods(clients, extNs, 'app=outside-tcp', 1, 60_000);
    const roNetns = podNetns(roClient!);
    const httpTarget = `http://${extPod.status!.podIP!}:8080/blocked`;
    const tcpTarget = `http://${outsideTcp!.status!.podIP!}:7077/blocked`;

    const blocked = await until('REGISTRY_ONLY: HTTP to an unknown pod IP gets block_all 502', () => curlInNetns(roNetns, httpTarget, { timeoutS: 5 }),
      (x) => x.status === 502, (x) => `exit=${x.exit} status=${x.status} body=${x.body.slice(0, 200)}`, 30_000);
    expect(blocked.body).not.toContain('"pod"');
    const tcpBlocked = await curlInNetns(roNetns, tcpTarget, { timeoutS: 5 });
    expect(tcpBlocked.status).toBe(0); // BlackHoleCluster: closed, no HTTP answer at all
    expect(tcpBlocked.exit).not.toBe(0);
    // The same two calls from the ALLOW_ANY mesh get through (so the blocking is the policy, not the network).
    const allowed = await curlInNetns(podNetns(clientPod), tcpTarget, { timeoutS: 10 });
    expect(allowed.status).toBe(200);
    expect(json(allowed).pod).toBe(outsideTcp!.metadata!.name);
    const allowedHttp = await curlInNetns(podNetns(clientPod), httpTarget, { timeoutS: 10 });
    expect(allowedHttp.status).toBe(200);
  }, 180_000);

  it('7. secure ingress (Istio task): a SIMPLE TLS server with credentialName serves that Secret certificate on 443 and routes to httpbin', async () => {
    const now = new Date();
    const ca = await createCA(now, 24 * 3600_000, 'example.com root');
    const leaf = await issueServingCert(ca, now, 24 * 3600_000, [HOST], []);
    // As in the task: a kubernetes.io/tls Secret in the gateway's namespace.
    await clients.core.createNamespacedSecret({
      namespace: sysNs,
      body: { metadata: { name: 'httpbin-credential' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(leaf.certPem).toString('base64'), 'tls.key': Buffer.from(leaf.keyPem).toString('base64') } },
    });
    await clients.custom.createNamespacedCustomObject({
      group: 'networking.istio.io', version: 'v1', namespace: appNs, plural: 'gateways',
      body: {
        apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'mygateway' },
        spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', credentialName: 'httpbin-credential' }, hosts: [HOST] }] },
      },
    });
    await clients.custom.createNamespacedCustomObject({
      group: 'networking.istio.io', version: 'v1', namespace: appNs, plural: 'virtualservices',
      body: {
        apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'httpbin-tls' },
        spec: {
          hosts: [HOST], gateways: ['mygateway'],
          http: [{ match: [{ uri: { prefix: '/status' } }, { uri: { prefix: '/delay' } }], route: [{ destination: { port: { number: 8000 }, host: 'httpbin' } }] }],
        },
      },
    });
    const ip = gatewayPod.status!.podIP!;
    const first = await until('HTTPS through the gateway with the credential', () => httpsFromHost(ip, '/status/200', HOST, ca.certPem),
      (r) => r.status === 200, describeResult, 45_000);
    expect(first.peerCn).toBe(HOST); // the Secret's certificate, verified against its own CA and name
    expect(json(first).pod).toBe(backendPod.metadata!.name);
    expect(json(first).headers?.['x-forwarded-client-cert']).toBe(`By=;URI=spiffe://cluster.local/ns/${sysNs}/sa/${GATEWAY_SA}`);
    const N = 10;
    let ok = 0;
    for (let i = 0; i < N; i++) if ((await httpsFromHost(ip, `/status/200?i=${i}`, HOST, ca.certPem)).status === 200) ok++;
    expect(ok).toBe(N);
    // A server name this Gateway does not serve gets no certificate at all (no filter chain).
    const otherSni = await httpsFromHost(ip, '/status/200', 'other.example.com', ca.certPem);
    expect(otherSni.status).toBe(0);
    // Plaintext on the TLS port is closed.
    const plain = await sendRaw(ip, listenPort.https, Buffer.from(`GET /status/200 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`), 3000);
    expect(plain.reply.toString('latin1')).not.toContain('"pod"');
    // The Gateway's port 80 (listening on its targetPort) still serves plain HTTP.
    expect((await toGateway('/status/200')).status).toBe(200);
  }, 120_000);
});
