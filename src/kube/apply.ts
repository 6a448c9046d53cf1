// Raw REST access to the API server for the operator's hot paths: server-side apply with a
// fixed fieldManager, merge-patch of the /status subresource, list/delete by label (prune).
// It talks HTTPS with a keep-alive agent built from the kubeconfig's credentials, counts
// every write (so tests and the bench can prove a no-op reconcile writes nothing), and maps
// kinds to REST paths from a static table of the kinds Weft manages.
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { WeftError } from '../errors/errors.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<Record<string, unknown>>;
  deletionTimestamp?: string;
  finalizers?: string[];
  creationTimestamp?: string;
  managedFields?: unknown[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

/** The kinds the operator reads or writes. apiVersion + '/' + kind -> REST info. */
export const RESOURCES: Readonly<Record<string, ResourceInfo>> = Object.freeze({
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/ReplicaSet': { plural: 'replicasets', namespaced: true },
  'discovery.k8s.io/v1/EndpointSlice': { plural: 'endpointslices', namespaced: true },
  'policy/v1/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': { plural: 'mutatingwebhookconfigurations', namespaced: false },
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': { plural: 'validatingwebhookconfigurations', namespaced: false },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
  'operator.weft.dev/v1alpha1/MeshConfig': { plural: 'meshconfigs', namespaced: false },
});

export interface TypeRef {
  apiVersion: string;
  kind: string;
}

export function resourceInfo(t: TypeRef): ResourceInfo {
  const info = RESOURCES[`${t.apiVersion}/${t.kind}`];
  if (!info) throw new WeftError('WEFT_E_INVALID_INPUT', 'unknown kind', { apiVersion: t.apiVersion, kind: t.kind });
  return info;
}

function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Collection path of a kind, optionally in a namespace ("" / undefined = all namespaces). */
export function collectionPath(t: TypeRef, namespace?: string): string {
  const info = resourceInfo(t);
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${apiPrefix(t.apiVersion)}${ns}/${info.plural}`;
}

export function objectPath(t: TypeRef, name: string, namespace?: string): string {
  return `${collectionPath(t, namespace)}/${encodeURIComponent(name)}`;
}

/** Identity of an object: "apiVersion/kind/namespace/name". */
export function objectKey(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class ApiError extends WeftError {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(status: number, body: unknown, method: string, path: string) {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { message?: string; reason?: string };
    super(status === 404 ? 'WEFT_E_NOT_FOUND' : status === 409 ? 'WEFT_E_CONFLICT' : status === 422 || status === 400 ? 'WEFT_E_INVALID_INPUT' : status === 403 ? 'WEFT_E_PERMISSION_DENIED' : 'WEFT_E_UNAVAILABLE', b.message ?? `HTTP ${status}`, { status, method, path, reason: b.reason });
    this.status = status;
    this.reason = b.reason ?? '';
    this.body = body;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}
export function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.status === 409;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

export interface RestStats {
  reads: number;
  writes: number;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Minimal HTTPS client to the API server, with the kubeconfig's credentials. */
export class KubeRest {
  readonly server: URL;
  readonly stats: RestStats = { reads: 0, writes: 0 };
  private readonly kc: KubeConfig;
  private agent: https.Agent | http.Agent | undefined;
  private headers: Record<string, string> = {};
  private authAt = 0;
  private static readonly AUTH_REFRESH_MS = 60_000;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new WeftError('WEFT_E_INVALID_CONFIG', 'kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  private async auth(): Promise<void> {
    if (this.agent && Date.now() - this.authAt < KubeRest.AUTH_REFRESH_MS) return;
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    this.headers = headers;
    if (!this.agent) {
      this.agent =
        this.server.protocol === 'https:'
          ? new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key, ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}) })
          : new http.Agent({ keepAlive: true, maxSockets: 32 });
    }
    this.authAt = Date.now();
  }

  private buildUrl(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.server.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** One request; resolves the parsed JSON body, throws ApiError for status >= 400. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    await this.auth();
    if (WRITE_METHODS.has(method)) this.stats.writes++;
    else this.stats.reads++;
    const url = this.buildUrl(path, opts.query);
    const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const mod = url.protocol === 'https:' ? https : http;
    return await new Promise<T>((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...this.headers,
            Accept: 'application/json',
            ...(payload !== undefined ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
          timeout: opts.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              /* non-JSON body: keep text */
            }
            if ((res.statusCode ?? 500) >= 400) reject(new ApiError(res.statusCode ?? 500, body, method, path));
            else resolve(body as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new WeftError('WEFT_E_UNAVAILABLE', 'request timed out', { method, path })));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Opens a streaming GET (for watches). The caller owns the response and must destroy it. */
  async stream(path: string, query: RequestOptions['query'], signal: AbortSignal): Promise<http.IncomingMessage> {
    await this.auth();
    this.stats.reads++;
    const url = this.buildUrl(path, query);
    const mod = url.protocol === 'https:' ? https : http;
    return await new Promise((resolve, reject) => {
      const req = mod.request(url, { method: 'GET', agent: this.agent, headers: { ...this.headers, Accept: 'application/json' }, signal }, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = undefined;
            }
            reject(new ApiError(res.statusCode ?? 500, body, 'GET', path));
          });
          return;
        }
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** Typed helpers on top of KubeRest. */
export class KubeApplier {
  readonly rest: KubeRest;
  readonly fieldManager: string;

  constructor(rest: KubeRest, fieldManager: string) {
    this.rest = rest;
    this.fieldManager = fieldManager;
  }

  /** Server-side apply of a full desired object under this applier's fieldManager. */
  async apply<T extends KubeObject>(obj: KubeObject, opts: { force?: boolean; dryRun?: boolean } = {}): Promise<T> {
    const body: KubeObject = { ...obj, metadata: { ...obj.metadata } };
    delete body.metadata.resourceVersion;
    delete body.metadata.managedFields;
    return await this.rest.request<T>('PATCH', objectPath(obj, obj.metadata.name, obj.metadata.namespace), {
      body,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: this.fieldManager, force: opts.force ?? true, ...(opts.dryRun ? { dryRun: 'All' } : {}) },
    });
  }

  async get<T extends KubeObject>(t: TypeRef, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.rest.request<T>('GET', objectPath(t, name, namespace));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KubeObject>(t: TypeRef, opts: { namespace?: string; labelSelector?: string } = {}): Promise<ListResult<T>> {
    const res = await this.rest.request<{ items: T[]; metadata: { resourceVersion: string } }>('GET', collectionPath(t, opts.namespace), {
      query: { labelSelector: opts.labelSelector },
    });
    return { items: res.items.map((i) => ({ ...i, apiVersion: t.apiVersion, kind: t.kind })), resourceVersion: res.metadata.resourceVersion };
  }

  /** Deletes an object; a missing object is not an error. Returns true if a delete was sent and accepted. */
  async delete(t: TypeRef, name: string, namespace?: string, propagationPolicy: 'Foreground' | 'Background' | 'Orphan' = 'Background'): Promise<boolean> {
    try {
      await this.rest.request('DELETE', objectPath(t, name, namespace), { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy } });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** JSON merge patch of the /status subresource (status is written whole, once per reconcile). */
  async patchStatus<T extends KubeObject>(t: TypeRef, name: string, namespace: string | undefined, status: unknown): Promise<T> {
    return await this.rest.request<T>('PATCH', `${objectPath(t, name, namespace)}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: this.fieldManager },
    });
  }

  /** JSON merge patch of the main resource (finalizers, annotations). */
  async mergePatch<T extends KubeObject>(t: TypeRef, name: string, namespace: string | undefined, patch: unknown): Promise<T> {
    return await this.rest.request<T>('PATCH', objectPath(t, name, namespace), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: this.fieldManager },
    });
  }

  /**
   * Deletes every object of the given kinds that carries `labelSelector` but is not in
   * `desired` (keys from objectKey). Only objects selected by the ownership label are ever
   * considered: nothing is pruned by guess. Returns the keys deleted.
   */
  async pruneByLabel(kinds: readonly TypeRef[], labelSelector: string, desired: ReadonlySet<string>, live?: ReadonlyMap<string, readonly KubeObject[]>): Promise<string[]> {
    const deleted: string[] = [];
    for (const t of kinds) {
      const items = live?.get(`${t.apiVersion}/${t.kind}`) ?? (await this.list(t, { labelSelector })).items;
      for (const o of items) {
        const withType = { ...o, apiVersion: t.apiVersion, kind: t.kind };
        if (desired.has(objectKey(withType)) || o.metadata.deletionTimestamp) continue;
        if (await this.delete(t, o.metadata.name, o.metadata.namespace)) deleted.push(objectKey(withType));
      }
    }
    return deleted;
  }
}

