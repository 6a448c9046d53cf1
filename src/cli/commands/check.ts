// weftctl check [--pre]: gathers facts from the cluster and runs the pure checks in
// src/cli/check/checks.ts. Proxy config-sync status comes from a pluggable ProxySyncSource:
// the control plane's /debug/syncz with --controlplane-debug, else the check is skipped.
import tls from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { ISTIO_KINDS } from '../../api/istio/types.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../api/labels.js';
import {
  MESHCONFIG_DEFAULTS, MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION, type MeshConfig,
} from '../../api/meshconfig.js';
import { TRUST_BUNDLE_CONFIGMAP } from '../../api/sidecar.js';
import { CONTROLPLANE_NAME } from '../../render/controlplane/render.js';
import { parseInjectionStatus } from '../../render/inject/inject.js';
import { DEFAULT_MESH_NAMESPACE, namespaceInjectionEnabled, podIsInjected, podOptedOut, SYSTEM_NAMESPACES } from '../analyze/model.js';
import { examples, globalsOf, type App } from '../app.js';
import {
  caBundleCheck, certificateCheck, crdsCheck, formatChecks, kubernetesVersionCheck, meshCaChecks, proxySyncCheck, summarize,
  uninjectedPodsCheck, versionSkewCheck, webhookReachabilityCheck, type CheckResult, type ProxySync, type WebhookProbe,
} from '../check/checks.js';
import { CliError, EXIT, painter } from '../io.js';
import { apiMessage, call, connect, listCustom, type Cluster } from '../kube.js';
import { parseOutputFormat, renderData } from '../output.js';
import { SynczClient } from '../syncz.js';

export const OPERATOR_NAMESPACE = 'weft-system';
export const OPERATOR_DEPLOYMENT = 'weft-operator';
export const REQUIRED_CRDS: readonly string[] = Object.freeze([
  `${MESHCONFIG_PLURAL}.${MESHCONFIG_GROUP}`,
  ...ISTIO_KINDS.map((k) => `${k.plural}.${k.group}`),
]);

/** Where per-proxy ACK/NACK state comes from (undefined from fetch() = not available: skip). */
export interface ProxySyncSource {
  readonly description: string;
  fetch(): Promise<ProxySync[] | undefined>;
}

export const noProxySyncSource: ProxySyncSource = {
  description: 'pass --controlplane-debug http://127.0.0.1:<debug port> to read the control plane /debug/syncz',
  fetch: async () => undefined,
};

/** The control plane's GET /debug/syncz (see src/cli/syncz.ts). */
export function synczProxySyncSource(baseUrl: string, graceMs?: number): ProxySyncSource {
  const client = new SynczClient(baseUrl, graceMs === undefined ? {} : { graceMs });
  return { description: client.description, fetch: () => client.fetch() };
}

/** A webhook of ours: named weft-* or managed by the operator. */
export function isWeftWebhook(o: { metadata?: { name?: string; labels?: Record<string, string> } }): boolean {
  return (o.metadata?.name ?? '').startsWith('weft-') || o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Only loopback URLs are probed (network rule); others are reported as skipped. */
export function probeTarget(url: string | undefined): { host: string; port: number } | string {
  if (!url) return 'uses a Service reference; Service IPs do not route from here, so it was not probed';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `has an invalid URL ${url}`;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) && !host.startsWith('127.')) return `URL ${url} is not a loopback address; only loopback webhooks are probed from weftctl`;
  return { host, port: Number(u.port || 443) };
}

/** TLS handshake to a loopback webhook, verifying with its caBundle. Bounded by a timeout. */
export async function probeWebhook(name: string, url: string | undefined, caBundleB64: string | undefined, timeoutMs = 3000): Promise<WebhookProbe> {
  const t = probeTarget(url);
  if (typeof t === 'string') return { webhook: name, skipped: t };
  const ca = caBundleB64 ? Buffer.from(caBundleB64, 'base64').toString('utf8') : undefined;
  return new Promise((resolve) => {
    let done = false;
    const finish = (p: WebhookProbe): void => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(p);
    };
    const sock = tls.connect({ host: t.host, port: t.port, ...(ca ? { ca } : {}), servername: /^[\d.:]+$/.test(t.host) ? undefined : t.host, timeout: timeoutMs });
    sock.once('secureConnect', () => finish({ webhook: name, url }));
    sock.once('error', (e: Error & { code?: string }) => finish({ webhook: name, url, error: e.code ? `${e.message} (${e.code})` : e.message }));
    sock.once('timeout', () => finish({ webhook: name, url, error: `no answer within ${timeoutMs}ms` }));
  });
}

