// Which config a connecting xDS client gets. Pure: node (id + metadata) and the pod behind it
// -> a ProxyContext, plus a key that groups nodes whose config is identical, so the control
// plane translates once per group rather than once per proxy.
import type { V1Pod } from '@kubernetes/client-node';
import type { EnvoyNode } from '../../envoy/index.js';
import type { Locality, MeshModel, ProxyContext, ProxyFlavour } from '../model.js';
import { podServiceAccount } from './convert.js';

export interface NodeInfo {
  flavour: ProxyFlavour;
  namespace: string;
  podName?: string;
  ip?: string;
  /** Labels the node declared in its metadata (Istio's LABELS). */
  labels?: Record<string, string>;
  /** node.locality, when the proxy declares one. */
  locality?: Locality;
}

/** A google.protobuf.Struct as decoded (fields + kind oneof) or a plain JSON object. */
function structToPlain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if ('fields' in o && typeof o['fields'] === 'object' && o['fields'] !== null) {
    return Object.fromEntries(Object.entries(o['fields'] as Record<string, unknown>).map(([k, fv]) => [k, valueToPlain(fv)]));
  }
  return o;
}

function valueToPlain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  for (const k of ['stringValue', 'string_value', 'numberValue', 'number_value', 'boolValue', 'bool_value']) if (k in o) return o[k];
  if ('structValue' in o || 'struct_value' in o) return structToPlain(o['structValue'] ?? o['struct_value']);
  if ('listValue' in o || 'list_value' in o) {
    const l = (o['listValue'] ?? o['list_value']) as { values?: unknown[] };
    return (l.values ?? []).map(valueToPlain);
  }
  if ('nullValue' in o || 'null_value' in o) return null;
  return structToPlain(o);
}

/** Node metadata as a plain object (Struct decoded). */
export function nodeMetadata(node: EnvoyNode): Record<string, unknown> {
  const m = structToPlain(node.metadata);
  return m && typeof m === 'object' ? (m as Record<string, unknown>) : {};
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'string') out[k] = x;
  return out;
}

/**
 * Node id `<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>`: sidecar -> sidecar, router -> gateway,
 * anything else (e.g. `proxyless~...` or a plain id) -> proxyless gRPC. Metadata NAMESPACE,
 * LABELS and POD_NAME fill in what the id does not say.
 */
export function nodeInfo(node: EnvoyNode): NodeInfo {
  const id = node.id ?? '';
  const md = nodeMetadata(node);
  const parts = id.split('~');
  let flavour: ProxyFlavour = 'proxyless';
  let namespace: string | undefined;
  let podName: string | undefined;
  let ip: string | undefined;
  if (parts.length === 4) {
    const [type, addr, podDotNs] = parts as [string, string, string, string];
    flavour = type === 'sidecar' ? 'sidecar' : type === 'router' ? 'gateway' : 'proxyless';
    const dot = podDotNs.lastIndexOf('.');
    if (dot > 0) {
      podName = podDotNs.slice(0, dot);
      namespace = podDotNs.slice(dot + 1);
    }
    if (addr) ip = addr;
  }
  if (typeof md['NAMESPACE'] === 'string') namespace = md['NAMESPACE'];
  if (typeof md['POD_NAME'] === 'string') podName = md['POD_NAME'];
  const info: NodeInfo = { flavour, namespace: namespace || 'default' };
  if (podName) info.podName = podName;
  if (ip) info.ip = ip;
  const labels = stringRecord(md['LABELS']);
  if (labels) info.labels = labels;
  const l = node.locality;
  if (l && (l.region || l.zone || l.sub_zone)) {
    info.locality = { ...(l.region ? { region: l.region } : {}), ...(l.zone ? { zone: l.zone } : {}), ...(l.sub_zone ? { subZone: l.sub_zone } : {}) };
  }
  return info;
}

/** The ProxyContext for a node; the pod (when known) supplies labels, IP and service account. */
export function proxyContextFor(info: NodeInfo, pod: V1Pod | undefined): ProxyContext {
  const ctx: ProxyContext = { flavour: info.flavour, namespace: info.namespace, labels: { ...(pod?.metadata?.labels ?? {}), ...(info.labels ?? {}) } };
  const ip = pod?.status?.podIP ?? info.ip;
  if (ip) ctx.ip = ip;
  if (pod) ctx.serviceAccount = podServiceAccount(pod);
  if (info.locality) ctx.locality = info.locality;
  return ctx;
}

/**
 * Nodes with the same key get the same resources. Translation reads the flavour, namespace,
 * labels and service account, and the IP only to find the proxy's own inbound endpoints; so
 * the IP is part of the key only when it is an endpoint in the model.
 */
export function translationKey(ctx: ProxyContext, endpointAddresses: ReadonlySet<string>): string {
  const labels = Object.keys(ctx.labels)
    .sort()
    .map((k) => `${k}=${ctx.labels[k]}`)
    .join(',');
  const ip = ctx.ip && endpointAddresses.has(ctx.ip) ? ctx.ip : '';
  const locality = ctx.locality ? `|${ctx.locality.region ?? ''}/${ctx.locality.zone ?? ''}/${ctx.locality.subZone ?? ''}` : '';
  return `${ctx.flavour}|${ctx.namespace}|${labels}|${ctx.serviceAccount ?? ''}|${ip}${locality}`;
}

export function endpointAddressSet(model: MeshModel): Set<string> {
  return new Set(model.endpoints.map((e) => e.address));
}

/** Locality of each endpoint address (a proxy without node.locality takes its pod's). */
export function endpointLocalities(model: MeshModel): Map<string, Locality> {
  const out = new Map<string, Locality>();
  for (const e of model.endpoints) if (e.locality && !out.has(e.address)) out.set(e.address, e.locality);
  return out;
}
