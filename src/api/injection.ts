// The injector's contract: the InjectionConfig the operator builds from MeshConfig, the
// per-pod override annotations, and the flags of the iptables init container
// (`weft proxy iptables ...`). The proxy parses those flags with parseIptablesArgs, so the
// injector and the proxy cannot drift apart. Imports nothing but other api modules.
import { PROXY_GID, PROXY_PORTS, PROXY_UID } from './sidecar.js';

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface ProxyResources {
  requests?: ResourceList;
  limits?: ResourceList;
}

export type ProxyLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'off';
export const PROXY_LOG_LEVELS: readonly ProxyLogLevel[] = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'off']);

/** Everything injectPod needs; built by the operator from MeshConfig (one per revision). */
export interface InjectionConfig {
  /** Image registry and repository prefix, e.g. "ghcr.io/weft". The image is `<hub>/weft:<version>`. */
  hub: string;
  /** Weft version; the proxy image tag and the version recorded in the status annotation. */
  version: string;
  /** Control-plane revision this config belongs to, e.g. "default" or "1-2-0". */
  revision: string;
  /** host:port of the control plane's ADS server. */
  xdsAddress: string;
  /** host:port of the CA's gRPC service. */
  caAddress: string;
  trustDomain: string;
  /** Default proxy resources; per-pod annotations override single values. */
  proxyResources: ProxyResources;
  /** Kubernetes native sidecars (initContainer with restartPolicy Always); false = classic container. */
  nativeSidecars: boolean;
  logLevel: ProxyLogLevel;
  /** Classic sidecars only: start the app containers after the proxy is ready. */
  holdApplicationUntilProxyStarts: boolean;
  /** Rewrite kubelet probes to go through the proxy's health port. */
  rewriteAppProbes: boolean;
  /** Outbound destinations never captured, mesh-wide (e.g. the API server's address). */
  excludeOutboundCidrs: string[];
  excludeOutboundPorts: number[];
  excludeInboundPorts: number[];
  /** Capture DNS (UDP/TCP 53) to the proxy's DNS port. */
  captureDns: boolean;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Seconds the proxy keeps draining connections after SIGTERM (classic preStop). */
  drainDurationSeconds: number;
  /** Lifetime of the projected token for the CA. */
  caTokenExpirationSeconds: number;
  /** MeshConfig telemetry.tracing; absent (older ConfigMaps) or no endpoint = tracing off in the proxy. */
  tracing?: { samplingPercent: number; endpoint: string; protocol: 'otlp' | 'zipkin' };
  /** MeshConfig telemetry.accessLogs; absent = off. */
  accessLogs?: boolean;
}

export function defaultInjectionConfig(overrides: Partial<InjectionConfig> = {}): InjectionConfig {
  return {
    hub: 'ghcr.io/weft',
    version: '0.1.0',
    revision: 'default',
    xdsAddress: 'weft-controlplane.weft-system.svc:15010',
    caAddress: 'weft-controlplane.weft-system.svc:15012',
    trustDomain: 'cluster.local',
    proxyResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
    nativeSidecars: true,
    logLevel: 'info',
    holdApplicationUntilProxyStarts: true,
    rewriteAppProbes: true,
    excludeOutboundCidrs: [],
    excludeOutboundPorts: [],
    excludeInboundPorts: [],
    captureDns: false,
    imagePullPolicy: 'IfNotPresent',
    drainDurationSeconds: 5,
    caTokenExpirationSeconds: 43200,
    ...overrides,
  };
}

export function proxyImage(cfg: Pick<InjectionConfig, 'hub' | 'version'>): string {
  return `${cfg.hub.replace(/\/+$/, '')}/weft:${cfg.version}`;
}

/** Container, volume and env names the injector adds. */
export const PROXY_CONTAINER_NAME = 'weft-proxy';
export const INIT_CONTAINER_NAME = 'weft-init';
export const INJECTED_VOLUMES = Object.freeze({
  caToken: 'weft-ca-token',
  trustBundle: 'weft-trust-bundle',
  podInfo: 'weft-podinfo',
  data: 'weft-data',
});
export const PROXY_DATA_DIR = '/var/lib/weft';
export const PROXY_PODINFO_DIR = '/etc/weft/pod';
/** Env the injector sets beyond the shared PROXY_ENV contract. */
export const INJECTION_ENV = Object.freeze({
  /** JSON of the app's own prometheus.io/* annotations, so the proxy can merge app metrics. */
  appPrometheus: 'WEFT_APP_PROMETHEUS',
  /** Seconds to drain on shutdown. */
  drainDuration: 'WEFT_DRAIN_DURATION_SECONDS',
});
/** Path prefix on the health port that serves rewritten app probes: /app-health/<container>/<kind>. */
export const APP_PROBE_PATH_PREFIX = '/app-health/';
export const PROXY_READY_PATH = '/healthz/ready';

