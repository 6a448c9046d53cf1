// Versioned, consistency-checked snapshots of one node's Envoy resources. Resources are
// encoded when the snapshot is made; the framed bytes are reused for every response and
// every client that shares them.
import { createHash } from 'node:crypto';
import { WeftError } from '../errors/errors.js';
import {
  TYPE_URLS,
  encodeResource,
  frameAnyAsResponseResource,
  resourceName,
  type EnvoyResource,
} from '../envoy/index.js';

export interface SnapshotInput {
  clusters?: readonly EnvoyResource[];
  endpoints?: readonly EnvoyResource[];
  listeners?: readonly EnvoyResource[];
  routes?: readonly EnvoyResource[];
  secrets?: readonly EnvoyResource[];
  /** Istio NDS NameTable (at most one), for proxies that run the DNS proxy. */
  nameTables?: readonly EnvoyResource[];
}

export interface EncodedResource {
  name: string;
  /** The resource as built (for debug dumps and consistency checks). */
  resource: EnvoyResource;
  /** DiscoveryResponse field 2 (an Any) framed and ready to splice. */
  framed: Buffer;
}

export interface TypedResources {
  typeUrl: string;
  /** Content hash of this type's resources: unchanged resources keep their version. */
  version: string;
  byName: ReadonlyMap<string, EncodedResource>;
}

export interface Snapshot {
  /** Label for humans and debug output; per-type versions drive pushes. */
  label: string;
  types: ReadonlyMap<string, TypedResources>;
}

/**
 * Encodes resources once per object identity: translation shares resource objects between
 * nodes, so a cluster seen by 1,000 proxies is encoded once.
 */
export class ResourceEncoder {
  private readonly cache = new WeakMap<object, Buffer>();
  encoded = 0;

  frame(typeUrl: string, resource: EnvoyResource): Buffer {
    const hit = this.cache.get(resource);
    if (hit) return hit;
    const framed = frameAnyAsResponseResource(typeUrl, encodeResource(typeUrl, resource));
    this.cache.set(resource, framed);
    this.encoded++;
    return framed;
  }
}

const INPUT_KEYS: ReadonlyArray<[keyof SnapshotInput, string]> = [
  ['clusters', TYPE_URLS.cluster],
  ['endpoints', TYPE_URLS.endpoint],
  ['listeners', TYPE_URLS.listener],
  ['routes', TYPE_URLS.route],
  ['secrets', TYPE_URLS.secret],
  ['nameTables', TYPE_URLS.nameTable],
];

/** Builds a snapshot; throws WEFT_E_INVALID_CONFIG when it is not self-consistent. */
export function makeSnapshot(label: string, input: SnapshotInput, encoder: ResourceEncoder = new ResourceEncoder()): Snapshot {
  const problems = checkConsistency(input);
  if (problems.length > 0) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'snapshot is not consistent', { label, problems });
  }
  const types = new Map<string, TypedResources>();
  for (const [key, typeUrl] of INPUT_KEYS) {
    const byName = new Map<string, EncodedResource>();
    for (const resource of input[key] ?? []) {
      const name = resourceName(typeUrl, resource);
      if (byName.has(name)) throw new WeftError('WEFT_E_INVALID_CONFIG', 'duplicate resource name in snapshot', { label, typeUrl, name });
      byName.set(name, { name, resource, framed: encoder.frame(typeUrl, resource) });
    }
    types.set(typeUrl, { typeUrl, version: hashVersion(byName), byName });
  }
  return { label, types };
}

function hashVersion(byName: ReadonlyMap<string, EncodedResource>): string {
  const h = createHash('sha256');
  for (const name of [...byName.keys()].sort()) h.update(byName.get(name)!.framed);
  return h.digest('hex').slice(0, 16);
}

// --- consistency ------------------------------------------------------------------------

/** Collects referenced names by walking the plain resource objects. */
interface References {
  clusters: Set<string>;
  routes: Set<string>;
}

function walk(value: unknown, refs: References, parentKey: string): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, refs, parentKey);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const o = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') {
      // RouteAction.cluster, WeightedCluster.clusters[].name, TcpProxy.cluster,
      // RequestMirrorPolicy.cluster, WeightedCluster entries in TcpProxy.
      if (k === 'cluster' && parentKey !== 'metadata') refs.clusters.add(v);
      if (k === 'name' && (parentKey === 'clusters' || parentKey === 'weighted_clusters')) refs.clusters.add(v);
      if (k === 'route_config_name') refs.routes.add(v);
    } else {
      walk(v, refs, k);
    }
  }
}

/** Every problem that would make a proxy reject or half-apply the snapshot. */
export function checkConsistency(input: SnapshotInput): string[] {
  const problems: string[] = [];
  const clusterNames = new Set((input.clusters ?? []).map((c) => String(c['name'])));
  const routeNames = new Set((input.routes ?? []).map((r) => String(r['name'])));
  const endpointNames = new Set((input.endpoints ?? []).map((e) => String(e['cluster_name'])));

  for (const c of input.clusters ?? []) {
    if (c['type'] === 'EDS') {
      const eds = c['eds_cluster_config'] as Record<string, unknown> | undefined;
      const serviceName = typeof eds?.['service_name'] === 'string' && eds['service_name'] !== '' ? String(eds['service_name']) : String(c['name']);
      if (!endpointNames.has(serviceName)) problems.push(`cluster ${String(c['name'])}: no ClusterLoadAssignment named ${serviceName}`);
    }
  }
  const listenerRefs: References = { clusters: new Set(), routes: new Set() };
  walk(input.listeners ?? [], listenerRefs, '');
  for (const r of listenerRefs.routes) if (!routeNames.has(r)) problems.push(`listener references missing route configuration ${r}`);
  for (const c of listenerRefs.clusters) if (!clusterNames.has(c)) problems.push(`listener references missing cluster ${c}`);
  const routeRefs: References = { clusters: new Set(), routes: new Set() };
  walk(input.routes ?? [], routeRefs, '');
  for (const c of routeRefs.clusters) if (!clusterNames.has(c)) problems.push(`route references missing cluster ${c}`);
  return problems;
}
