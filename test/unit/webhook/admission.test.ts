// The admission handlers without HTTP: every kind of malformed review has its own message.
import { describe, expect, it } from '@jest/globals';
import jsonpatch, { type Operation } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import type { ValidationIssue } from '../../../src/api/validation.js';
import { silentLogger } from '../../../src/log/logger.js';
import { BadReview } from '../../../src/webhook/admission.js';
import { WebhookServer, type ValidatorEntry } from '../../../src/webhook/server.js';
import { reviewBody, samplePod } from './fixtures.js';

const validators = new Map<string, ValidatorEntry>([
  ['VirtualService', {
    validate: (o: unknown): ValidationIssue[] => ((o as { spec?: { hosts?: unknown[] } }).spec?.hosts?.length ? [] : [{ path: 'spec.hosts', message: 'at least one host is required' }]),
    warnings: (o: unknown): ValidationIssue[] => ((o as { spec?: { tcp?: unknown } }).spec?.tcp ? [{ path: 'spec.tcp', message: 'not implemented by Weft; ignored' }] : []),
  }],
  ['Exploding', (): ValidationIssue[] => { throw new Error('boom'); }],
]);

function server(): WebhookServer {
  return new WebhookServer({
    injection: new Map([
      ['default', defaultInjectionConfig({ version: '1.0.0' })],
      ['canary', defaultInjectionConfig({ version: '1.1.0', revision: 'canary', xdsAddress: 'canary:15010' })],
    ]),
    defaultRevision: 'default',
    validators,
    namespaceLabels: (ns): Record<string, string> | undefined => (ns === 'plain' ? {} : ns === 'shop' ? { 'weft.dev/injection': 'enabled' } : undefined),
    logger: silentLogger(),
  });
}

function badReview(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof BadReview) return e.message;
    throw e;
  }
  throw new Error('expected BadReview');
}

function decodePatch(patch: string | undefined): Operation[] {
  return JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8')) as Operation[];
}

describe('AdmissionReview parsing (HTTP 400 cases)', () => {
  const s = server();
  it.each([
    ['empty body', '', 'empty body'],
    ['bad JSON', '{"apiVersion":', 'body is not valid JSON'],
    ['JSON array', '[1,2]', 'must be a JSON object'],
    ['wrong apiVersion', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }), 'expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got apiVersion "admission.k8s.io/v1beta1"'],
    ['wrong kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), 'got apiVersion "admission.k8s.io/v1" and kind "Pod"'],
    ['missing request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'has no request object'],
    ['missing uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }), 'request.uid is missing'],
    ['missing kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', operation: 'CREATE' } }), 'request.kind must be an object'],
    ['missing operation', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' } } }), 'request.operation is missing'],
  ])('%s', (_name, body, msg) => {
    expect(badReview(() => s.inject(body, 'default'))).toContain(msg);
    expect(badReview(() => s.validate(body))).toContain(msg);
  });
});

