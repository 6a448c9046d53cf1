// The control plane's internal model: what the registry builds from Kubernetes (and what
// tests build by hand). Translation reads only this; it never sees Kubernetes objects.
import type {
  AuthorizationPolicy,
  DestinationRule,
  Gateway,
  PeerAuthentication,
  RequestAuthentication,
  ServiceEntry,
  VirtualService,
} from '../api/istio/types.js';

export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'HTTPS' | 'TLS' | 'TCP' | 'UNKNOWN';

export interface ServicePort {
  name: string;
  port: number;
  /** Port the workload listens on; defaults to port. */
  targetPort?: number;
  protocol: Protocol;
}

export interface Service {
  /** Fully qualified host, e.g. reviews.default.svc.cluster.local. */
  hostname: string;
  name: string;
  namespace: string;
  /** ClusterIP(s) or ServiceEntry addresses; empty for headless. */
  addresses: string[];
  ports: ServicePort[];
  headless?: boolean;
  /** MESH_EXTERNAL ServiceEntries get no mTLS by default. */
  external?: boolean;
  /** DNS resolution (ServiceEntry resolution: DNS) -> STRICT_DNS cluster. */
  resolution?: 'EDS' | 'DNS' | 'PASSTHROUGH';
  exportTo?: string[];
  labels?: Record<string, string>;
}

export interface Locality {
  region?: string;
  zone?: string;
  subZone?: string;
}

export interface Endpoint {
  /** Service hostname this endpoint belongs to. */
  hostname: string;
  /** Service port name this endpoint serves (matches ServicePort.name). */
  portName: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  locality?: Locality;
  healthy: boolean;
  serviceAccount?: string;
  namespace?: string;
  podName?: string;
  weight?: number;
}

export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';
export const OUTBOUND_TRAFFIC_POLICIES: readonly OutboundTrafficPolicy[] = ['ALLOW_ANY', 'REGISTRY_ONLY'];

export interface MeshModel {
  domain: string;
  trustDomain: string;
  /** Mesh root namespace: PeerAuthentication there is mesh-wide. */
  rootNamespace: string;
  /**
   * Istio's meshConfig.outboundTrafficPolicy.mode: ALLOW_ANY passes traffic to unknown
   * destinations through (PassthroughCluster); REGISTRY_ONLY blocks it (BlackHoleCluster, HTTP 502).
   * Absent = ALLOW_ANY, Istio's default.
   */
  outboundTrafficPolicy?: OutboundTrafficPolicy;
  services: Service[];
  endpoints: Endpoint[];
  virtualServices: VirtualService[];
  destinationRules: DestinationRule[];
  gateways: Gateway[];
  serviceEntries: ServiceEntry[];
  peerAuthentications: PeerAuthentication[];
  authorizationPolicies: AuthorizationPolicy[];
  requestAuthentications: RequestAuthentication[];
}

export function emptyModel(domain = 'cluster.local'): MeshModel {
  return {
    domain,
    trustDomain: domain,
    rootNamespace: 'weft-system',
    services: [],
    endpoints: [],
    virtualServices: [],
    destinationRules: [],
    gateways: [],
    serviceEntries: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    requestAuthentications: [],
  };
}

export type ProxyFlavour = 'sidecar' | 'gateway' | 'proxyless';

/** Who the config is for. */
export interface ProxyContext {
  flavour: ProxyFlavour;
  namespace: string;
  labels: Record<string, string>;
  ip?: string;
  serviceAccount?: string;
  /** The proxy's own locality (node.locality, else its pod's endpoint): locality LB is relative to it. */
  locality?: Locality;
}

/**
 * Protocol from a port name (`http`, `http-web`, `grpc-api`, ...) or appProtocol, the way
 * Istio detects it. appProtocol wins when set.
 */
export function detectProtocol(portName: string | undefined, appProtocol?: string): Protocol {
  const fromAppProtocol = appProtocol ? protocolFromToken(appProtocol.toLowerCase()) : undefined;
  if (fromAppProtocol && fromAppProtocol !== 'UNKNOWN') return fromAppProtocol;
  if (!portName) return 'UNKNOWN';
  const token = portName.toLowerCase().split('-')[0] ?? '';
  return protocolFromToken(token);
}

function protocolFromToken(t: string): Protocol {
  switch (t) {
    case 'http':
    case 'http1':
    case 'kubernetes.io/ws':
    case 'kubernetes.io/wss':
      return 'HTTP';
    case 'http2':
    case 'h2c':
    case 'kubernetes.io/h2c':
      return 'HTTP2';
    case 'grpc':
    case 'grpc-web':
      return 'GRPC';
    case 'https':
      return 'HTTPS';
    case 'tls':
      return 'TLS';
    case 'tcp':
    case 'mongo':
    case 'mysql':
    case 'redis':
      return 'TCP';
    default:
      return 'UNKNOWN';
  }
}

export function isHttpProtocol(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC';
}

export { resolveHost } from '../api/istio/hosts.js';

export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Istio's cluster naming: outbound|<port>|<subset>|<host>. */
export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}
