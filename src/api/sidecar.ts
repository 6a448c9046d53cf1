// The contract between the injector (which writes these into the pod) and the proxy
// (which reads them at bootstrap). Port numbers and the proxy UID follow Istio's, so
// users' existing exclusions and firewall rules keep their meaning.

export const PROXY_UID = 1337;
export const PROXY_GID = 1337;

export const PROXY_PORTS = Object.freeze({
  admin: 15000,
  outbound: 15001, // iptables REDIRECT target for outbound capture
  inbound: 15006, // iptables REDIRECT target for inbound capture
  health: 15021, // readiness of the proxy itself; also serves rewritten app probes
  dns: 15053,
  metrics: 15090,
});

/** Environment variables the injector sets on the proxy container. */
export const PROXY_ENV = Object.freeze({
  nodeId: 'WEFT_NODE_ID',
  podName: 'WEFT_POD_NAME',
  podNamespace: 'WEFT_POD_NAMESPACE',
  podIp: 'WEFT_POD_IP',
  serviceAccount: 'WEFT_SERVICE_ACCOUNT',
  revision: 'WEFT_REVISION',
  xdsAddress: 'WEFT_XDS_ADDRESS', // host:port of the control plane's ADS server
  caAddress: 'WEFT_CA_ADDRESS', // host:port of the CA's gRPC service
  trustDomain: 'WEFT_TRUST_DOMAIN',
  logLevel: 'WEFT_LOG_LEVEL',
  appProbes: 'WEFT_APP_PROBES', // JSON of the original probes, for probe rewriting
  holdApplication: 'WEFT_HOLD_APPLICATION',
  dnsCapture: 'WEFT_DNS_CAPTURE', // "true": run the DNS proxy on PROXY_PORTS.dns (iptables sends port 53 there)
  dnsUpstreams: 'WEFT_DNS_UPSTREAMS', // optional ip[:port],... ; default: nameservers of /etc/resolv.conf
  dnsResolvConf: 'WEFT_DNS_RESOLV_CONF', // optional path of the resolv.conf to read (default /etc/resolv.conf)
  clusterDomain: 'WEFT_CLUSTER_DOMAIN', // optional; default cluster.local
  locality: 'WEFT_LOCALITY', // optional "region/zone/subzone", sent as node.locality (else the control plane uses the pod's node)
  tracingSampling: 'WEFT_TRACING_SAMPLING', // percent of new traces sampled, 0-100 (MeshConfig telemetry.tracing.samplingPercent)
  tracingEndpoint: 'WEFT_TRACING_ENDPOINT', // collector host:port; empty = spans are not exported
  tracingProtocol: 'WEFT_TRACING_PROTOCOL', // otlp | zipkin
  accessLog: 'WEFT_ACCESS_LOG', // "true": one JSON line per request on stdout (MeshConfig telemetry.accessLogs)
});

/** Mount paths inside the proxy container. */
export const PROXY_PATHS = Object.freeze({
  caTokenDir: '/var/run/secrets/tokens',
  caTokenFile: '/var/run/secrets/tokens/weft-ca-token', // projected SA token, audience CA_TOKEN_AUDIENCE
  trustBundleDir: '/var/run/secrets/weft/trust',
  trustBundleFile: '/var/run/secrets/weft/trust/root-cert.pem', // from ConfigMap TRUST_BUNDLE_CONFIGMAP
});

export const CA_TOKEN_AUDIENCE = 'weft-ca';
export const TRUST_BUNDLE_CONFIGMAP = 'weft-ca-root-cert';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
