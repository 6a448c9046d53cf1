// WebhookCertManager on an injected clock against the real API server: time passing alone
// (no forcing) renews the leaf, then the CA with overlap in caBundle of both configurations.
// The webhook configurations here select no namespace at all, so the API server never calls them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../src/log/logger.js';
import { WebhookCertManager, type Clock } from '../../../src/webhook/cert-manager.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';

const DAY = 24 * 3600 * 1000;
const id = randomBytes(3).toString('hex');
const name = `weft-test-certmgr-${id}`;
let ns: TestNamespace;
let now = new Date();
const clock: Clock = { now: () => now };
const loaded: Date[] = [];
let mgr: WebhookCertManager;

const nothing = { matchLabels: { 'weft.dev/test-never': id } };
const hook = (n: string) => ({
  name: n, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 1,
  clientConfig: { url: 'https://127.0.0.1:1/never' }, namespaceSelector: nothing,
  rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
});

beforeAll(async () => {
  ns = await createTestNamespace('wh-certs');
  const api = ns.clients.admissionReg;
  await api.createMutatingWebhookConfiguration({ body: { metadata: { name, labels: { 'weft.dev/test': 'true' } }, webhooks: [hook('m.certmgr.weft.dev')] } });
  await api.createValidatingWebhookConfiguration({ body: { metadata: { name, labels: { 'weft.dev/test': 'true' } }, webhooks: [hook('v.certmgr.weft.dev')] } });
  mgr = new WebhookCertManager({
    core: ns.clients.core, admissionReg: api, namespace: ns.name, secretName: 'webhook-serving',
    mutatingWebhookConfigurations: [name], validatingWebhookConfigurations: [name],
    dnsNames: ['weft-webhook.weft-system.svc'], ipAddresses: ['127.0.0.1'],
    clock, logger: silentLogger(), propagationDelayMs: 10,
    onCertificate: (_tls, notAfter) => { loaded.push(notAfter); },
  });
});

afterAll(async () => {
  await ns.clients.admissionReg.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  await ns.clients.admissionReg.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
  await ns.cleanup();
});

async function bundles(): Promise<number[]> {
  const api = ns.clients.admissionReg;
  const m = await api.readMutatingWebhookConfiguration({ name });
  const v = await api.readValidatingWebhookConfiguration({ name });
  const count = (b: string | undefined): number => (Buffer.from(b ?? '', 'base64').toString().match(/BEGIN CERTIFICATE/g) ?? []).length;
  return [count(m.webhooks![0]!.clientConfig.caBundle), count(v.webhooks![0]!.clientConfig.caBundle)];
}

describe('WebhookCertManager (clock injected)', () => {
  it('creates the Secret and patches caBundle into both configurations', async () => {
    const s = await mgr.reconcile();
    expect(s.lastAction).toBe('ca');
    expect(await bundles()).toEqual([1, 1]);
    const secret = await ns.clients.core.readNamespacedSecret({ name: 'webhook-serving', namespace: ns.name });
    expect(Object.keys(secret.data!).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(loaded).toHaveLength(1);
  });

  it('does nothing while the certificate is fresh', async () => {
    now = new Date(now.getTime() + 5 * DAY);
    expect((await mgr.reconcile()).lastAction).toBe('none');
    expect(loaded).toHaveLength(1);
  });

  it('renews the leaf well before expiry, keeping caBundle', async () => {
    now = new Date(now.getTime() + 16 * DAY); // 21 days into a 30-day leaf
    const s = await mgr.reconcile();
    expect(s.lastAction).toBe('leaf');
    expect(loaded).toHaveLength(2);
    expect(loaded[1]!.getTime()).toBeGreaterThan(loaded[0]!.getTime());
    expect(await bundles()).toEqual([1, 1]);
    expect(s.nextRenewal.getTime()).toBeGreaterThan(now.getTime());
  });

  it('renews the CA with overlap: new and old CA both trusted', async () => {
    now = new Date(now.getTime() + 230 * DAY);
    const s = await mgr.reconcile();
    expect(s.lastAction).toBe('ca');
    expect(await bundles()).toEqual([2, 2]);
    expect(mgr.status()!.caNotAfter.getTime()).toBeGreaterThan(now.getTime() + 300 * DAY);
  });

  it('drops an expired CA from the bundle at the next CA rotation', async () => {
    now = new Date(now.getTime() + 250 * DAY); // old CA expired; current CA due
    expect((await mgr.reconcile()).lastAction).toBe('ca');
    expect(await bundles()).toEqual([2, 2]);
  });

  it('a second manager (another replica) adopts the stored certificate instead of rotating', async () => {
    const other: Date[] = [];
    const replica = new WebhookCertManager({
      core: ns.clients.core, admissionReg: ns.clients.admissionReg, namespace: ns.name, secretName: 'webhook-serving',
      mutatingWebhookConfigurations: [name], validatingWebhookConfigurations: [name],
      dnsNames: ['weft-webhook.weft-system.svc'], ipAddresses: ['127.0.0.1'], clock, logger: silentLogger(),
      onCertificate: (_t, notAfter) => { other.push(notAfter); },
    });
    expect((await replica.reconcile()).lastAction).toBe('none');
    expect(other).toEqual([loaded[loaded.length - 1]]);
  });
});
