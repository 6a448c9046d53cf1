import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { podCensus } from '../../../src/render/inject/census.js';
import { injectPod } from '../../../src/render/inject/inject.js';
import { samplePod } from './fixtures.js';

const policy = { revision: 'default', isDefaultRevision: true, excludedNamespaces: ['kube-system'] };
const named = (p: V1Pod, name: string, namespace = 'shop'): V1Pod => ({ ...p, metadata: { ...p.metadata, name, namespace } });
const labels = (ns: string): Record<string, string> => (ns === 'shop' ? { 'weft.dev/injection': 'enabled' } : {});

describe('podCensus', () => {
  it('counts injected, missing and stale pods in meshed namespaces', () => {
    const current = injectPod(samplePod(), defaultInjectionConfig({ version: '1.1.0' })).pod;
    const old = injectPod(samplePod(), defaultInjectionConfig({ version: '1.0.0' })).pod;
    const pods = [
      named(current, 'a'),
      named(old, 'b'),
      named(samplePod(), 'c'), // created while the webhook was down
      named(samplePod({ labels: { 'sidecar.weft.dev/inject': 'false' } }), 'd'),
      named(samplePod(), 'e', 'plain'),
      named(samplePod(), 'f', 'kube-system'),
      { ...named(samplePod(), 'g'), status: { phase: 'Succeeded' } },
      named(injectPod(samplePod(), defaultInjectionConfig({ revision: 'canary' })).pod, 'h'),
    ];
    expect(podCensus(pods, labels, policy, '1.1.0')).toEqual({ injected: 1, missing: 1, stale: 1, missingPods: ['shop/c'], stalePods: ['shop/b'] });
  });
});
