// Proxy bootstrap from the environment the injector writes (src/api/sidecar.ts). Pure: the
// caller passes the env; every missing or malformed value is a specific INVALID_CONFIG error.
// WEFT_DNS_CAPTURE=true (set by the injector with captureDns) turns on the sidecar's DNS proxy.
import { DEFAULT_TRUST_DOMAIN, PROXY_ENV, PROXY_PATHS, PROXY_PORTS } from '../api/sidecar.js';
import { WeftError } from '../errors/errors.js';
import { formatNodeId, type ProxyType } from '../envoy/node.js';
import { parseAppProbes, type AppProbes } from './app-probes.js';
import { parseUpstreams, type Upstream } from './dns/resolv-conf.js';

export interface ProxyBootstrap {
  mode: ProxyType;
  nodeId: string;
  podName: string;
  namespace: string;
  podIp: string;
  serviceAccount: string;
  xdsAddress: string;
  caAddress?: string;
  trustDomain: string;
  logLevel: string;
  caTokenFile: string;
  trustBundleFile: string;
  ports: { admin: number; health: number };
  drainMs: number;
  /** Original app probes the health port performs on the kubelet's behalf. */
  appProbes: AppProbes;
  /** The DNS proxy; undefined = off (WEFT_DNS_CAPTURE is not "true"). */
  dns?: DnsBootstrap;
  /** node.locality for the control plane (locality LB); absent = the control plane looks up the pod. */
  locality?: { region: string; zone: string; subZone: string };
  /** MeshConfig telemetry.tracing; endpoint '' = tracing off. */
  tracing: { samplingPercent: number; endpoint: string; protocol: 'otlp' | 'zipkin' };
  /** JSON access log lines on stdout (MeshConfig telemetry.accessLogs). */
  accessLog: boolean;
}

export interface DnsBootstrap {
  /** Listen address: loopback, where iptables' REDIRECT delivers the app's queries. */
  host: string;
  port: number;
  /** resolv.conf whose nameservers are the upstreams and whose search list is recognised. */
  resolvConfPath: string;
  /** Explicit upstreams (WEFT_DNS_UPSTREAMS) instead of resolv.conf's nameservers. */
  upstreams?: Upstream[];
  clusterDomain: string;
  /** Per-upstream forward timeout (default 2 s). */
  forwardTimeoutMs?: number;
}

function dnsFromEnv(env: Record<string, string | undefined>): DnsBootstrap | undefined {
  const flag = env[PROXY_ENV.dnsCapture];
  if (flag === undefined || flag === '' || flag === 'false') return undefined;
  if (flag !== 'true') throw new WeftError('WEFT_E_INVALID_CONFIG', 'expected true or false', { variable: PROXY_ENV.dnsCapture, value: flag });
  const upstreams = env[PROXY_ENV.dnsUpstreams];
  return {
    host: '127.0.0.1',
    port: PROXY_PORTS.dns,
    resolvConfPath: env[PROXY_ENV.dnsResolvConf] || '/etc/resolv.conf',
    ...(upstreams ? { upstreams: parseUpstreams(upstreams) } : {}),
    clusterDomain: env[PROXY_ENV.clusterDomain] || 'cluster.local',
  };
}

/** Envoy/Istio default: 1% of new traces. */
export const DEFAULT_SAMPLING_PERCENT = 1;

function tracing(env: Record<string, string | undefined>): ProxyBootstrap['tracing'] {
  const endpoint = env[PROXY_ENV.tracingEndpoint] ?? '';
  if (endpoint) hostPort(endpoint, PROXY_ENV.tracingEndpoint);
  const rawPct = env[PROXY_ENV.tracingSampling];
  const samplingPercent = rawPct === undefined || rawPct === '' ? DEFAULT_SAMPLING_PERCENT : Number(rawPct);
  if (!Number.isFinite(samplingPercent) || samplingPercent < 0 || samplingPercent > 100) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'tracing sampling must be a percentage in [0, 100]', { variable: PROXY_ENV.tracingSampling, value: rawPct });
  }
  const protocol = env[PROXY_ENV.tracingProtocol] || 'otlp';
  if (protocol !== 'otlp' && protocol !== 'zipkin') {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'tracing protocol must be otlp or zipkin', { variable: PROXY_ENV.tracingProtocol, value: protocol });
  }
  return { samplingPercent, endpoint, protocol };
}

function locality(v: string | undefined): ProxyBootstrap['locality'] {
  if (!v) return undefined;
  const parts = v.split('/');
  if (parts.length > 3 || !parts[0] || parts.some((p) => /\s/.test(p))) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'locality must be region[/zone[/subzone]]', { variable: PROXY_ENV.locality, value: v });
  }
  return { region: parts[0], zone: parts[1] ?? '', subZone: parts[2] ?? '' };
}

function need(env: Record<string, string | undefined>, name: string): string {
  const v = env[name];
  if (!v) throw new WeftError('WEFT_E_INVALID_CONFIG', 'required proxy environment variable is missing', { variable: name });
  return v;
}

function hostPort(v: string, name: string): string {
  if (!/^[^\s:]+:\d{1,5}$/.test(v) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(v)) {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'expected host:port', { variable: name, value: v });
  }
  return v;
}

export function bootstrapFromEnv(env: Record<string, string | undefined>, mode: ProxyType): ProxyBootstrap {
  const namespace = need(env, PROXY_ENV.podNamespace);
  const podName = need(env, PROXY_ENV.podName);
  const podIp = env[PROXY_ENV.podIp] ?? '127.0.0.1';
  const trustDomain = env[PROXY_ENV.trustDomain] || DEFAULT_TRUST_DOMAIN;
  const caAddress = env[PROXY_ENV.caAddress];
  const dns = mode === 'sidecar' ? dnsFromEnv(env) : undefined;
  return {
    mode,
    nodeId: env[PROXY_ENV.nodeId] || formatNodeId({ type: mode, ip: podIp, podName, namespace, domain: trustDomain }),
    podName, namespace, podIp,
    serviceAccount: env[PROXY_ENV.serviceAccount] || 'default',
    xdsAddress: hostPort(need(env, PROXY_ENV.xdsAddress), PROXY_ENV.xdsAddress),
    ...(caAddress ? { caAddress: hostPort(caAddress, PROXY_ENV.caAddress) } : {}),
    trustDomain,
    logLevel: env[PROXY_ENV.logLevel] || 'info',
    caTokenFile: PROXY_PATHS.caTokenFile,
    trustBundleFile: PROXY_PATHS.trustBundleFile,
    ports: { admin: PROXY_PORTS.admin, health: PROXY_PORTS.health },
    drainMs: 5000,
    appProbes: parseAppProbes(env[PROXY_ENV.appProbes]),
    ...(dns ? { dns } : {}),
    ...(env[PROXY_ENV.locality] ? { locality: locality(env[PROXY_ENV.locality]) } : {}),
    tracing: tracing(env),
    accessLog: flag(env, PROXY_ENV.accessLog),
  };
}

/** A boolean env variable: unset or empty = false; anything but true/false is a clear error. */
function flag(env: Record<string, string | undefined>, name: string): boolean {
  const v = env[name];
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new WeftError('WEFT_E_INVALID_CONFIG', `${name} must be true or false`, { variable: name, value: v });
}
