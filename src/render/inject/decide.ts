// Who is injected. Namespace selection normally happens in the webhook configuration's
// namespaceSelector; this function states the same policy in code so the webhook (when it
// knows the namespace's labels), kube-inject and the repair controller agree.
import type { V1Pod } from '@kubernetes/client-node';
import { INJECTION_LABEL, INJECTION_STATUS_ANNOTATION, POD_INJECT_LABEL, REVISION_LABEL } from '../../api/labels.js';
import { PROXY_CONTAINER_NAME } from '../../api/injection.js';

export type InjectionReason =
  | 'Injected'
  | 'AlreadyInjected'
  | 'HostNetwork'
  | 'OptedOut'
  | 'InvalidInjectLabel'
  | 'ExcludedNamespace'
  | 'NamespaceDisabled'
  | 'NamespaceNotLabeled'
  | 'OtherRevision';

export interface InjectionDecision {
  inject: boolean;
  reason: InjectionReason;
  message: string;
}

export interface InjectionPolicy {
  /** The revision this injector serves. */
  revision: string;
  /** Whether this revision answers `weft.dev/injection=enabled` and the pod opt-in label. */
  isDefaultRevision: boolean;
  /** Never injected, whatever the labels say (system and mesh namespaces). */
  excludedNamespaces: readonly string[];
}

export const DEFAULT_EXCLUDED_NAMESPACES: readonly string[] = Object.freeze(['kube-system', 'kube-public', 'kube-node-lease', 'weft-system']);

export function isInjected(pod: V1Pod): boolean {
  if (pod.metadata?.annotations?.[INJECTION_STATUS_ANNOTATION] !== undefined) return true;
  const named = (cs: unknown): boolean => Array.isArray(cs) && cs.some((c: { name?: unknown } | null) => c?.name === PROXY_CONTAINER_NAME);
  return named(pod.spec?.containers) || named(pod.spec?.initContainers);
}

/** The pod-only part of the decision: reasons that hold whatever the namespace says. */
export function podSkipDecision(pod: V1Pod): InjectionDecision | undefined {
  if (pod.spec?.hostNetwork) {
    return { inject: false, reason: 'HostNetwork', message: 'pod uses hostNetwork: its traffic cannot be captured without capturing the node\'s' };
  }
  if (isInjected(pod)) return { inject: false, reason: 'AlreadyInjected', message: 'pod already has the weft-proxy sidecar' };
  const label = pod.metadata?.labels?.[POD_INJECT_LABEL];
  if (label === 'false') return { inject: false, reason: 'OptedOut', message: `pod label ${POD_INJECT_LABEL}=false` };
  if (label !== undefined && label !== 'true') {
    return { inject: false, reason: 'InvalidInjectLabel', message: `pod label ${POD_INJECT_LABEL}="${label}" is neither "true" nor "false"; not injected` };
  }
  return undefined;
}

/**
 * Full decision. `namespaceLabels` undefined means "unknown": the webhook configuration's
 * namespaceSelector already chose this namespace, so only pod-level reasons apply.
 */
export function decideInjection(
  pod: V1Pod,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  policy: InjectionPolicy,
): InjectionDecision {
  if (policy.excludedNamespaces.includes(namespace)) {
    return { inject: false, reason: 'ExcludedNamespace', message: `namespace ${namespace} is a system or mesh namespace` };
  }
  const skip = podSkipDecision(pod);
  if (skip) return skip;
  const yes = (message: string): InjectionDecision => ({ inject: true, reason: 'Injected', message });
  if (namespaceLabels === undefined) return yes('selected by the webhook configuration');
  const nsInjection = namespaceLabels[INJECTION_LABEL];
  const nsRev = namespaceLabels[REVISION_LABEL];
  if (nsInjection === 'disabled') {
    return { inject: false, reason: 'NamespaceDisabled', message: `namespace label ${INJECTION_LABEL}=disabled` };
  }
  // An explicit revision label wins over weft.dev/injection=enabled (the webhook configuration routes the same way).
  if (nsRev !== undefined) {
    return nsRev === policy.revision
      ? yes(`namespace label ${REVISION_LABEL}=${nsRev}`)
      : { inject: false, reason: 'OtherRevision', message: `namespace label ${REVISION_LABEL}=${nsRev}, this injector serves ${policy.revision}` };
  }
  if (nsInjection === 'enabled') {
    return policy.isDefaultRevision
      ? yes(`namespace label ${INJECTION_LABEL}=enabled`)
      : { inject: false, reason: 'OtherRevision', message: `namespace uses the default revision, this injector serves ${policy.revision}` };
  }
  if (pod.metadata?.labels?.[POD_INJECT_LABEL] === 'true' && policy.isDefaultRevision) {
    return yes(`pod label ${POD_INJECT_LABEL}=true`);
  }
  return { inject: false, reason: 'NamespaceNotLabeled', message: `namespace ${namespace} has neither ${INJECTION_LABEL}=enabled nor ${REVISION_LABEL}` };
}