interface CheckDeps {
  cluster: Cluster;
  now: Date;
  sync: ProxySyncSource;
}

async function preChecks(d: CheckDeps): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const ver = await call('reach the API server', () => d.cluster.clients.config.makeApiClient(k8s.VersionApi).getCode(), d.cluster.server);
  out.push({ category: 'kubernetes', name: 'api', status: 'pass', message: `can reach the API server at ${d.cluster.server}` });
  out.push(kubernetesVersionCheck(ver.gitVersion));
  const authz = d.cluster.clients.config.makeApiClient(k8s.AuthorizationV1Api);
  const needs: { verb: string; group: string; resource: string }[] = [
    { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
    { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
    { verb: 'create', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
    { verb: 'create', group: '', resource: 'namespaces' },
    { verb: 'create', group: 'apps', resource: 'deployments' },
  ];
  for (const n of needs) {
    const res = await call('check permissions', () => authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: n.verb, group: n.group, resource: n.resource } } } }), d.cluster.server);
    const what = `${n.verb} ${n.resource}${n.group ? `.${n.group}` : ''}`;
    out.push(res.status?.allowed
      ? { category: 'permissions', name: what, status: 'pass', message: `can ${what}` }
      : { category: 'permissions', name: what, status: 'fail', message: `cannot ${what}`, hint: 'installing Weft needs cluster-admin-like rights: use an admin kubeconfig' });
  }
  const crds = await call('list CRDs', () => d.cluster.clients.apiext.listCustomResourceDefinition(), d.cluster.server);
  const mc = crds.items.find((c) => c.metadata?.name === REQUIRED_CRDS[0]);
  out.push(mc
    ? { category: 'existing install', name: 'meshconfig crd', status: 'warn', message: 'Weft CRDs are already installed', hint: 'use `weftctl check` for an installed mesh, or `weftctl upgrade`' }
    : { category: 'existing install', name: 'meshconfig crd', status: 'pass', message: 'no Weft CRDs installed yet' });
  const ns = await d.cluster.clients.core.readNamespace({ name: OPERATOR_NAMESPACE }).catch(() => undefined);
  if (ns?.metadata?.deletionTimestamp) {
    out.push({ category: 'existing install', name: 'namespace', status: 'fail', message: `namespace ${OPERATOR_NAMESPACE} is being deleted`, hint: 'wait until it is gone, then install' });
  }
  return out;
}

