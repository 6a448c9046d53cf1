// The injector against the real kube-apiserver: the API server calls our HTTPS webhook for
// pods in our (uniquely labeled) test namespaces, with the caBundle the cert manager patched.
// Cluster-scoped objects get unique names and selectors that match only our namespaces.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { silentLogger } from '../../../src/log/logger.js';
import { WebhookCertManager, systemClock } from '../../../src/webhook/cert-manager.js';
import type { KeyAndCert } from '../../../src/webhook/certs.js';
import { WebhookServer } from '../../../src/webhook/server.js';
import { renderMutatingWebhookConfiguration, renderValidatingWebhookConfiguration } from '../../../src/render/inject/webhook-config.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';

const id = randomBytes(3).toString('hex');
const SEL = 'weft.dev/test-webhook';
const configName = `weft-test-inject-${id}`;
const clients = clusterClients();
const log = silentLogger();

let meshed: TestNamespace;
let plain: TestNamespace;
let canaryNs: TestNamespace;
let server: WebhookServer;
let certs: WebhookCertManager;
let port: number;
const served: string[] = [];

function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels: { app: 'demo', ...labels } },
    spec: { containers: [{ name: 'app', image: 'registry.test/demo:1', ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 8080 } } }] },
  };
}

function proxyOf(p: V1Pod): { image?: string; env?: { name: string; value?: string }[] } | undefined {
  return [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === 'weft-proxy');
}

async function waitForDefaultSA(ns: string): Promise<void> {
  await waitFor(`ServiceAccount default in ${ns}`, async () => clients.core.readNamespacedServiceAccount({ name: 'default', namespace: ns }));
}

function webhook(name: string, path: string, nsMatch: { key: string; operator: string; values?: string[] }) {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    reinvocationPolicy: 'IfNeeded',
    clientConfig: { url: `https://127.0.0.1:${port}${path}` },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    namespaceSelector: { matchLabels: { [SEL]: id }, matchExpressions: [nsMatch] },
    // A label (not an annotation) so the API server filters opted-out pods before calling us.
    objectSelector: { matchExpressions: [{ key: 'sidecar.weft.dev/inject', operator: 'NotIn', values: ['false'] }] },
  };
}

beforeAll(async () => {
  meshed = await createTestNamespace('wh-mesh', { [SEL]: id, 'weft.dev/injection': 'enabled' });
  plain = await createTestNamespace('wh-plain', { [SEL]: id });
  canaryNs = await createTestNamespace('wh-canary', { [SEL]: id, 'weft.dev/rev': 'canary' });
  server = new WebhookServer({
    injection: new Map([
      ['default', defaultInjectionConfig({ hub: 'registry.test/weft', version: '1.0.0' })],
      ['canary', defaultInjectionConfig({ hub: 'registry.test/weft', version: '1.1.0', revision: 'canary', xdsAddress: 'weft-controlplane-canary.weft-system.svc:15010' })],
    ]),
    defaultRevision: 'default',
    logger: log,
  });
  let initial: KeyAndCert | undefined;
  certs = new WebhookCertManager({
    core: clients.core,
    admissionReg: clients.admissionReg,
    namespace: meshed.name,
    secretName: 'weft-webhook-serving-cert',
    mutatingWebhookConfigurations: [configName],
    validatingWebhookConfigurations: [],
    dnsNames: ['weft-webhook.weft-system.svc'],
    ipAddresses: ['127.0.0.1'],
    clock: systemClock,
    logger: log,
    propagationDelayMs: 1500,
    onCertificate: (tls, notAfter) => {
      served.push(tls.certPem);
      if (server && initial) server.setTls(tls, notAfter);
      else initial = tls;
    },
  });
  await certs.reconcile(); // no webhook configuration yet: creates the Secret only
  port = await server.listen(initial!, 0);
  await clients.admissionReg.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: configName, labels: { 'weft.dev/test': 'true' } },
      webhooks: [
        webhook('inject.weft.dev', '/inject', { key: 'weft.dev/injection', operator: 'In', values: ['enabled'] }),
        webhook('rev.inject.weft.dev', '/inject/canary', { key: 'weft.dev/rev', operator: 'In', values: ['canary'] }),
      ],
    },
  });
  await certs.reconcile(); // now patches caBundle into the configuration
  await Promise.all([meshed, plain, canaryNs].map((n) => waitForDefaultSA(n.name)));
  // The API server's webhook informer picks the configuration up asynchronously: dry-run until it does.
  await waitFor('webhook configuration to be live', async () => {
    const p = await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod(`probe-${randomBytes(2).toString('hex')}`), dryRun: 'All' });
    return proxyOf(p) !== undefined;
  }, 30000);
}, 120000);

afterAll(async () => {
  certs?.stop();
  await clients.admissionReg.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
  await server?.close();
  await Promise.all([meshed, plain, canaryNs].map((n) => n?.cleanup()));
});

