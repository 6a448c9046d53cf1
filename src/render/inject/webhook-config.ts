// Pure: the Mutating/ValidatingWebhookConfiguration objects the operator applies. caBundle is
// deliberately absent: the webhook's cert manager owns that field (apply it with a field
// manager that does not set caBundle, so the two never fight).
import type {
  AdmissionregistrationV1WebhookClientConfig, V1LabelSelectorRequirement, V1MutatingWebhook,
  V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { INJECTION_LABEL, POD_INJECT_LABEL, REVISION_LABEL } from '../../api/labels.js';
import { DEFAULT_EXCLUDED_NAMESPACES } from './decide.js';

export interface WebhookEndpoint {
  /** Base URL (e.g. https://127.0.0.1:9443) for out-of-cluster webhooks, or a Service. */
  url?: string;
  service?: { namespace: string; name: string; port: number };
}

export interface WebhookConfigInput {
  /** Object name of both configurations, e.g. "weft-sidecar-injector" (a revision suffix is not added). */
  name: string;
  endpoint: WebhookEndpoint;
  /** Revisions served; exactly one should be the default (answers weft.dev/injection=enabled). */
  revisions: readonly { revision: string; isDefault: boolean }[];
  /** Namespaces never sent to the webhook (system and mesh namespaces). */
  excludedNamespaces?: readonly string[];
  /** <= 5: a slow webhook must not hold pod creation for long. */
  timeoutSeconds?: number;
  labels?: Record<string, string>;
  /** Resources the validating webhook covers. */
  validated?: readonly { group: string; versions: string[]; resources: string[] }[];
  validationFailurePolicy?: 'Fail' | 'Ignore';
}

export const DEFAULT_VALIDATED_RESOURCES: readonly { group: string; versions: string[]; resources: string[] }[] = Object.freeze([
  { group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], resources: ['virtualservices', 'destinationrules', 'gateways', 'serviceentries'] },
  { group: 'security.istio.io', versions: ['v1', 'v1beta1'], resources: ['peerauthentications', 'authorizationpolicies'] },
  { group: 'operator.weft.dev', versions: ['v1alpha1'], resources: ['meshconfigs'] },
]);

function clientConfig(ep: WebhookEndpoint, path: string): AdmissionregistrationV1WebhookClientConfig {
  if (ep.url) return { url: `${ep.url.replace(/\/+$/, '')}${path}` };
  if (ep.service) return { service: { ...ep.service, path } };
  throw new Error('webhook endpoint needs a url or a service');
}

function notExcluded(excluded: readonly string[]): V1LabelSelectorRequirement {
  return { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...excluded] };
}

export function renderMutatingWebhookConfiguration(input: WebhookConfigInput): V1MutatingWebhookConfiguration {
  const excluded = input.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES;
  const timeoutSeconds = Math.min(5, Math.max(1, input.timeoutSeconds ?? 5));
  const base = (name: string, path: string): V1MutatingWebhook => ({
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds,
    clientConfig: clientConfig(input.endpoint, path),
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
  });
  const optedOutExcluded = { matchExpressions: [{ key: POD_INJECT_LABEL, operator: 'NotIn', values: ['false'] }] };
  const webhooks: V1MutatingWebhook[] = [];
  for (const { revision, isDefault } of input.revisions) {
    const path = isDefault ? '/inject' : `/inject/${revision}`;
    webhooks.push({
      ...base(`rev-${revision}.inject.weft.dev`, path),
      namespaceSelector: {
        matchExpressions: [
          { key: REVISION_LABEL, operator: 'In', values: [revision] },
          { key: INJECTION_LABEL, operator: 'NotIn', values: ['disabled'] },
          notExcluded(excluded),
        ],
      },
      objectSelector: optedOutExcluded,
    });
    if (isDefault) {
      webhooks.push({
        ...base('namespace.inject.weft.dev', path),
        namespaceSelector: {
          matchExpressions: [{ key: INJECTION_LABEL, operator: 'In', values: ['enabled'] }, { key: REVISION_LABEL, operator: 'DoesNotExist' }, notExcluded(excluded)],
        },
        objectSelector: optedOutExcluded,
      });
      // Pods that opt in by label, in namespaces that carry no Weft label at all.
      webhooks.push({
        ...base('object.inject.weft.dev', path),
        namespaceSelector: {
          matchExpressions: [{ key: INJECTION_LABEL, operator: 'DoesNotExist' }, { key: REVISION_LABEL, operator: 'DoesNotExist' }, notExcluded(excluded)],
        },
        objectSelector: { matchExpressions: [{ key: POD_INJECT_LABEL, operator: 'In', values: ['true'] }] },
      });
    }
  }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: input.name, labels: { ...(input.labels ?? {}) } },
    webhooks,
  };
}

export function renderValidatingWebhookConfiguration(input: WebhookConfigInput): V1ValidatingWebhookConfiguration {
  const timeoutSeconds = Math.min(5, Math.max(1, input.timeoutSeconds ?? 5));
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: input.name, labels: { ...(input.labels ?? {}) } },
    webhooks: [{
      name: 'validation.weft.dev',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: input.validationFailurePolicy ?? 'Fail',
      matchPolicy: 'Equivalent',
      timeoutSeconds,
      clientConfig: clientConfig(input.endpoint, '/validate'),
      rules: (input.validated ?? DEFAULT_VALIDATED_RESOURCES).map((r) => ({
        apiGroups: [r.group], apiVersions: [...r.versions], operations: ['CREATE', 'UPDATE'], resources: [...r.resources], scope: '*',
      })),
    }],
  };
}
