// Istio's NDS: the name table a sidecar's DNS proxy answers from. Pure: model + proxy -> one
// NameTable resource (hostname -> ips, registry, shortname, namespace, alt_hosts).
//
// What is in it, as istiod builds it:
// - Kubernetes services visible to the proxy (same exportTo scoping as its clusters): the
//   ClusterIPs, or for headless services the ready endpoint (pod) IPs. alt_hosts carries the
//   shorter names a pod's search path produces: `<name>.<ns>`, `<name>.<ns>.svc`, and the bare
//   `<name>` when the service is in the proxy's own namespace.
// - ServiceEntry hosts that have addresses (plain IPs; CIDR ranges are not names). Wildcard
//   hosts are left out. Weft does not auto-allocate VIPs, so address-less entries are absent.
// - ExternalName services appear with no IPs: the DNS proxy forwards those names upstream so
//   the cluster DNS answers with its CNAME.
import { isIP } from 'node:net';
import type { EnvoyResource } from '../../envoy/index.js';
import type { MeshModel, ProxyContext, Service } from '../model.js';
import { visibleServices } from './scope.js';

export const REGISTRY_KUBERNETES = 'Kubernetes';
export const REGISTRY_EXTERNAL = 'External';

export interface NameInfo {
  ips: string[];
  registry: string;
  shortname?: string;
  namespace?: string;
  alt_hosts?: string[];
}

function isKubernetesService(svc: Service, domain: string): boolean {
  return svc.hostname === `${svc.name}.${svc.namespace}.svc.${domain}`;
}

/** Unique IPs, IPv4 first then IPv6, each group in string order (stable golden output). */
function sortedIps(ips: Iterable<string>): string[] {
  const unique = [...new Set([...ips].filter((ip) => isIP(ip) !== 0))];
  return unique.sort((a, b) => isIP(a) - isIP(b) || a.localeCompare(b));
}

/** Ready endpoint addresses per hostname, indexed once per table (not once per headless service). */
function readyAddressesByHost(model: MeshModel): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of model.endpoints) {
    if (!e.healthy) continue;
    const list = out.get(e.hostname);
    if (list) list.push(e.address); else out.set(e.hostname, [e.address]);
  }
  return out;
}

function kubernetesEntry(svc: Service, proxy: ProxyContext, ready: () => Map<string, string[]>): NameInfo {
  // ExternalName: no IPs here; kube-dns owns the CNAME.
  const ips = svc.resolution === 'DNS' ? [] : svc.headless && svc.addresses.length === 0 ? sortedIps(ready().get(svc.hostname) ?? []) : sortedIps(svc.addresses);
  const altHosts = [`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`];
  if (svc.namespace === proxy.namespace) altHosts.unshift(svc.name);
  return { ips, registry: REGISTRY_KUBERNETES, shortname: svc.name, namespace: svc.namespace, alt_hosts: altHosts };
}

function externalEntry(svc: Service): NameInfo | undefined {
  if (svc.hostname.startsWith('*')) return undefined;
  const ips = sortedIps(svc.addresses);
  if (ips.length === 0) return undefined;
  return { ips, registry: REGISTRY_EXTERNAL, namespace: svc.namespace };
}

/** The proxy's NameTable resource (istio.networking.nds.v1.NameTable, plain snake_case). */
export function buildNameTable(model: MeshModel, proxy: ProxyContext): EnvoyResource {
  const table: Record<string, NameInfo> = {};
  let index: Map<string, string[]> | undefined;
  const ready = (): Map<string, string[]> => (index ??= readyAddressesByHost(model));
  for (const svc of visibleServices(model, proxy)) {
    const entry = isKubernetesService(svc, model.domain) ? kubernetesEntry(svc, proxy, ready) : externalEntry(svc);
    if (entry && !(svc.hostname in table)) table[svc.hostname] = entry;
  }
  return { table };
}
