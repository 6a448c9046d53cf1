// The trust bundle as a ConfigMap (TRUST_BUNDLE_CONFIGMAP, key root-cert.pem), the way
// istiod publishes istio-ca-root-cert: the injector mounts it at PROXY_PATHS.trustBundleFile,
// so a proxy can verify the CA before it has any certificate, and root rotation stages reach
// every pod without a re-issue.
import { INJECTION_LABEL, REVISION_LABEL } from '../api/labels.js';
import { TRUST_BUNDLE_CONFIGMAP } from '../api/sidecar.js';
import { WeftError, errorMessage } from '../errors/errors.js';
import type { KubeClients } from '../kube/client.js';

export const TRUST_BUNDLE_KEY = 'root-cert.pem';

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

export function bundleText(bundlePem: readonly string[]): string {
  return bundlePem.map((p) => p.trim() + '\n').join('');
}

/** Creates or updates the bundle ConfigMap in one namespace; writes nothing when it is already current. */
export async function publishTrustBundle(clients: Pick<KubeClients, 'core'>, namespace: string, bundlePem: readonly string[]): Promise<'created' | 'updated' | 'unchanged'> {
  const data = { [TRUST_BUNDLE_KEY]: bundleText(bundlePem) };
  const metadata = { name: TRUST_BUNDLE_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/managed-by': 'weft', 'weft.dev/trust-bundle': 'true' } };
  try {
    let existing;
    try {
      existing = await clients.core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace });
    } catch (e) {
      if (httpCode(e) !== 404) throw e;
    }
    if (!existing) {
      await clients.core.createNamespacedConfigMap({ namespace, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data } });
      return 'created';
    }
    if (existing.data?.[TRUST_BUNDLE_KEY] === data[TRUST_BUNDLE_KEY]) return 'unchanged';
    await clients.core.replaceNamespacedConfigMap({
      name: TRUST_BUNDLE_CONFIGMAP,
      namespace,
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { ...metadata, resourceVersion: existing.metadata?.resourceVersion }, data: { ...existing.data, ...data } },
    });
    return 'updated';
  } catch (e) {
    throw new WeftError('WEFT_E_UNAVAILABLE', `cannot publish the trust bundle to ${namespace}/${TRUST_BUNDLE_CONFIGMAP}: ${errorMessage(e)}`, {}, { cause: e });
  }
}

/** Namespaces whose pods get sidecars, so they need the bundle ConfigMap mounted by the injector. */
export function isMeshNamespace(labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!labels) return false;
  if (labels[INJECTION_LABEL] === 'disabled') return false;
  return labels[INJECTION_LABEL] === 'enabled' || Boolean(labels[REVISION_LABEL]);
}

/**
 * Lists the namespaces that need the trust bundle (injection enabled or a revision label),
 * skipping terminating ones. `labelSelector` narrows the list further (e.g. one test run's namespaces).
 */
export async function listMeshNamespaces(clients: Pick<KubeClients, 'core'>, labelSelector?: string): Promise<string[]> {
  const list = await clients.core.listNamespace(labelSelector ? { labelSelector } : {});
  return list.items
    .filter((n) => n.status?.phase !== 'Terminating' && isMeshNamespace(n.metadata?.labels))
    .map((n) => n.metadata?.name ?? '')
    .filter((n) => n !== '')
    .sort();
}