describe('/inject', () => {
  const s = server();

  it('injects a pod with a base64 JSONPatch that reproduces injectPod', () => {
    const pod = samplePod();
    const r = s.inject(reviewBody(pod), 'default').response;
    expect(r).toMatchObject({ uid: 'b1f0c7d2-0000-4000-8000-000000000001', allowed: true, patchType: 'JSONPatch' });
    const out = jsonpatch.applyPatch(structuredClone(pod), decodePatch(r.patch), true, false).newDocument as V1Pod;
    expect(out.spec!.initContainers!.map((c) => c.name)).toEqual(['weft-init', 'weft-proxy']);
    expect(r.auditAnnotations!.injection).toContain('injected: 1.0.0');
  });

  it('uses the revision from the path', () => {
    const r = s.inject(reviewBody(samplePod(), { namespace: 'canary-ns' }), 'canary').response;
    const out = jsonpatch.applyPatch(samplePod(), decodePatch(r.patch), true, false).newDocument as V1Pod;
    const proxy = out.spec!.initContainers![1]!;
    expect(proxy.env!.find((e) => e.name === 'WEFT_XDS_ADDRESS')!.value).toBe('canary:15010');
    expect(proxy.image).toContain(':1.1.0');
  });

  it('allows without a patch, with the reason, when the pod is not to be injected', () => {
    const optOut = samplePod({ labels: { 'sidecar.weft.dev/inject': 'false' } });
    expect(s.inject(reviewBody(optOut), 'default').response).toMatchObject({ allowed: true, auditAnnotations: { injection: 'skipped: OptedOut' } });
    expect(s.inject(reviewBody(samplePod(), { namespace: 'plain' }), 'default').response.auditAnnotations).toEqual({ injection: 'skipped: NamespaceNotLabeled' });
    const hostNet = { ...samplePod(), spec: { ...samplePod().spec!, hostNetwork: true } };
    const r = s.inject(reviewBody(hostNet), 'default').response;
    expect(r.patch).toBeUndefined();
    expect(r.warnings![0]).toContain('hostNetwork');
  });

  it('re-invocation of an injected pod is a no-op with a named reason', () => {
    const first = s.inject(reviewBody(samplePod()), 'default').response;
    const injected = jsonpatch.applyPatch(samplePod(), decodePatch(first.patch), true, false).newDocument;
    const again = s.inject(reviewBody(injected), 'default').response;
    expect(again).toMatchObject({ allowed: true, auditAnnotations: { injection: 'skipped: AlreadyInjected' } });
    expect(again.patch).toBeUndefined();
  });

  it('denies a pod with a bad override annotation, naming it', () => {
    const r = s.inject(reviewBody(samplePod({ annotations: { 'sidecar.weft.dev/proxyCPU': 'fast' } })), 'default').response;
    expect(r.allowed).toBe(false);
    expect(r.status!.code).toBe(400);
    expect(r.status!.message).toContain('annotation sidecar.weft.dev/proxyCPU: "fast" is not a Kubernetes quantity');
  });

  it.each([
    ['a Deployment', reviewBody({ kind: 'Deployment', spec: {} }, {}, { group: 'apps', version: 'v1', kind: 'Deployment' }), 'handles only core/v1 Pod, got apps/v1 Deployment'],
    ['no object', reviewBody(undefined), 'request.object is missing'],
    ['object of another kind', reviewBody({ kind: 'Service', spec: { containers: [] } }), 'request.object.kind is "Service"'],
    ['no spec', reviewBody({ kind: 'Pod', metadata: {} }), 'request.object.spec is missing'],
    ['no containers', reviewBody({ kind: 'Pod', spec: {} }), 'spec.containers is missing or not a list'],
    ['empty containers', reviewBody({ kind: 'Pod', spec: { containers: [] } }), 'pod has no spec.containers'],
  ])('denies %s with a specific message', (_name, body, msg) => {
    const r = s.inject(body, 'default').response;
    expect(r.allowed).toBe(false);
    expect(r.status!.message).toContain(msg);
  });

  it('allows non-CREATE operations untouched', () => {
    expect(s.inject(reviewBody(samplePod(), { operation: 'UPDATE' }), 'default').response).toMatchObject({ allowed: true });
  });
});

describe('/validate', () => {
  const s = server();
  const vs = (spec: unknown): string => reviewBody({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', spec }, {}, { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' });

  it('dispatches to the validator for the kind and denies with its issues', () => {
    const r = s.validate(vs({})).response;
    expect(r).toMatchObject({ allowed: false, status: { code: 400, message: 'invalid VirtualService: spec.hosts: at least one host is required' } });
  });

  it('allows valid objects and carries warnings for unimplemented fields', () => {
    const r = s.validate(vs({ hosts: ['a'], tcp: [] })).response;
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual(['spec.tcp: not implemented by Weft; ignored']);
  });

  it('allows kinds without a validator, with a warning', () => {
    const r = s.validate(reviewBody({ kind: 'Sidecar' }, {}, { group: 'networking.istio.io', version: 'v1', kind: 'Sidecar' })).response;
    expect(r.allowed).toBe(true);
    expect(r.warnings![0]).toContain('no validator for kind Sidecar');
  });

  it('denies, without crashing, when a validator throws', () => {
    const r = s.validate(reviewBody({}, {}, { group: 'x', version: 'v1', kind: 'Exploding' })).response;
    expect(r).toMatchObject({ allowed: false, status: { code: 500, message: 'validator for Exploding failed: boom' } });
  });

  it('allows DELETE without an object', () => {
    expect(s.validate(vs(undefined).replace('"CREATE"', '"DELETE"')).response.allowed).toBe(true);
  });
});
