// The analyzer's inputs: the Istio-API config under analysis and the registry it is checked
// against (Services, Pods, Namespaces). Both come either from the live cluster or from the
// files alone (--offline); the analyzer itself does not know which. Pure.
import type { Manifest } from '../manifests.js';
import { INJECTION_LABEL, INJECTION_STATUS_ANNOTATION, POD_INJECT_LABEL, REVISION_LABEL } from '../../api/labels.js';
import { PROXY_CONTAINER_NAME } from '../../api/injection.js';

export const CLUSTER_DOMAIN = 'cluster.local';
export const DEFAULT_MESH_NAMESPACE = 'weft-system';
export const SYSTEM_NAMESPACES: readonly string[] = Object.freeze(['kube-system', 'kube-public', 'kube-node-lease']);

export interface RegistryService {
  name: string;
  namespace: string;
  /** Pod selector; undefined = a Service without selector (manual endpoints). */
  selector?: Record<string, string>;
  ports: number[];
}

export interface RegistryPod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Has a Weft sidecar (status annotation or weft-proxy container). */
  injected: boolean;
}

export interface RegistryNamespace {
  name: string;
  labels: Record<string, string>;
}

export interface Registry {
  services: RegistryService[];
  pods: RegistryPod[];
  namespaces: RegistryNamespace[];
  /** Namespace whose selector-less PeerAuthentication is mesh-wide. */
  meshNamespace: string;
}

/** One Istio object under analysis, with where it came from (file#doc or cluster). */
export interface ConfigObject {
  obj: Manifest;
  source: string;
}

export function emptyRegistry(meshNamespace = DEFAULT_MESH_NAMESPACE): Registry {
  return { services: [], pods: [], namespaces: [], meshNamespace };
}

/** The control plane's own host resolution (`reviews`, `reviews.ns`, `reviews.ns.svc`). */
export { resolveHost } from '../../api/istio/hosts.js';

export function serviceFqdn(s: Pick<RegistryService, 'name' | 'namespace'>, domain = CLUSTER_DOMAIN): string {
  return `${s.name}.${s.namespace}.svc.${domain}`;
}

/** `*.example.com` matches `a.example.com` and `a.b.example.com`; `*` matches all. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string }[]; initContainers?: { name?: string }[] };
}

export function podIsInjected(p: PodLike): boolean {
  if (p.metadata?.annotations?.[INJECTION_STATUS_ANNOTATION] !== undefined) return true;
  const names = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].map((c) => c.name);
  return names.includes(PROXY_CONTAINER_NAME);
}

/** True when the namespace asks for injection (weft.dev/injection=enabled or a revision label). */
export function namespaceInjectionEnabled(labels: Record<string, string> | undefined): boolean {
  if (!labels) return false;
  if (labels[INJECTION_LABEL] === 'disabled') return false;
  return labels[INJECTION_LABEL] === 'enabled' || labels[REVISION_LABEL] !== undefined;
}

/** True when the pod opted out with sidecar.weft.dev/inject=false. */
export function podOptedOut(labels: Record<string, string> | undefined): boolean {
  return labels?.[POD_INJECT_LABEL] === 'false';
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/**
 * Builds a registry from plain Kubernetes objects (Services, Pods, workload templates,
 * Namespaces), e.g. those in the files given with --offline. Workloads contribute one
 * pod-shaped entry from their template. Pure.
 */
export function registryFromObjects(objs: readonly Manifest[], defaultNamespace: string, meshNamespace = DEFAULT_MESH_NAMESPACE): Registry {
  const reg = emptyRegistry(meshNamespace);
  for (const o of objs) {
    const ns = o.metadata.namespace ?? defaultNamespace;
    const name = o.metadata.name ?? '';
    if (o.apiVersion === 'v1' && o.kind === 'Service') {
      const spec = (o.spec ?? {}) as { selector?: Record<string, string>; ports?: { port?: number }[] };
      reg.services.push({ name, namespace: ns, selector: spec.selector, ports: (spec.ports ?? []).map((p) => p.port ?? 0) });
    } else if (o.apiVersion === 'v1' && o.kind === 'Pod') {
      reg.pods.push({ name, namespace: ns, labels: o.metadata.labels ?? {}, injected: podIsInjected(o as PodLike) });
    } else if (o.apiVersion === 'v1' && o.kind === 'Namespace') {
      reg.namespaces.push({ name, labels: o.metadata.labels ?? {} });
    } else if (WORKLOAD_KINDS.has(o.kind)) {
      const tpl = ((o.spec ?? {}) as { template?: PodLike }).template;
      if (tpl) reg.pods.push({ name: `${name} (${o.kind} template)`, namespace: ns, labels: tpl.metadata?.labels ?? {}, injected: podIsInjected(tpl) });
    }
  }
  return reg;
}

/** Merges registries; later entries with the same namespace/name replace earlier ones. */
export function mergeRegistries(base: Registry, extra: Registry): Registry {
  const merge = <T extends { name: string; namespace?: string }>(a: T[], b: T[]): T[] => {
    const m = new Map<string, T>();
    for (const x of [...a, ...b]) m.set(`${x.namespace ?? ''}/${x.name}`, x);
    return [...m.values()];
  };
  return {
    services: merge(base.services, extra.services),
    pods: merge(base.pods, extra.pods),
    namespaces: merge(base.namespaces, extra.namespaces),
    meshNamespace: extra.meshNamespace || base.meshNamespace,
  };
}
