// The cluster edge of weftctl: build clients from the global flags, read lists that may not
// exist yet (CRDs not installed -> empty), and turn API/connection failures into CliErrors
// with a hint. Everything cluster-facing in commands goes through here.
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig, makeClients, type KubeClients } from '../kube/client.js';
import { CliError, EXIT } from './io.js';
import type { Manifest } from './manifests.js';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  output?: string;
  color?: boolean;
}

export interface Cluster {
  clients: KubeClients;
  /** -n, else the context's namespace, else "default". */
  namespace: string;
  server: string;
}

/** Builds clients from --kubeconfig/--context (or the default loading rules, KUBECONFIG). */
export function connect(g: GlobalOptions): Cluster {
  let kc: k8s.KubeConfig;
  try {
    kc = loadKubeConfig({ ...(g.kubeconfig ? { kubeconfig: g.kubeconfig } : {}), ...(g.context ? { context: g.context } : {}) });
  } catch (e) {
    throw new CliError(`cannot load kubeconfig${g.kubeconfig ? ` ${g.kubeconfig}` : ''}: ${(e as Error).message}`, EXIT.cluster);
  }
  if (g.context && !kc.getContexts().some((c) => c.name === g.context)) {
    throw new CliError(`context "${g.context}" not found in kubeconfig; available: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`, EXIT.usage);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new CliError('kubeconfig has no current cluster: pass --kubeconfig or --context', EXIT.cluster);
  const ctxNs = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { clients: makeClients(kc), namespace: g.namespace ?? ctxNs ?? 'default', server: cluster.server };
}

export function httpStatus(e: unknown): number | undefined {
  if (e instanceof k8s.ApiException) return e.code;
  const code = (e as { code?: unknown; statusCode?: unknown } | null)?.code ?? (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(e: unknown): boolean {
  return httpStatus(e) === 404;
}

/** Maps any error from a cluster call to a CliError with a hint. */
export function clusterError(e: unknown, what: string, server?: string): CliError {
  if (e instanceof CliError) return e;
  const status = httpStatus(e);
  if (status === 401) return new CliError(`${what}: unauthorized (401): the kubeconfig credentials were rejected`, EXIT.cluster);
  if (status === 403) {
    return new CliError(`${what}: forbidden (403): your user lacks permission; ${apiMessage(e)}`, EXIT.cluster);
  }
  if (status !== undefined) return new CliError(`${what}: API error ${status}: ${apiMessage(e)}`, EXIT.cluster);
  const msg = errorChain(e);
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|fetch failed|socket hang up|ECONNRESET/i.test(msg)) {
    return new CliError(`${what}: cannot reach the Kubernetes API server${server ? ` at ${server}` : ''} (${msg}); is the cluster up and --kubeconfig/--context right?`, EXIT.cluster);
  }
  return new CliError(`${what}: ${msg}`, EXIT.cluster);
}

function errorChain(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const m = cur instanceof Error ? cur.message : String(cur);
    const code = (cur as { code?: unknown }).code;
    parts.push(typeof code === 'string' && !m.includes(code) ? `${m} ${code}` : m);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

export function apiMessage(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    const body = e.body as unknown;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        return body.slice(0, 300);
      }
    }
    if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Runs a cluster call, mapping failures to CliError. */
export async function call<T>(what: string, fn: () => Promise<T>, server?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw clusterError(e, what, server);
  }
}

/** Lists a custom resource; a missing CRD (404) is an empty list. namespace undefined = all namespaces. */
export async function listCustom(c: Cluster, group: string, version: string, plural: string, namespace?: string): Promise<Manifest[]> {
  try {
    const res = (namespace === undefined
      ? await c.clients.custom.listClusterCustomObject({ group, version, plural })
      : await c.clients.custom.listNamespacedCustomObject({ group, version, plural, namespace })) as { items?: Manifest[] };
    return (res.items ?? []).map((o) => ({ ...o, apiVersion: o.apiVersion ?? `${group}/${version}` }));
  } catch (e) {
    if (isNotFound(e)) return [];
    throw clusterError(e, `list ${plural}.${group}`, c.server);
  }
}

/** Strips server-populated fields so objects print like the user's own YAML. */
export function cleanObject<T extends { metadata?: object }>(o: T): T {
  const copy = structuredClone(o) as T & { metadata?: Record<string, unknown>; status?: unknown };
  if (copy.metadata) {
    for (const k of ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink']) delete copy.metadata[k];
  }
  return copy;
}