/** Classic sidecar hooks (the proxy implements these subcommands). */
export const PROXY_WAIT_COMMAND: readonly string[] = Object.freeze(['weft', 'proxy', 'wait', '--timeout-seconds', '60']);
export function proxyDrainCommand(drainSeconds: number): string[] {
  return ['weft', 'proxy', 'drain', '--seconds', String(drainSeconds)];
}

/** Per-pod override annotations. Values are validated; a bad value denies the pod with the annotation named. */
export const INJECT_ANNOTATIONS = Object.freeze({
  proxyCPU: 'sidecar.weft.dev/proxyCPU',
  proxyMemory: 'sidecar.weft.dev/proxyMemory',
  proxyCPULimit: 'sidecar.weft.dev/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.weft.dev/proxyMemoryLimit',
  logLevel: 'sidecar.weft.dev/logLevel',
  includeInboundPorts: 'traffic.sidecar.weft.dev/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.weft.dev/excludeInboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.weft.dev/excludeOutboundPorts',
  excludeOutboundIPRanges: 'traffic.sidecar.weft.dev/excludeOutboundIPRanges',
  holdApplicationUntilProxyStarts: 'sidecar.weft.dev/holdApplicationUntilProxyStarts',
  nativeSidecar: 'sidecar.weft.dev/nativeSidecar',
  rewriteAppProbes: 'sidecar.weft.dev/rewriteAppProbes',
});

// ---------------------------------------------------------------------------------------
// iptables init container flags: `weft proxy iptables <flags>`.

/** Options of the iptables setup command. Ports are TCP. */
export interface IptablesArgs {
  /** Port the proxy listens on for redirected inbound traffic (REDIRECT target). */
  inboundCapturePort: number;
  /** Port the proxy listens on for redirected outbound traffic (REDIRECT target). */
  outboundCapturePort: number;
  /** Inbound ports to capture: '*' for all, or an explicit list ([] = no inbound capture). */
  includeInboundPorts: '*' | number[];
  /** Inbound ports never captured (only meaningful with '*'). */
  excludeInboundPorts: number[];
  /** Outbound destination ports never captured. */
  excludeOutboundPorts: number[];
  /** Outbound destination CIDRs never captured. */
  excludeOutboundCidrs: string[];
  /** Traffic from this UID (the proxy's own) is never captured. */
  proxyUid: number;
  /** Traffic from this GID is never captured. */
  proxyGid: number;
  /** Also redirect DNS (port 53) to this port; undefined = no DNS capture. */
  dnsCapturePort?: number;
}

export const IPTABLES_FLAGS = Object.freeze({
  inboundCapturePort: '--inbound-capture-port',
  outboundCapturePort: '--outbound-capture-port',
  includeInboundPorts: '--include-inbound-ports',
  excludeInboundPorts: '--exclude-inbound-ports',
  excludeOutboundPorts: '--exclude-outbound-ports',
  excludeOutboundCidrs: '--exclude-outbound-cidrs',
  proxyUid: '--proxy-uid',
  proxyGid: '--proxy-gid',
  dnsCapturePort: '--dns-capture-port',
});

export function defaultIptablesArgs(): IptablesArgs {
  return {
    inboundCapturePort: PROXY_PORTS.inbound,
    outboundCapturePort: PROXY_PORTS.outbound,
    includeInboundPorts: '*',
    excludeInboundPorts: [PROXY_PORTS.health, PROXY_PORTS.metrics],
    excludeOutboundPorts: [],
    excludeOutboundCidrs: [],
    proxyUid: PROXY_UID,
    proxyGid: PROXY_GID,
  };
}