// ---------------------------------------------------------------------------------------
// No-op detection: skip an apply when the live object already matches the desired one.

/** Annotation holding a hash of the last applied desired object. */
export const APPLIED_HASH_ANNOTATION = 'operator.weft.dev/applied-hash';

/**
 * True if every field set in `desired` has the same value in `live` (arrays compared
 * element-wise by position and length). Extra fields in `live` (defaults, status, other
 * managers) are ignored. Pure.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((d, i) => isSubset(d, live[i]));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    const l = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, l[k]));
  }
  // Numbers the server normalises to strings or vice versa (e.g. intstr) compare loosely.
  if ((typeof desired === 'number' && typeof live === 'string') || (typeof desired === 'string' && typeof live === 'number')) return String(desired) === String(live);
  return false;
}

/** Whether `live` needs an apply to become `desired` (hash annotation + field subset). */
export function needsApply(desired: KubeObject, live: KubeObject | undefined): boolean {
  if (!live) return true;
  if (live.metadata.deletionTimestamp) return true;
  const want = desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
  if (want !== undefined && live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== want) return true;
  const { metadata, ...rest } = desired;
  const { labels, annotations, ownerReferences } = metadata;
  return !isSubset({ ...rest, metadata: { labels, annotations, ownerReferences } }, live);
}
