// Webhook down, against the real kube-apiserver, with the PRODUCTION MutatingWebhookConfiguration
// (renderMutatingWebhookConfiguration) pointing at a dead https://127.0.0.1:<port>. Its
// namespaceSelectors are the production ones (cluster-wide); to never touch anybody else's pods,
// every webhook's objectSelector additionally requires a per-run pod label, and the
// configuration (unique name) is deleted in afterAll. Then the real WebhookServer comes up on
// that port, and the repair controller reports, then (Restart) fixes, a pod that predates injection.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { silentLogger } from '../../../src/log/logger.js';
import { KubeRest } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { realClock } from '../../../src/kube/workqueue.js';
import { RepairController, RESTARTED_AT_ANNOTATION } from '../../../src/operator/repair.js';
import { DEFAULT_EXCLUDED_NAMESPACES } from '../../../src/render/inject/decide.js';
import { renderMutatingWebhookConfiguration } from '../../../src/render/inject/webhook-config.js';
import { createCA, issueServingCert, type KeyAndCert } from '../../../src/webhook/certs.js';
import { WebhookServer } from '../../../src/webhook/server.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { kubeconfigPath } from '../../helpers/paths.js';

const id = randomBytes(3).toString('hex');
const SCOPE = 'weft.dev/test-webhook-down'; // pod label every webhook requires (scopes the cluster-wide selectors)
const NS_SCOPE = 'weft.dev/test-webhook-down-ns'; // namespace label the repair controller is limited to
const configName = `weft-test-wh-down-${id}`;
const clients = clusterClients();
const log = silentLogger();

let meshNs: TestNamespace; // plays the mesh namespace: excluded by the rendered configuration
let labeled: TestNamespace;
let late: TestNamespace; // labeled for injection only after its Deployment's pod exists
let port: number;
let leaf: KeyAndCert;
let ca: KeyAndCert;
let server: WebhookServer | undefined;
let rest: KubeRest;

function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels: { app: 'demo', [SCOPE]: id, ...labels } },
    spec: { containers: [{ name: 'app', image: 'registry.test/demo:1', ports: [{ containerPort: 8080 }] }] },
  };
}

const hasProxy = (p: V1Pod): boolean => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].some((c) => c.name === 'weft-proxy');

async function apiMessage(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return '';
  } catch (e) {
    const body = (e as { body?: unknown }).body;
    try {
      return (JSON.parse(String(body)) as { message: string }).message;
    } catch {
      return String(body ?? (e as Error).message);
    }
  }
}

/** A free loopback port with nothing listening on it (the webhook comes up there later). */
async function deadPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The production rendering, scoped by an extra objectSelector label; nothing else changed. */
function scopedProductionConfig(): V1MutatingWebhookConfiguration {
  const cfg = renderMutatingWebhookConfiguration({
    name: configName,
    endpoint: { url: `https://127.0.0.1:${port}` },
    revisions: [{ revision: 'default', isDefault: true }],
    excludedNamespaces: [...DEFAULT_EXCLUDED_NAMESPACES, meshNs.name],
    labels: { 'weft.dev/test': 'true' },
  });
  for (const w of cfg.webhooks ?? []) {
    w.objectSelector = { ...(w.objectSelector ?? {}), matchLabels: { ...(w.objectSelector?.matchLabels ?? {}), [SCOPE]: id } };
    w.clientConfig.caBundle = Buffer.from(ca.certPem).toString('base64');
  }
  return cfg;
}

function deployment(name: string): V1Deployment {
  const labels = { app: name, [SCOPE]: id };
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.test/demo:1' }] } },
    },
  };
}

