import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { decideInjection, type InjectionPolicy } from '../../../src/render/inject/decide.js';
import { samplePod } from './fixtures.js';

const policy: InjectionPolicy = { revision: 'default', isDefaultRevision: true, excludedNamespaces: ['kube-system', 'weft-system'] };
const canary: InjectionPolicy = { revision: 'canary', isDefaultRevision: false, excludedNamespaces: ['kube-system'] };
const withLabel = (v: string): V1Pod => samplePod({ labels: { 'sidecar.weft.dev/inject': v } });

describe('decideInjection', () => {
  it.each<[string, V1Pod, string, Record<string, string> | undefined, InjectionPolicy, boolean, string]>([
    ['enabled namespace', samplePod(), 'shop', { 'weft.dev/injection': 'enabled' }, policy, true, 'Injected'],
    ['unknown labels trust the webhook selector', samplePod(), 'shop', undefined, policy, true, 'Injected'],
    ['unlabeled namespace', samplePod(), 'shop', {}, policy, false, 'NamespaceNotLabeled'],
    ['disabled namespace beats pod opt-in', withLabel('true'), 'shop', { 'weft.dev/injection': 'disabled' }, policy, false, 'NamespaceDisabled'],
    ['pod opt-in in unlabeled namespace', withLabel('true'), 'shop', {}, policy, true, 'Injected'],
    ['pod opt-out', withLabel('false'), 'shop', { 'weft.dev/injection': 'enabled' }, policy, false, 'OptedOut'],
    ['bad pod label', withLabel('yes'), 'shop', { 'weft.dev/injection': 'enabled' }, policy, false, 'InvalidInjectLabel'],
    ['system namespace', samplePod(), 'kube-system', { 'weft.dev/injection': 'enabled' }, policy, false, 'ExcludedNamespace'],
    ['mesh namespace', samplePod(), 'weft-system', undefined, policy, false, 'ExcludedNamespace'],
    ['revision label for this revision', samplePod(), 'shop', { 'weft.dev/rev': 'canary' }, canary, true, 'Injected'],
    ['revision label for another revision', samplePod(), 'shop', { 'weft.dev/rev': 'canary' }, policy, false, 'OtherRevision'],
    ['default label is not for a canary injector', samplePod(), 'shop', { 'weft.dev/injection': 'enabled' }, canary, false, 'OtherRevision'],
    ['revision label wins over injection=enabled', samplePod(), 'shop', { 'weft.dev/injection': 'enabled', 'weft.dev/rev': 'canary' }, canary, true, 'Injected'],
    ['...so the default injector skips such a namespace', samplePod(), 'shop', { 'weft.dev/injection': 'enabled', 'weft.dev/rev': 'canary' }, policy, false, 'OtherRevision'],
    ['hostNetwork', { ...samplePod(), spec: { ...samplePod().spec!, hostNetwork: true } }, 'shop', { 'weft.dev/injection': 'enabled' }, policy, false, 'HostNetwork'],
    ['already injected', samplePod({ annotations: { 'sidecar.weft.dev/status': '{}' } }), 'shop', undefined, policy, false, 'AlreadyInjected'],
  ])('%s', (_name, pod, ns, labels, pol, inject, reason) => {
    const d = decideInjection(pod, ns, labels, pol);
    expect(d.inject).toBe(inject);
    expect(d.reason).toBe(reason);
    expect(d.message.length).toBeGreaterThan(0);
  });
});
