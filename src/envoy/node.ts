// Istio-style node ids: `<type>~<ip>~<podName>.<namespace>~<namespace>.svc.<domain>`.
// The control plane scopes config by them; the injector writes them (WEFT_NODE_ID).
import { invalidInput } from '../errors/errors.js';

export type ProxyType = 'sidecar' | 'router';

export interface ProxyNodeId {
  type: ProxyType;
  ip: string;
  podName: string;
  namespace: string;
  /** Cluster DNS domain, e.g. "cluster.local". */
  domain: string;
}

export function formatNodeId(n: ProxyNodeId): string {
  return `${n.type}~${n.ip}~${n.podName}.${n.namespace}~${n.namespace}.svc.${n.domain}`;
}

/** Parses a node id; undefined when it is not Istio-style (e.g. a proxyless gRPC client). */
export function tryParseNodeId(id: string): ProxyNodeId | undefined {
  const parts = id.split('~');
  if (parts.length !== 4) return undefined;
  const [type, ip, podDotNs, dnsDomain] = parts as [string, string, string, string];
  if (type !== 'sidecar' && type !== 'router') return undefined;
  if (ip === '') return undefined;
  const dot = podDotNs.lastIndexOf('.');
  if (dot <= 0 || dot === podDotNs.length - 1) return undefined;
  const podName = podDotNs.slice(0, dot);
  const namespace = podDotNs.slice(dot + 1);
  const prefix = `${namespace}.svc.`;
  if (!dnsDomain.startsWith(prefix) || dnsDomain.length === prefix.length) return undefined;
  return { type, ip, podName, namespace, domain: dnsDomain.slice(prefix.length) };
}

export function parseNodeId(id: string): ProxyNodeId {
  const n = tryParseNodeId(id);
  if (!n) throw invalidInput('node id is not of the form <sidecar|router>~<ip>~<pod>.<ns>~<ns>.svc.<domain>', { nodeId: id });
  return n;
}