async function podsOf(ns: string, app: string): Promise<V1Pod[]> {
  return (await clients.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

beforeAll(async () => {
  ca = await createCA(new Date(), 24 * 3600 * 1000);
  leaf = await issueServingCert(ca, new Date(), 3600 * 1000, ['weft-webhook.weft-system.svc'], ['127.0.0.1']);
  port = await deadPort();
  meshNs = await createTestNamespace('whd-mesh', { 'weft.dev/injection': 'enabled' });
  labeled = await createTestNamespace('whd-on', { 'weft.dev/injection': 'enabled', [NS_SCOPE]: id });
  late = await createTestNamespace('whd-late', { [NS_SCOPE]: id });
  for (const ns of [meshNs, labeled, late]) {
    await waitFor(`ServiceAccount default in ${ns.name}`, async () => clients.core.readNamespacedServiceAccount({ name: 'default', namespace: ns.name }));
  }
  // A pod that predates injection: its namespace is labeled only after the pod exists.
  await clients.apps.createNamespacedDeployment({ namespace: late.name, body: deployment('legacy') });
  await waitFor('legacy pod', async () => (await podsOf(late.name, 'legacy')).length === 1, 60000);
  await clients.core.patchNamespace({ name: late.name, body: [{ op: 'add', path: '/metadata/labels/weft.dev~1injection', value: 'enabled' }] });

  await clients.admissionReg.createMutatingWebhookConfiguration({ body: scopedProductionConfig() });
  // The API server's webhook informer picks the configuration up asynchronously.
  await waitFor('webhook configuration to be live', async () => {
    const msg = await apiMessage(() => clients.core.createNamespacedPod({ namespace: labeled.name, body: pod(`probe-${randomBytes(2).toString('hex')}`), dryRun: 'All' }));
    return msg.includes('failed calling webhook');
  }, 30000);
  rest = new KubeRest(loadKubeConfig({ kubeconfig: kubeconfigPath }));
}, 180000);

afterAll(async () => {
  await clients.admissionReg.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
  await server?.close();
  rest?.close();
  await Promise.all([meshNs, labeled, late].map((n) => n?.cleanup()));
});

describe('production webhook configuration with the webhook down', () => {
  it('a pod in kube-system is still created (excluded by namespaceSelector even when it opts in)', async () => {
    const p = await clients.core.createNamespacedPod({ namespace: 'kube-system', body: pod(`weft-whd-${id}`, { 'sidecar.weft.dev/inject': 'true' }), dryRun: 'All' });
    expect(p.metadata?.namespace).toBe('kube-system');
    expect(hasProxy(p)).toBe(false);
  });

  it('a pod in the mesh namespace is still created', async () => {
    const p = await clients.core.createNamespacedPod({ namespace: meshNs.name, body: pod('in-mesh', { 'sidecar.weft.dev/inject': 'true' }) });
    expect(p.metadata?.name).toBe('in-mesh');
    expect(hasProxy(p)).toBe(false);
  });

  it('a pod in a labeled namespace fails closed with a clear error', async () => {
    const msg = await apiMessage(() => clients.core.createNamespacedPod({ namespace: labeled.name, body: pod('while-down') }));
    expect(msg).toContain('failed calling webhook "namespace.inject.weft.dev"');
    expect(msg).toContain(`https://127.0.0.1:${port}/inject`);
    expect(msg).toContain('connection refused');
    // Opted-out pods never reach the webhook, so they are created even while it is down.
    const out = await clients.core.createNamespacedPod({ namespace: labeled.name, body: pod('opted-out', { 'sidecar.weft.dev/inject': 'false' }) });
    expect(hasProxy(out)).toBe(false);
  });
});

describe('webhook back up', () => {
  it('injects new pods', async () => {
    server = new WebhookServer({
      injection: new Map([['default', defaultInjectionConfig({ hub: 'registry.test/weft', version: '1.0.0' })]]),
      defaultRevision: 'default',
      logger: log,
    });
    await server.listen(leaf, port);
    const p = await waitFor('injection after the webhook came back', async () => {
      const created = await clients.core.createNamespacedPod({ namespace: labeled.name, body: pod(`after-${randomBytes(2).toString('hex')}`) });
      return hasProxy(created) ? created : undefined;
    }, 30000, 500);
    expect(p.metadata?.annotations?.['sidecar.weft.dev/status']).toContain('"version":"1.0.0"');
  }, 60000);

  it('the repair controller reports the pod that predates injection (Report)', async () => {
    const repair = new RepairController({ rest, logger: log, clock: realClock, namespaceSelector: `${NS_SCOPE}=${id}` });
    const revisions = [{ policy: { revision: 'default', isDefaultRevision: true, excludedNamespaces: DEFAULT_EXCLUDED_NAMESPACES }, version: '1.0.0' }];
    const [legacyPod] = await podsOf(late.name, 'legacy');
    const res = await repair.scan({ revisions, mode: 'Report' });
    expect(res.status.missingPods).toContain(`${late.name}/${legacyPod!.metadata!.name}`);
    expect(res.status.missingPods).not.toContain(`${labeled.name}/opted-out`);
    expect(res.status.injected).toBeGreaterThanOrEqual(1);
    expect(res.groups.find((g) => g.workload?.name === 'legacy')?.workload).toEqual({ kind: 'Deployment', namespace: late.name, name: 'legacy' });
    expect(res.restarted).toEqual([]);
    const events = await waitFor('SidecarMissing event on the Deployment', async () => {
      const ev = (await clients.core.listNamespacedEvent({ namespace: late.name })).items.filter((e) => e.reason === 'SidecarMissing' && e.involvedObject.kind === 'Deployment' && e.involvedObject.name === 'legacy');
      return ev.length ? ev : undefined;
    }, 10000);
    expect(events[0]!.type).toBe('Warning');
    expect(events[0]!.message).toContain(legacyPod!.metadata!.name);
  }, 60000);

  it('with Restart, rolls the owning Deployment so its new pod is injected, once (cooldown)', async () => {
    const repair = new RepairController({ rest, logger: log, clock: realClock, namespaceSelector: `${NS_SCOPE}=${id}`, limits: { maxRestartsPerMinute: 2 } });
    const revisions = [{ policy: { revision: 'default', isDefaultRevision: true, excludedNamespaces: DEFAULT_EXCLUDED_NAMESPACES }, version: '1.0.0' }];
    const res = await repair.scan({ revisions, mode: 'Restart' });
    expect(res.restarted).toEqual([{ kind: 'Deployment', namespace: late.name, name: 'legacy' }]);
    const dep = await clients.apps.readNamespacedDeployment({ name: 'legacy', namespace: late.name });
    expect(dep.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBeDefined();
    const injected = await waitFor('an injected pod of the restarted Deployment', async () => (await podsOf(late.name, 'legacy')).find(hasProxy), 60000, 500);
    expect(injected.metadata?.labels?.['weft.dev/rev']).toBe('default');
    // A second scan right away does not restart it again while it rolls.
    const again = await repair.scan({ revisions, mode: 'Restart' });
    expect(again.restarted).toEqual([]);
  }, 90000);
});