async function postChecks(d: CheckDeps): Promise<CheckResult[]> {
  const { cluster, now } = d;
  const c = cluster.clients;
  const out: CheckResult[] = [];
  const ver = await call('reach the API server', () => c.config.makeApiClient(k8s.VersionApi).getCode(), cluster.server);
  out.push({ category: 'kubernetes', name: 'api', status: 'pass', message: `can reach the API server at ${cluster.server}` });
  out.push(kubernetesVersionCheck(ver.gitVersion));

  const crds = await call('list CRDs', () => c.apiext.listCustomResourceDefinition(), cluster.server);
  out.push(...crdsCheck(REQUIRED_CRDS, crds.items.map((x) => ({
    name: x.metadata?.name ?? '',
    established: (x.status?.conditions ?? []).some((cond) => cond.type === 'Established' && cond.status === 'True'),
  }))));

  const mcs = (await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL)) as unknown as MeshConfig[];
  const mc = mcs[0];
  if (!mc) {
    out.push({ category: 'meshconfig', name: 'exists', status: 'fail', message: 'no MeshConfig found', hint: 'run `weftctl install` or kubectl apply a MeshConfig' });
  } else {
    const ready = mc.status?.conditions?.find((x) => x.type === 'Ready');
    out.push(ready?.status === 'True'
      ? { category: 'meshconfig', name: 'ready', status: 'pass', message: `MeshConfig ${mc.metadata.name} is Ready (${ready.reason})` }
      : { category: 'meshconfig', name: 'ready', status: 'fail', message: `MeshConfig ${mc.metadata.name} is not Ready${ready ? `: ${ready.reason}: ${ready.message}` : ' (no Ready condition yet)'}`, hint: 'see `weftctl status` and the operator logs' });
  }
  const meshNs = mc?.spec?.namespace ?? DEFAULT_MESH_NAMESPACE;

  const op = await c.apps.readNamespacedDeployment({ name: OPERATOR_DEPLOYMENT, namespace: OPERATOR_NAMESPACE }).catch(() => undefined);
  out.push(!op
    ? { category: 'control-plane', name: 'operator', status: 'warn', message: `Deployment ${OPERATOR_NAMESPACE}/${OPERATOR_DEPLOYMENT} not found`, hint: 'fine if the operator runs outside the cluster; otherwise run `weftctl install`' }
    : (op.status?.readyReplicas ?? 0) >= 1
      ? { category: 'control-plane', name: 'operator', status: 'pass', message: `operator is running (${op.status?.readyReplicas}/${op.spec?.replicas ?? 1} ready)` }
      : { category: 'control-plane', name: 'operator', status: 'fail', message: 'operator has no ready replica', hint: `kubectl -n ${OPERATOR_NAMESPACE} describe deploy ${OPERATOR_DEPLOYMENT}` });
  if (mc) {
    const cps = await call('list control plane', () => c.apps.listNamespacedDeployment({ namespace: meshNs, labelSelector: `app=${CONTROLPLANE_NAME}` }), cluster.server).catch(() => ({ items: [] as k8s.V1Deployment[] }));
    if (cps.items.length === 0) out.push({ category: 'control-plane', name: 'controlplane', status: 'fail', message: `no ${CONTROLPLANE_NAME} Deployment in ${meshNs}`, hint: 'the operator has not rendered the control plane: check its logs' });
    for (const dep of cps.items) {
      const ready = dep.status?.readyReplicas ?? 0;
      const want = dep.spec?.replicas ?? 1;
      out.push(ready >= want
        ? { category: 'control-plane', name: dep.metadata?.name ?? '', status: 'pass', message: `${dep.metadata?.name} is ready (${ready}/${want})` }
        : { category: 'control-plane', name: dep.metadata?.name ?? '', status: want === 0 ? 'warn' : 'fail', message: `${dep.metadata?.name} has ${ready}/${want} ready replicas`, hint: `kubectl -n ${meshNs} describe deploy ${dep.metadata?.name}` });
    }
  }

  // Webhooks: caBundle validity and reachability.
  const [mwh, vwh] = await call('list webhook configurations', () => Promise.all([
    c.admissionReg.listMutatingWebhookConfiguration(), c.admissionReg.listValidatingWebhookConfiguration(),
  ]), cluster.server);
  const hooks = [...mwh.items, ...vwh.items].filter(isWeftWebhook);
  if (hooks.length === 0 && mc) out.push({ category: 'webhooks', name: 'present', status: 'fail', message: 'no Weft webhook configurations found', hint: 'the operator creates them; check its logs' });
  for (const cfg of hooks) {
    for (const w of (cfg.webhooks ?? []) as (k8s.V1MutatingWebhook | k8s.V1ValidatingWebhook)[]) {
      const label = `${cfg.metadata?.name}/${w.name}`;
      out.push(caBundleCheck(label, w.clientConfig.caBundle, now));
      out.push(webhookReachabilityCheck(await probeWebhook(label, w.clientConfig.url, w.clientConfig.caBundle)));
    }
  }

  // Certificates kept in the mesh and operator namespaces.
  for (const ns of [...new Set([meshNs, OPERATOR_NAMESPACE])]) {
    const secrets = await c.core.listNamespacedSecret({ namespace: ns }).catch(() => ({ items: [] as k8s.V1Secret[] }));
    for (const s of secrets.items) {
      for (const key of ['tls.crt', 'ca.crt', 'ca-cert.pem', 'root-cert.pem', 'cert-chain.pem']) {
        const v = s.data?.[key];
        if (v) out.push(certificateCheck('certificates', `secret ${ns}/${s.metadata?.name} ${key}`, Buffer.from(v, 'base64').toString('utf8'), now));
      }
    }
  }
  for (const m of mcs) out.push(...meshCaChecks(m));
  const bundle = await c.core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: meshNs }).catch(() => undefined);
  const rootPem = bundle?.data?.['root-cert.pem'];
  if (rootPem) out.push(certificateCheck('certificates', `configmap ${meshNs}/${TRUST_BUNDLE_CONFIGMAP} root-cert.pem`, rootPem, now));

  // Data plane.
  const [pods, nss] = await call('list pods and namespaces', () => Promise.all([c.core.listPodForAllNamespaces(), c.core.listNamespace()]), cluster.server);
  const proxies = pods.items.flatMap((p) => {
    const st = parseInjectionStatus(p);
    return st ? [{ pod: `${p.metadata?.namespace}/${p.metadata?.name}`, version: st.version }] : [];
  });
  const cpVersion = mc ? (mc.status?.version ?? mc.spec.version) : undefined;
  out.push(versionSkewCheck(cpVersion, proxies, mc?.spec?.updateStrategy?.maxVersionSkew ?? MESHCONFIG_DEFAULTS.maxVersionSkew));
  const enabled = new Set(nss.items.filter((n) => namespaceInjectionEnabled(n.metadata?.labels) && !SYSTEM_NAMESPACES.includes(n.metadata?.name ?? '')).map((n) => n.metadata?.name));
  const missing = pods.items
    .filter((p) => enabled.has(p.metadata?.namespace) && !p.spec?.hostNetwork && !podOptedOut(p.metadata?.labels) && !podIsInjected(p)
      && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
  out.push(uninjectedPodsCheck(missing));
  let syncs: ProxySync[] | undefined;
  try {
    syncs = await d.sync.fetch();
  } catch (e) {
    // The user asked for this source explicitly, so an unreadable one is a failure.
    out.push({ category: 'data-plane', name: 'config sync', status: 'fail', message: `cannot read proxy sync status from ${d.sync.description}: ${apiMessage(e)}`, hint: 'is --controlplane-debug the control plane debug address (its /debug/syncz)?' });
  }
  if (!out.some((x) => x.name === 'config sync')) out.push(proxySyncCheck(d.sync.description, syncs));
  return out;
}