describe('injection through the real API server', () => {
  it('patched caBundle into the webhook configuration', async () => {
    const cfg = await clients.admissionReg.readMutatingWebhookConfiguration({ name: configName });
    for (const h of cfg.webhooks ?? []) {
      expect(Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    }
  });

  it('the rendered production webhook configurations are accepted by the API server (dry run)', async () => {
    const input = { name: `weft-test-render-${id}`, endpoint: { service: { namespace: 'weft-system', name: 'weft-webhook', port: 443 } }, revisions: [{ revision: 'default', isDefault: true }, { revision: 'canary', isDefault: false }] };
    const m = await clients.admissionReg.createMutatingWebhookConfiguration({ body: renderMutatingWebhookConfiguration(input), dryRun: 'All' });
    expect(m.webhooks).toHaveLength(4);
    const v = await clients.admissionReg.createValidatingWebhookConfiguration({ body: renderValidatingWebhookConfiguration(input), dryRun: 'All' });
    expect(v.webhooks![0]!.rules!.length).toBe(3);
  });

  it('a pod in a labeled namespace comes back injected', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod('web') });
    expect(created.spec!.initContainers!.map((c) => c.name)).toEqual(['weft-init', 'weft-proxy']);
    expect(created.spec!.initContainers![1]!.restartPolicy).toBe('Always');
    expect(JSON.parse(created.metadata!.annotations!['sidecar.weft.dev/status']!)).toMatchObject({ version: '1.0.0', revision: 'default', native: true });
    // Probe rewritten to the proxy's health port.
    expect(created.spec!.containers[0]!.readinessProbe!.httpGet!.port).toBe(15021);
  });

  it('an opted-out pod is not injected', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod('legacy', { 'sidecar.weft.dev/inject': 'false' }) });
    expect(proxyOf(created)).toBeUndefined();
    expect(created.metadata!.annotations?.['sidecar.weft.dev/status']).toBeUndefined();
  });

  it('a pod in an unlabeled namespace is not injected', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: plain.name, body: pod('plain') });
    expect(proxyOf(created)).toBeUndefined();
  });

  it('the revision label picks that revision\'s control plane', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: canaryNs.name, body: pod('canary') });
    const proxy = proxyOf(created)!;
    expect(proxy.image).toBe('registry.test/weft/weft:1.1.0');
    expect(proxy.env!.find((e) => e.name === 'WEFT_XDS_ADDRESS')!.value).toBe('weft-controlplane-canary.weft-system.svc:15010');
  });

  it('a Deployment in a labeled namespace yields pods with the sidecar', async () => {
    await clients.apps.createNamespacedDeployment({
      namespace: meshed.name,
      body: {
        metadata: { name: 'shop' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'shop' } },
          template: { metadata: { labels: { app: 'shop' } }, spec: { containers: [{ name: 'shop', image: 'registry.test/shop:1' }] } },
        },
      },
    });
    const pods = await waitFor('deployment pods', async () => {
      const l = await clients.core.listNamespacedPod({ namespace: meshed.name, labelSelector: 'app=shop' });
      return l.items.length === 2 ? l.items : undefined;
    });
    for (const p of pods) expect(proxyOf(p)).toBeDefined();
  });

  it('rotating the serving cert 5 times while pods are created continuously: 0 failed admissions', async () => {
    let stop = false;
    let created = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 60000;
    const loop = (async (): Promise<void> => {
      // Bounded in count and time.
      for (let i = 0; !stop && i < 400 && Date.now() < deadline; i++) {
        try {
          const p = await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod(`rot-${i}`) });
          if (!proxyOf(p)) failures.push(`rot-${i}: not injected`);
          created++;
        } catch (e) {
          failures.push(`rot-${i}: ${String((e as { body?: unknown }).body ?? e)}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const before = served.length;
    for (const kind of ['leaf', 'ca', 'leaf', 'ca', 'ca'] as const) {
      await certs.reconcile(kind);
      await new Promise((r) => setTimeout(r, 700));
    }
    stop = true;
    await loop;
    expect(served.length - before).toBe(5);
    expect(new Set(served).size).toBe(served.length);
    expect(failures).toEqual([]);
    expect(created).toBeGreaterThan(20);
    // The API server trusts the current CA: a fresh pod after the last rotation is still injected.
    const after = await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod('after-rotation') });
    expect(proxyOf(after)).toBeDefined();
    const cfg = await clients.admissionReg.readMutatingWebhookConfiguration({ name: configName });
    const bundle = Buffer.from(cfg.webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
    expect(bundle.match(/BEGIN CERTIFICATE/g)!.length).toBe(3); // new CA + still-valid predecessors
  }, 120000);

  it('with the webhook down, labeled namespaces fail closed with a clear error; others are unaffected', async () => {
    await server.close();
    let message = '';
    try {
      await clients.core.createNamespacedPod({ namespace: meshed.name, body: pod('while-down') });
    } catch (e) {
      message = (JSON.parse(String((e as { body?: unknown }).body)) as { message: string }).message;
    }
    expect(message).toContain('failed calling webhook "inject.weft.dev"');
    expect(message).toContain('connection refused');
    const ok = await clients.core.createNamespacedPod({ namespace: plain.name, body: pod('plain-while-down') });
    expect(ok.metadata!.name).toBe('plain-while-down');
  });
});