/** Renders options as argv (after `proxy iptables`). Every flag is always present, so argv is self-describing. */
export function iptablesArgs(opts: IptablesArgs): string[] {
  const list = (xs: readonly (number | string)[]): string => xs.join(',');
  const argv = [
    IPTABLES_FLAGS.inboundCapturePort, String(opts.inboundCapturePort),
    IPTABLES_FLAGS.outboundCapturePort, String(opts.outboundCapturePort),
    IPTABLES_FLAGS.includeInboundPorts, opts.includeInboundPorts === '*' ? '*' : list(opts.includeInboundPorts),
    IPTABLES_FLAGS.excludeInboundPorts, list(opts.excludeInboundPorts),
    IPTABLES_FLAGS.excludeOutboundPorts, list(opts.excludeOutboundPorts),
    IPTABLES_FLAGS.excludeOutboundCidrs, list(opts.excludeOutboundCidrs),
    IPTABLES_FLAGS.proxyUid, String(opts.proxyUid),
    IPTABLES_FLAGS.proxyGid, String(opts.proxyGid),
  ];
  if (opts.dnsCapturePort !== undefined) argv.push(IPTABLES_FLAGS.dnsCapturePort, String(opts.dnsCapturePort));
  return argv;
}

/** Parses a comma-separated port list ("" = empty). Throws Error naming `what` on a bad entry. */
export function parsePortList(value: string, what: string): number[] {
  const trimmed = value.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((raw) => {
    const s = raw.trim();
    if (!/^\d{1,5}$/.test(s)) throw new Error(`${what}: "${s}" is not a port number (want 1-65535, comma-separated)`);
    const n = Number(s);
    if (n < 1 || n > 65535) throw new Error(`${what}: port ${n} is out of range 1-65535`);
    return n;
  });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+(:(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})?$/;

/** True for an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/64. */
export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const [, addr, bits] = m as unknown as [string, string, string];
  const n = Number(bits);
  if (IPV4.test(addr)) return n <= 32;
  if (addr.includes(':') && IPV6.test(addr) && (addr.match(/::/g) ?? []).length <= 1) return n <= 128;
  return false;
}

/** Parses a comma-separated CIDR list ("" = empty). Throws Error naming `what` on a bad entry. */
export function parseCidrList(value: string, what: string): string[] {
  const trimmed = value.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((raw) => {
    const s = raw.trim();
    if (!isCidr(s)) throw new Error(`${what}: "${s}" is not a CIDR (want e.g. 10.0.0.0/8 or fd00::/8)`);
    return s;
  });
}

function parsePort(value: string, what: string): number {
  const ports = parsePortList(value, what);
  if (ports.length !== 1) throw new Error(`${what}: want exactly one port, got "${value}"`);
  return ports[0] as number;
}

function parseId(value: string, what: string): number {
  if (!/^\d{1,10}$/.test(value)) throw new Error(`${what}: "${value}" is not a numeric id`);
  return Number(value);
}

/** Inverse of iptablesArgs. Accepts `--flag value` and `--flag=value`; unknown flags and missing values throw. */
export function parseIptablesArgs(argv: readonly string[]): IptablesArgs {
  const out = defaultIptablesArgs();
  const byFlag = new Map<string, keyof typeof IPTABLES_FLAGS>(
    Object.entries(IPTABLES_FLAGS).map(([k, f]) => [f, k as keyof typeof IPTABLES_FLAGS]),
  );
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    const eq = tok.indexOf('=');
    const flag = eq > 0 ? tok.slice(0, eq) : tok;
    const key = byFlag.get(flag);
    if (!key) throw new Error(`iptables: unknown flag "${flag}"`);
    let value: string;
    if (eq > 0) value = tok.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new Error(`iptables: flag ${flag} needs a value`);
      value = argv[++i] as string;
    }
    switch (key) {
      case 'inboundCapturePort': out.inboundCapturePort = parsePort(value, flag); break;
      case 'outboundCapturePort': out.outboundCapturePort = parsePort(value, flag); break;
      case 'includeInboundPorts': out.includeInboundPorts = value.trim() === '*' ? '*' : parsePortList(value, flag); break;
      case 'excludeInboundPorts': out.excludeInboundPorts = parsePortList(value, flag); break;
      case 'excludeOutboundPorts': out.excludeOutboundPorts = parsePortList(value, flag); break;
      case 'excludeOutboundCidrs': out.excludeOutboundCidrs = parseCidrList(value, flag); break;
      case 'proxyUid': out.proxyUid = parseId(value, flag); break;
      case 'proxyGid': out.proxyGid = parseId(value, flag); break;
      case 'dnsCapturePort': out.dnsCapturePort = parsePort(value, flag); break;
    }
  }
  return out;
}