export function registerCheck(program: Command, app: App, sync: ProxySyncSource = noProxySyncSource): void {
  program
    .command('check')
    .description('Check that the cluster can run Weft (--pre) or that an installed mesh is healthy')
    .option('--pre', 'run only the pre-installation checks')
    .option('--controlplane-debug <url>', 'control plane debug address (http://127.0.0.1:<port>); reads /debug/syncz for the proxy config-sync check')
    .addHelpText('after', examples([
      '# Before installing',
      'weftctl check --pre',
      '# After installing: CRDs, MeshConfig, control plane, webhooks, certificates, data plane',
      'weftctl check',
      'weftctl check -o json',
      '# Also fail on proxies that NACKed config (control plane debug port, e.g. after kubectl port-forward)',
      'weftctl check --controlplane-debug http://127.0.0.1:15014',
    ]))
    .action(async (flags: { pre?: boolean; controlplaneDebug?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      const source = flags.controlplaneDebug !== undefined ? synczProxySyncSource(flags.controlplaneDebug) : sync;
      const cluster = connect(g);
      const deps: CheckDeps = { cluster, now: app.now(), sync: source };
      const results = flags.pre ? await preChecks(deps) : await postChecks(deps);
      app.io.out(format === 'json' || format === 'yaml' ? renderData(results, format) : formatChecks(results, painter(app.io.color)));
      if (summarize(results).fail > 0) throw new CliError('', EXIT.failure);
    });
}
