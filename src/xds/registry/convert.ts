// Pure conversion: Kubernetes and Istio objects -> the control plane's MeshModel. No I/O, no
// clock. The informer plumbing (registry.ts) only collects objects and calls buildModel().
import type { V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type {
  AuthorizationPolicy,
  DestinationRule,
  Gateway,
  PeerAuthentication,
  RequestAuthentication,
  ServiceEntry,
  VirtualService,
  WorkloadEntry,
} from '../../api/istio/types.js';
import { detectProtocol, labelsMatch, type Endpoint, type Locality, type MeshModel, type OutboundTrafficPolicy, type Service, type ServicePort } from '../model.js';

/** Node labels that carry topology (Kubernetes well-known labels, plus Istio's sub-zone). */
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
/** EndpointSlices name their Service with this label. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Everything the registry watches, as plain lists (the informer caches). */
export interface RegistryState {
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  pods: readonly V1Pod[];
  nodes: readonly V1Node[];
  namespaces: readonly V1Namespace[];
  virtualServices: readonly VirtualService[];
  destinationRules: readonly DestinationRule[];
  gateways: readonly Gateway[];
  serviceEntries: readonly ServiceEntry[];
  peerAuthentications: readonly PeerAuthentication[];
  authorizationPolicies: readonly AuthorizationPolicy[];
  requestAuthentications: readonly RequestAuthentication[];
}

export function emptyRegistryState(): RegistryState {
  return {
    services: [],
    endpointSlices: [],
    pods: [],
    nodes: [],
    namespaces: [],
    virtualServices: [],
    destinationRules: [],
    gateways: [],
    serviceEntries: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    requestAuthentications: [],
  };
}

export interface ModelOptions {
  /** Cluster DNS domain. */
  domain: string;
  /** SPIFFE trust domain; defaults to the domain. */
  trustDomain?: string;
  /** Mesh root namespace (mesh-wide PeerAuthentication etc.). */
  rootNamespace: string;
  /** meshConfig.outboundTrafficPolicy.mode; absent = ALLOW_ANY. */
  outboundTrafficPolicy?: OutboundTrafficPolicy;
}

export function serviceHostname(name: string, namespace: string, domain: string): string {
  return `${name}.${namespace}.svc.${domain}`;
}

/** spiffe://<trust domain>/ns/<namespace>/sa/<service account>, Istio's workload identity. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The identity a pod's sidecar gets a certificate for. */
export function podIdentity(pod: V1Pod, trustDomain: string): string {
  return spiffeId(trustDomain, pod.metadata?.namespace ?? 'default', podServiceAccount(pod));
}

export function podServiceAccount(pod: V1Pod): string {
  return pod.spec?.serviceAccountName || 'default';
}

/** Service -> model service; undefined for services the mesh does not route (no TCP ports). */
export function serviceFromK8s(svc: V1Service, domain: string): Service | undefined {
  const name = svc.metadata?.name;
  const namespace = svc.metadata?.namespace ?? 'default';
  if (!name) return undefined;
  const spec = svc.spec ?? {};
  const ports: ServicePort[] = [];
  for (const p of spec.ports ?? []) {
    if ((p.protocol ?? 'TCP') !== 'TCP') continue; // UDP/SCTP are not proxied
    const sp: ServicePort = { name: p.name ?? '', port: p.port, protocol: detectProtocol(p.name, p.appProtocol) };
    // A named targetPort is resolved per endpoint (EndpointSlice ports carry the number).
    if (typeof p.targetPort === 'number' && p.targetPort !== p.port) sp.targetPort = p.targetPort;
    ports.push(sp);
  }
  if (ports.length === 0) return undefined;
  const out: Service = {
    hostname: serviceHostname(name, namespace, domain),
    name,
    namespace,
    addresses: [],
    ports,
  };
  if (spec.type === 'ExternalName' && spec.externalName) {
    // Routed by DNS to the external name; the host itself is the alias.
    out.resolution = 'DNS';
    out.external = true;
    return out;
  }
  const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
  out.addresses = ips;
  if (ips.length === 0) out.headless = true;
  const exportTo = svc.metadata?.annotations?.['networking.istio.io/exportTo'];
  if (exportTo) out.exportTo = exportTo.split(',').map((s) => s.trim()).filter(Boolean);
  if (svc.metadata?.labels && Object.keys(svc.metadata.labels).length > 0) out.labels = { ...svc.metadata.labels };
  return out;
}

/** Locality from a node's topology labels; the EndpointSlice's zone is the fallback. */
export function localityOf(nodeLabels: Record<string, string> | undefined, zoneHint?: string): Locality | undefined {
  const l: Locality = {};
  const region = nodeLabels?.[REGION_LABEL];
  const zone = nodeLabels?.[ZONE_LABEL] ?? zoneHint;
  const subZone = nodeLabels?.[SUBZONE_LABEL];
  if (region) l.region = region;
  if (zone) l.zone = zone;
  if (subZone) l.subZone = subZone;
  return Object.keys(l).length > 0 ? l : undefined;
}

/** Istio's `region/zone/subzone` locality string (ServiceEntry endpoints). */
export function parseLocality(s: string | undefined): Locality | undefined {
  if (!s) return undefined;
  const [region, zone, subZone] = s.split('/');
  const l: Locality = {};
  if (region) l.region = region;
  if (zone) l.zone = zone;
  if (subZone) l.subZone = subZone;
  return Object.keys(l).length > 0 ? l : undefined;
}

export interface Lookup {
  pods: ReadonlyMap<string, V1Pod>;
  nodes: ReadonlyMap<string, V1Node>;
}

function nsName(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export function makeLookup(state: Pick<RegistryState, 'pods' | 'nodes'>): Lookup {
  const pods = new Map<string, V1Pod>();
  for (const p of state.pods) pods.set(nsName(p.metadata?.namespace, p.metadata?.name), p);
  const nodes = new Map<string, V1Node>();
  for (const n of state.nodes) if (n.metadata?.name) nodes.set(n.metadata.name, n);
  return { pods, nodes };
}

/**
 * One EndpointSlice -> endpoints of its service. Health comes from the slice conditions
 * (ready, and not terminating); labels and the service account from the pod behind the
 * address; locality from the pod's node.
 */
export function endpointsFromSlice(slice: V1EndpointSlice, svc: Service, lookup: Lookup): Endpoint[] {
  if (slice.addressType === 'FQDN') return [];
  const namespace = slice.metadata?.namespace ?? svc.namespace;
  const out: Endpoint[] = [];
  for (const sp of slice.ports ?? []) {
    if ((sp.protocol ?? 'TCP') !== 'TCP' || sp.port === undefined) continue;
    const servicePort = svc.ports.find((p) => p.name === (sp.name ?? ''));
    if (!servicePort) continue;
    for (const ep of slice.endpoints ?? []) {
      const pod = ep.targetRef?.kind === 'Pod' ? lookup.pods.get(nsName(ep.targetRef.namespace ?? namespace, ep.targetRef.name)) : undefined;
      const nodeName = ep.nodeName ?? pod?.spec?.nodeName;
      const node = nodeName ? lookup.nodes.get(nodeName) : undefined;
      const healthy = ep.conditions?.ready !== false && ep.conditions?.terminating !== true;
      for (const address of ep.addresses) {
        const e: Endpoint = {
          hostname: svc.hostname,
          portName: servicePort.name,
          address,
          port: sp.port,
          labels: { ...(pod?.metadata?.labels ?? {}) },
          healthy,
          namespace,
        };
        const locality = localityOf(node?.metadata?.labels, ep.zone);
        if (locality) e.locality = locality;
        if (pod) e.serviceAccount = podServiceAccount(pod);
        if (ep.targetRef?.kind === 'Pod' && ep.targetRef.name) e.podName = ep.targetRef.name;
        out.push(e);
      }
    }
  }
  return out;
}

/**
 * Headless services: every endpoint that has a hostname (StatefulSet pods, or pods with
 * hostname + subdomain) is also reachable as <hostname>.<service>.<ns>.svc.<domain>. Each such
 * name becomes its own single-endpoint service, so `web-0.web` routes to exactly that pod.
 */
export function perPodServices(svc: Service, slices: readonly V1EndpointSlice[], endpoints: readonly Endpoint[], domain: string): { services: Service[]; endpoints: Endpoint[] } {
  if (!svc.headless) return { services: [], endpoints: [] };
  const hostnameByAddress = new Map<string, string>();
  for (const s of slices) for (const ep of s.endpoints ?? []) if (ep.hostname) for (const a of ep.addresses) hostnameByAddress.set(a, ep.hostname);
  const services = new Map<string, Service>();
  const out: Endpoint[] = [];
  for (const e of endpoints) {
    const podHost = hostnameByAddress.get(e.address);
    if (!podHost) continue;
    const name = `${podHost}.${svc.name}`;
    const hostname = serviceHostname(name, svc.namespace, domain);
    if (!services.has(hostname)) {
      services.set(hostname, { ...svc, hostname, name, addresses: [e.address], headless: true, ports: svc.ports.map((p) => ({ ...p })) });
    }
    out.push({ ...e, hostname });
  }
  return { services: [...services.values()], endpoints: out };
}

function serviceEntryResolution(r: ServiceEntry['spec']['resolution']): Service['resolution'] {
  switch (r) {
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      return 'DNS';
    case 'NONE':
      return 'PASSTHROUGH';
    default:
      return 'EDS';
  }
}

function workloadEntryEndpoints(host: string, port: ServicePort, we: WorkloadEntry, namespace: string): Endpoint | undefined {
  if (!we.address) return undefined;
  const e: Endpoint = {
    hostname: host,
    portName: port.name,
    address: we.address,
    port: we.ports?.[port.name] ?? port.targetPort ?? port.port,
    labels: { ...(we.labels ?? {}) },
    healthy: true,
    namespace,
  };
  const locality = parseLocality(we.locality);
  if (locality) e.locality = locality;
  if (we.weight !== undefined) e.weight = we.weight;
  if (we.serviceAccount) e.serviceAccount = we.serviceAccount;
  return e;
}

/**
 * ServiceEntry -> one service per host, with endpoints from `endpoints` (static addresses)
 * or from the pods its workloadSelector picks in the same namespace.
 */
export function fromServiceEntry(se: ServiceEntry, pods: readonly V1Pod[]): { services: Service[]; endpoints: Endpoint[] } {
  const namespace = se.metadata.namespace ?? 'default';
  const spec = se.spec ?? {};
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => {
    const sp: ServicePort = { name: p.name, port: p.number, protocol: detectProtocol(p.name, p.protocol) };
    if (p.targetPort !== undefined && p.targetPort !== p.number) sp.targetPort = p.targetPort;
    return sp;
  });
  const services: Service[] = [];
  const endpoints: Endpoint[] = [];
  const resolution = serviceEntryResolution(spec.resolution);
  for (const host of spec.hosts ?? []) {
    const svc: Service = {
      hostname: host,
      name: host,
      namespace,
      addresses: [...(spec.addresses ?? [])],
      ports,
      external: spec.location !== 'MESH_INTERNAL',
      resolution,
    };
    if (spec.exportTo) svc.exportTo = [...spec.exportTo];
    if (se.metadata.labels) svc.labels = { ...se.metadata.labels };
    services.push(svc);
    if (resolution !== 'EDS') continue;
    for (const port of ports) {
      for (const we of spec.endpoints ?? []) {
        const e = workloadEntryEndpoints(host, port, we, namespace);
        if (e) endpoints.push(e);
      }
      const selector = spec.workloadSelector?.labels;
      if (selector) {
        for (const pod of pods) {
          if (pod.metadata?.namespace !== namespace || !pod.status?.podIP) continue;
          if (!labelsMatch(selector, pod.metadata?.labels ?? {})) continue;
          endpoints.push({
            hostname: host,
            portName: port.name,
            address: pod.status.podIP,
            port: port.targetPort ?? port.port,
            labels: { ...(pod.metadata?.labels ?? {}) },
            healthy: isPodReady(pod),
            namespace,
            serviceAccount: podServiceAccount(pod),
            podName: pod.metadata?.name ?? '',
          });
        }
      }
    }
  }
  return { services, endpoints };
}

export function isPodReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function byNsName<T extends { metadata?: { namespace?: string; name?: string } }>(a: T, b: T): number {
  return nsName(a.metadata?.namespace, a.metadata?.name).localeCompare(nsName(b.metadata?.namespace, b.metadata?.name));
}

function isTerminatingNamespace(namespaces: readonly V1Namespace[]): (ns: string | undefined) => boolean {
  const gone = new Set(namespaces.filter((n) => n.status?.phase === 'Terminating' || n.metadata?.deletionTimestamp).map((n) => n.metadata?.name ?? ''));
  return (ns) => ns !== undefined && gone.has(ns);
}

function sortedConfig<T extends { metadata: { namespace?: string; name?: string } }>(xs: readonly T[], terminating: (ns: string | undefined) => boolean): T[] {
  return xs.filter((x) => !terminating(x.metadata.namespace)).sort(byNsName);
}

/** The whole model from the registry's caches. Deterministic: the same state gives the same model. */
export function buildModel(state: RegistryState, opts: ModelOptions): MeshModel {
  const domain = opts.domain;
  const terminating = isTerminatingNamespace(state.namespaces);
  const lookup = makeLookup(state);
  const slicesByService = new Map<string, V1EndpointSlice[]>();
  for (const s of state.endpointSlices) {
    const svcName = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) continue;
    const k = nsName(s.metadata?.namespace, svcName);
    const list = slicesByService.get(k) ?? [];
    list.push(s);
    slicesByService.set(k, list);
  }
  const services: Service[] = [];
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  for (const k8sSvc of [...state.services].sort(byNsName)) {
    if (terminating(k8sSvc.metadata?.namespace)) continue;
    const svc = serviceFromK8s(k8sSvc, domain);
    if (!svc) continue;
    services.push(svc);
    seen.add(svc.hostname);
    const slices = (slicesByService.get(nsName(svc.namespace, svc.name)) ?? []).sort(byNsName);
    const eps = slices.flatMap((s) => endpointsFromSlice(s, svc, lookup));
    endpoints.push(...eps);
    const perPod = perPodServices(svc, slices, eps, domain);
    for (const p of perPod.services) {
      if (seen.has(p.hostname)) continue;
      seen.add(p.hostname);
      services.push(p);
    }
    endpoints.push(...perPod.endpoints);
  }
  const k8sHosts = new Set(seen);
  const serviceEntries = sortedConfig(state.serviceEntries, terminating);
  for (const se of serviceEntries) {
    const r = fromServiceEntry(se, state.pods);
    for (const s of r.services) {
      // A Kubernetes Service wins over a ServiceEntry for the same host.
      if (seen.has(s.hostname)) continue;
      seen.add(s.hostname);
      services.push(s);
    }
    endpoints.push(...r.endpoints.filter((e) => !k8sHosts.has(e.hostname)));
  }
  return {
    domain,
    trustDomain: opts.trustDomain ?? domain,
    rootNamespace: opts.rootNamespace,
    ...(opts.outboundTrafficPolicy ? { outboundTrafficPolicy: opts.outboundTrafficPolicy } : {}),
    services,
    endpoints,
    virtualServices: sortedConfig(state.virtualServices, terminating),
    destinationRules: sortedConfig(state.destinationRules, terminating),
    gateways: sortedConfig(state.gateways, terminating),
    serviceEntries,
    peerAuthentications: sortedConfig(state.peerAuthentications, terminating),
    authorizationPolicies: sortedConfig(state.authorizationPolicies, terminating),
    requestAuthentications: sortedConfig(state.requestAuthentications, terminating),
  };
}
