import { describe, expect, it } from '@jest/globals';
import { renderMutatingWebhookConfiguration, renderValidatingWebhookConfiguration } from '../../../src/render/inject/webhook-config.js';

const input = {
  name: 'weft-sidecar-injector',
  endpoint: { service: { namespace: 'weft-system', name: 'weft-webhook', port: 443 } },
  revisions: [{ revision: 'default', isDefault: true }, { revision: 'canary', isDefault: false }],
  timeoutSeconds: 30,
};

describe('webhook configurations', () => {
  it('routes each revision to its path, fails closed, and keeps system namespaces out', () => {
    const m = renderMutatingWebhookConfiguration(input);
    expect(m.webhooks!.map((w) => [w.name, w.clientConfig.service?.path])).toEqual([
      ['rev-default.inject.weft.dev', '/inject'],
      ['namespace.inject.weft.dev', '/inject'],
      ['object.inject.weft.dev', '/inject'],
      ['rev-canary.inject.weft.dev', '/inject/canary'],
    ]);
    for (const w of m.webhooks!) {
      expect(w).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', timeoutSeconds: 5, admissionReviewVersions: ['v1'] });
      expect(w.clientConfig.caBundle).toBeUndefined(); // owned by the cert manager
      expect(w.namespaceSelector!.matchExpressions).toContainEqual({
        key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'weft-system'],
      });
    }
    expect(m.webhooks![2]!.objectSelector).toEqual({ matchExpressions: [{ key: 'sidecar.weft.dev/inject', operator: 'In', values: ['true'] }] });
    expect(m.webhooks![1]!.objectSelector).toEqual({ matchExpressions: [{ key: 'sidecar.weft.dev/inject', operator: 'NotIn', values: ['false'] }] });
  });

  it('validates the Istio kinds Weft supports and MeshConfig at /validate', () => {
    const v = renderValidatingWebhookConfiguration({ ...input, endpoint: { url: 'https://127.0.0.1:9443/' } });
    const w = v.webhooks![0]!;
    expect(w.clientConfig.url).toBe('https://127.0.0.1:9443/validate');
    expect(w.rules!.flatMap((r) => r.resources)).toEqual(['virtualservices', 'destinationrules', 'gateways', 'serviceentries', 'peerauthentications', 'authorizationpolicies', 'meshconfigs']);
  });

  it('needs an endpoint', () => {
    expect(() => renderMutatingWebhookConfiguration({ ...input, endpoint: {} })).toThrow('needs a url or a service');
  });
});
