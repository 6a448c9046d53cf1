// Proves the local cluster is a real one: controllers, scheduler and kwok run pods; the
// admission chain calls a URL webhook; TokenRequest/TokenReview honour audiences; Leases work.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { V1MicroTime } from '@kubernetes/client-node';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { makeServingMaterial } from '../../helpers/tls.js';

describe('local cluster (real kube-apiserver, controller-manager, scheduler, kwok)', () => {
  let ns: TestNamespace;
  beforeAll(async () => { ns = await createTestNamespace('foundation'); });
  afterAll(async () => { await ns.cleanup(); });

  it('runs a 3-replica Deployment: ReplicaSet, 3 pods scheduled on a kwok node, Running and Ready', async () => {
    await ns.clients.apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:stable' }] } },
        },
      },
    });
    const rs = await waitFor('a ReplicaSet', async () => {
      const list = await ns.clients.apps.listNamespacedReplicaSet({ namespace: ns.name });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'));
    });
    expect(rs.spec?.replicas).toBe(3);
    const pods = await waitFor('3 Running/Ready pods', async () => {
      const list = await ns.clients.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=web' });
      const ready = list.items.filter((p) => p.status?.phase === 'Running'
        && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === 3 ? ready : undefined;
    }, 90_000);
    for (const p of pods) {
      expect(p.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(p.status?.podIP).toMatch(/^10\.88\./);
    }
  });

  it('calls a MutatingWebhookConfiguration at an HTTPS URL on 127.0.0.1 and applies its JSON patch', async () => {
    const tls = await makeServingMaterial();
    const seen: string[] = [];
    const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const review = JSON.parse(body) as { request: { uid: string; object: { metadata: { name: string } } } };
        seen.push(review.request.object.metadata.name);
        const patch = [{ op: 'add', path: '/metadata/labels', value: { 'foundation.weft.dev/mutated': 'yes' } }];
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({
          apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
          response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
        }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const hookName = `${ns.name}.foundation.weft.dev`;
    try {
      await ns.clients.admissionReg.createMutatingWebhookConfiguration({
        body: {
          metadata: { name: hookName },
          webhooks: [{
            name: 'pods.foundation.weft.dev',
            admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
            clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(tls.caPem).toString('base64') },
            rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } },
          }],
        },
      });
      // The API server's webhook client cache can lag a registration by a moment; retry creation.
      const pod = await waitFor('a mutated pod', async () => {
        const name = `hooked-${Date.now()}`;
        const created = await ns.clients.core.createNamespacedPod({
          namespace: ns.name,
          body: { metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
        });
        return created.metadata?.labels?.['foundation.weft.dev/mutated'] === 'yes' ? created : undefined;
      }, 30_000, 500);
      expect(seen).toContain(pod.metadata?.name);
    } finally {
      await ns.clients.admissionReg.deleteMutatingWebhookConfiguration({ name: hookName }).catch(() => undefined);
      server.close();
    }
  });

  it('issues a TokenRequest with a custom audience that TokenReview accepts only for that audience', async () => {
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'workload' } } });
    const tr = await ns.clients.core.createNamespacedServiceAccountToken({
      name: 'workload', namespace: ns.name,
      body: { spec: { audiences: ['weft-ca'], expirationSeconds: 600 } },
    });
    const token = tr.status?.token ?? '';
    expect(token).not.toBe('');
    const ok = await ns.clients.authn.createTokenReview({ body: { spec: { token, audiences: ['weft-ca'] } } });
    expect(ok.status?.authenticated).toBe(true);
    expect(ok.status?.user?.username).toBe(`system:serviceaccount:${ns.name}:workload`);
    expect(ok.status?.audiences).toEqual(['weft-ca']);
    const wrong = await ns.clients.authn.createTokenReview({ body: { spec: { token, audiences: ['someone-else'] } } });
    // A refused token comes back with authenticated omitted and an error that says why.
    expect(wrong.status?.authenticated ?? false).toBe(false);
    expect(wrong.status?.error).toMatch(/audience|invalid/i);
    const forged = await ns.clients.authn.createTokenReview({ body: { spec: { token: `${token}x`, audiences: ['weft-ca'] } } });
    expect(forged.status?.authenticated ?? false).toBe(false);
  });

  it('creates and renews a Lease', async () => {
    // Lease times are MicroTime: the API server wants six fractional digits.
    const now = new V1MicroTime();
    const created = await ns.clients.coordination.createNamespacedLease({
      namespace: ns.name,
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now } },
    });
    const renewedAt = new V1MicroTime(now.getTime() + 5000);
    const renewed = await ns.clients.coordination.replaceNamespacedLease({
      name: 'leader', namespace: ns.name,
      body: { ...created, spec: { ...created.spec, renewTime: renewedAt } },
    });
    expect(renewed.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    expect(new Date(renewed.spec?.renewTime as unknown as string).getTime()).toBe(renewedAt.getTime());
    // A stale write (old resourceVersion) is refused: the basis of safe leader election.
    await expect(ns.clients.coordination.replaceNamespacedLease({
      name: 'leader', namespace: ns.name, body: { ...created, spec: { ...created.spec, holderIdentity: 'b' } },
    })).rejects.toThrow();
  });
});
