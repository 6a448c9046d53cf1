// MeshConfig: the one custom resource the operator owns (operator.weft.dev/v1alpha1,
// cluster-scoped). Types, defaults and a pure validator. The CRD in
// manifests/crds/meshconfig.yaml carries the same rules as schema + CEL, so bad specs are
// rejected at `kubectl apply` time; this validator is what the webhook serves and what the
// reconciler re-checks before rendering.
import type { ValidationIssue } from './validation.js';
import { DEFAULT_TRUST_DOMAIN } from './sidecar.js';
import { INJECTION_LABEL, REVISION_LABEL } from './labels.js';

export const MESHCONFIG_GROUP = 'operator.weft.dev';
export const MESHCONFIG_VERSION = 'v1alpha1';
export const MESHCONFIG_API_VERSION = `${MESHCONFIG_GROUP}/${MESHCONFIG_VERSION}`;
export const MESHCONFIG_KIND = 'MeshConfig';
export const MESHCONFIG_PLURAL = 'meshconfigs';
export const MESHCONFIG_FINALIZER = 'operator.weft.dev/teardown';
/** Label on every object the operator creates: which MeshConfig owns it. */
export const MESHCONFIG_OWNER_LABEL = 'operator.weft.dev/meshconfig';
/** Label on revisioned objects (control plane, webhooks): which control-plane revision. */
export const COMPONENT_REVISION_LABEL = 'operator.weft.dev/revision';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const GATEWAY_TYPES = ['ingress', 'egress'] as const;
export type GatewayType = (typeof GATEWAY_TYPES)[number];
export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];
export const MTLS_MODES = ['STRICT', 'PERMISSIVE'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];
export const FAILURE_POLICIES = ['Fail', 'Ignore'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];
export const UPDATE_STRATEGIES = ['InPlace', 'RevisionBased'] as const;
export type UpdateStrategyType = (typeof UPDATE_STRATEGIES)[number];
export const ROLLOUT_MODES = ['Manual', 'Automatic'] as const;
export type RolloutMode = (typeof ROLLOUT_MODES)[number];
export const INTERCEPTION_MODES = ['REDIRECT'] as const;
export type InterceptionMode = (typeof INTERCEPTION_MODES)[number];
export const PORT_PROTOCOLS = ['TCP', 'UDP'] as const;

export interface ResourceList {
  cpu?: string;
  memory?: string;
}
export interface Resources {
  requests?: ResourceList;
  limits?: ResourceList;
}

/** A pod toleration, as in core/v1 (Istio's k8s.tolerations). */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** Where a component's pods may run (Istio's k8s.nodeSelector / k8s.tolerations). */
export interface Placement {
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
}

export interface ControlPlaneSpec extends Placement {
  replicas?: number;
  resources?: Resources;
  logLevel?: LogLevel;
}

export interface GatewayPort {
  name: string;
  port: number;
  targetPort?: number;
  protocol?: 'TCP' | 'UDP';
  nodePort?: number;
}

export interface GatewaySpec extends Placement {
  name: string;
  type: GatewayType;
  replicas?: number;
  serviceType?: ServiceType;
  ports?: GatewayPort[];
  /** Extra pod + service labels, so Istio Gateway selectors (istio: ingressgateway) match. */
  labels?: Record<string, string>;
  resources?: Resources;
}

export interface ProxySpec {
  image?: string;
  version?: string;
  resources?: Resources;
  logLevel?: LogLevel;
  concurrency?: number;
  interceptionMode?: InterceptionMode;
  excludeInboundPorts?: number[];
  excludeOutboundPorts?: number[];
  excludeOutboundCIDRs?: string[];
  holdApplicationUntilProxyStarts?: boolean;
  /** Capture the app's DNS (port 53) into the sidecar's DNS proxy (Istio's ISTIO_META_DNS_CAPTURE). */
  dnsCapture?: boolean;
}

export interface SecuritySpec {
  trustDomain?: string;
  mtlsMode?: MtlsMode;
  workloadCertTTL?: string;
  rootCertTTL?: string;
}

export interface InjectionSpec {
  namespaceLabel?: string;
  revisionLabel?: string;
  failurePolicy?: FailurePolicy;
  /**
   * What the repair controller does with pods in injection-enabled namespaces that lack the
   * sidecar (e.g. created while the webhook was down): Report only, or also rollout-restart
   * their Deployment/StatefulSet/DaemonSet (rate-limited).
   */
  repair?: RepairMode;
}

export const REPAIR_MODES = ['Report', 'Restart'] as const;
export type RepairMode = (typeof REPAIR_MODES)[number];

export const TRACING_PROTOCOLS = ['otlp', 'zipkin'] as const;
export type TracingProtocol = (typeof TRACING_PROTOCOLS)[number];

export interface TracingSpec {
  /** Percent of new traces the proxies sample (a caller's sampled flag always wins); default 1. */
  samplingPercent?: number;
  /** host:port of an OTLP/Zipkin collector; empty = tracing is off (trace headers pass through). */
  endpoint?: string;
  /** otlp = OTLP/HTTP JSON to /v1/traces (default); zipkin = Zipkin v2 JSON to /api/v2/spans. */
  protocol?: TracingProtocol;
}
export interface TelemetrySpec {
  accessLogs?: boolean;
  tracing?: TracingSpec;
}

export interface HealthGateSpec {
  /** Minimum request success rate (0-100, percent) across the batch's proxies. */
  minSuccessRatePercent?: number;
  /** Maximum p99 latency in milliseconds across the batch's proxies. */
  maxP99LatencyMs?: number;
  /** How long to observe a batch before judging it (Go duration). */
  observationWindow?: string;
}
export interface DataPlaneRolloutSpec {
  mode?: RolloutMode;
  batchSize?: number;
  healthGate?: HealthGateSpec;
}
export interface UpdateStrategySpec {
  type?: UpdateStrategyType;
  dataPlaneRollout?: DataPlaneRolloutSpec;
  /** Maximum minor-version skew between proxies and the control plane. */
  maxVersionSkew?: number;
  /** RevisionBased: how long an unused old revision is kept before removal (Go duration). */
  revisionGracePeriod?: string;
}

export interface MeshConfigSpec {
  version: string;
  namespace?: string;
  /** Image registry + repository prefix; images are `<hub>/weft:<version>`. */
  hub?: string;
  controlPlane?: ControlPlaneSpec;
  gateways?: GatewaySpec[];
  proxy?: ProxySpec;
  security?: SecuritySpec;
  injection?: InjectionSpec;
  telemetry?: TelemetrySpec;
  updateStrategy?: UpdateStrategySpec;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface ComponentStatus {
  name: string;
  kind: string;
  namespace?: string;
  revision?: string;
  version?: string;
  /** Available | Progressing | Unavailable | Missing */
  state: 'Available' | 'Progressing' | 'Unavailable' | 'Missing';
  readyReplicas?: number;
  replicas?: number;
}

export interface RevisionStatus {
  name: string;
  version: string;
  /** When this revision stopped being active (RFC 3339), for the grace period. */
  inactiveSince?: string;
}

export interface DataPlaneStatus {
  /** Proxies (injected pods + gateways) by version. */
  proxiesByVersion?: Record<string, number>;
  outdatedProxies?: number;
  /** Namespaces already moved to the active revision in the current rollout. */
  rolledNamespaces?: string[];
  /** The rollout those namespaces belong to (`<revision>@<version>`); another target starts over. */
  rolloutTarget?: string;
  maxObservedSkew?: number;
}

export interface MeshConfigStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  components?: ComponentStatus[];
  activeRevision?: string;
  inactiveRevisions?: RevisionStatus[];
  revisions?: RevisionStatus[];
  version?: string;
  /** Upgrade phase: Idle | ControlPlane | Gateways | DataPlane | Cleanup */
  upgradePhase?: string;
  dataPlane?: DataPlaneStatus;
  /** Written by the repair controller (src/operator/repair.ts). */
  injection?: InjectionStatus;
  /** CA root rotation, mirrored from the control plane's rotation.weft.dev/state annotation. */
  rootRotation?: RootRotationStatus;
}

/** MeshConfig annotation: ask for a CA root rotation now (any new token; `weftctl rotate-root` writes one). */
export const ROTATE_ROOT_ANNOTATION = 'weft.dev/rotate-root';

export interface RootRotationStatus {
  /** idle | add-root | switch-issuer | remove-old-root (absent when the state is unreadable). */
  stage?: string;
  /** RFC 3339: when the current stage began. */
  since?: string;
  /** The request token the control plane last acted on. */
  request?: string;
  /** A request token written to the CA Secret that the control plane has not acted on yet. */
  pendingRequest?: string;
  completed?: number;
  currentRoot?: string;
  nextRoot?: string;
  proxies?: { total: number; current: number };
  /** xDS node ids of proxies not yet at the stage (at most 20). */
  lagging?: string[];
  /** The stage has not moved for longer than the stuck threshold while proxies lag. */
  stuck?: boolean;
  message?: string;
}

export interface InjectionStatus {
  injected: number;
  /** Pods in injection-enabled namespaces without a sidecar (e.g. created while the webhook was down). */
  missing: number;
  stale: number;
  /** ns/name of missing pods, capped (see missingPodsTruncated). */
  missingPods: string[];
  missingPodsTruncated?: boolean;
  /** Workloads rollout-restarted by the repair controller so far (kind/ns/name), most recent last, capped. */
  restarted?: string[];
}

export interface MeshConfig {
  apiVersion: typeof MESHCONFIG_API_VERSION;
  kind: typeof MESHCONFIG_KIND;
  metadata: {
    name: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: MeshConfigSpec;
  status?: MeshConfigStatus;
}

/** A spec with every default filled in: what render functions consume. */
export interface ResolvedMeshConfigSpec {
  version: string;
  namespace: string;
  hub: string;
  controlPlane: Required<Pick<ControlPlaneSpec, 'replicas' | 'logLevel'>> & { resources: Resources } & Required<Placement>;
  gateways: Array<Required<Pick<GatewaySpec, 'name' | 'type' | 'replicas' | 'serviceType'>> & { ports: Array<Required<Pick<GatewayPort, 'name' | 'port' | 'targetPort' | 'protocol'>> & { nodePort?: number }>; labels: Record<string, string>; resources: Resources } & Required<Placement>>;
  proxy: {
    image: string;
    version: string;
    resources: Resources;
    logLevel: LogLevel;
    concurrency: number;
    interceptionMode: InterceptionMode;
    excludeInboundPorts: number[];
    excludeOutboundPorts: number[];
    excludeOutboundCIDRs: string[];
    holdApplicationUntilProxyStarts: boolean;
    dnsCapture: boolean;
  };
  security: Required<SecuritySpec>;
  injection: Required<InjectionSpec>;
  telemetry: { accessLogs: boolean; tracing: { samplingPercent: number; endpoint: string; protocol: TracingProtocol } };
  updateStrategy: {
    type: UpdateStrategyType;
    dataPlaneRollout: { mode: RolloutMode; batchSize: number; healthGate: Required<HealthGateSpec> };
    maxVersionSkew: number;
    revisionGracePeriod: string;
  };
}

export const MESHCONFIG_DEFAULTS = Object.freeze({
  namespace: 'weft-system',
  hub: 'ghcr.io/weft',
  controlPlaneReplicas: 1,
  logLevel: 'info' as LogLevel,
  gatewayReplicas: 1,
  serviceType: 'ClusterIP' as ServiceType,
  concurrency: 2,
  trustDomain: DEFAULT_TRUST_DOMAIN,
  mtlsMode: 'PERMISSIVE' as MtlsMode,
  workloadCertTTL: '24h',
  rootCertTTL: '87600h',
  failurePolicy: 'Fail' as FailurePolicy,
  repair: 'Report' as RepairMode,
  samplingPercent: 1,
  updateStrategy: 'InPlace' as UpdateStrategyType,
  rolloutMode: 'Manual' as RolloutMode,
  batchSize: 1,
  minSuccessRatePercent: 99,
  maxP99LatencyMs: 1000,
  observationWindow: '30s',
  maxVersionSkew: 2,
  revisionGracePeriod: '5m',
  controlPlaneResources: { requests: { cpu: '100m', memory: '128Mi' } } as Resources,
  proxyResources: { requests: { cpu: '10m', memory: '40Mi' } } as Resources,
  gatewayResources: { requests: { cpu: '10m', memory: '40Mi' } } as Resources,
});

function defaultGatewayPorts(type: GatewayType): GatewayPort[] {
  return type === 'ingress'
    ? [
        { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
        { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      ]
    : [
        { name: 'http2', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      ];
}

function copyResources(r: Resources | undefined, dflt: Resources): Resources {
  return JSON.parse(JSON.stringify(r ?? dflt)) as Resources;
}

function copyPlacement(p: Placement | undefined): Required<Placement> {
  return { nodeSelector: { ...(p?.nodeSelector ?? {}) }, tolerations: (p?.tolerations ?? []).map((t) => ({ ...t })) };
}

/** Fills every default. Pure; assumes the spec passed validateMeshConfig. */
export function resolveMeshConfigSpec(spec: MeshConfigSpec): ResolvedMeshConfigSpec {
  const d = MESHCONFIG_DEFAULTS;
  const hub = spec.hub ?? d.hub;
  const proxyVersion = spec.proxy?.version ?? spec.version;
  return {
    version: spec.version,
    namespace: spec.namespace ?? d.namespace,
    hub,
    controlPlane: {
      replicas: spec.controlPlane?.replicas ?? d.controlPlaneReplicas,
      logLevel: spec.controlPlane?.logLevel ?? d.logLevel,
      resources: copyResources(spec.controlPlane?.resources, d.controlPlaneResources),
      ...copyPlacement(spec.controlPlane),
    },
    gateways: (spec.gateways ?? []).map((g) => ({
      name: g.name,
      type: g.type,
      replicas: g.replicas ?? d.gatewayReplicas,
      serviceType: g.serviceType ?? d.serviceType,
      ports: (g.ports ?? defaultGatewayPorts(g.type)).map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        protocol: p.protocol ?? 'TCP',
        ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
      })),
      labels: { ...(g.labels ?? {}) },
      resources: copyResources(g.resources, d.gatewayResources),
      ...copyPlacement(g),
    })),
    proxy: {
      image: spec.proxy?.image ?? `${hub.replace(/\/+$/, '')}/weft:${proxyVersion}`,
      version: proxyVersion,
      resources: copyResources(spec.proxy?.resources, d.proxyResources),
      logLevel: spec.proxy?.logLevel ?? d.logLevel,
      concurrency: spec.proxy?.concurrency ?? d.concurrency,
      interceptionMode: spec.proxy?.interceptionMode ?? 'REDIRECT',
      excludeInboundPorts: [...(spec.proxy?.excludeInboundPorts ?? [])],
      excludeOutboundPorts: [...(spec.proxy?.excludeOutboundPorts ?? [])],
      excludeOutboundCIDRs: [...(spec.proxy?.excludeOutboundCIDRs ?? [])],
      holdApplicationUntilProxyStarts: spec.proxy?.holdApplicationUntilProxyStarts ?? false,
      dnsCapture: spec.proxy?.dnsCapture ?? false,
    },
    security: {
      trustDomain: spec.security?.trustDomain ?? d.trustDomain,
      mtlsMode: spec.security?.mtlsMode ?? d.mtlsMode,
      workloadCertTTL: spec.security?.workloadCertTTL ?? d.workloadCertTTL,
      rootCertTTL: spec.security?.rootCertTTL ?? d.rootCertTTL,
    },
    injection: {
      namespaceLabel: spec.injection?.namespaceLabel ?? INJECTION_LABEL,
      revisionLabel: spec.injection?.revisionLabel ?? REVISION_LABEL,
      failurePolicy: spec.injection?.failurePolicy ?? d.failurePolicy,
      repair: spec.injection?.repair ?? d.repair,
    },
    telemetry: {
      accessLogs: spec.telemetry?.accessLogs ?? false,
      tracing: {
        samplingPercent: spec.telemetry?.tracing?.samplingPercent ?? d.samplingPercent,
        endpoint: spec.telemetry?.tracing?.endpoint ?? '',
        protocol: spec.telemetry?.tracing?.protocol ?? 'otlp',
      },
    },
    updateStrategy: {
      type: spec.updateStrategy?.type ?? d.updateStrategy,
      dataPlaneRollout: {
        mode: spec.updateStrategy?.dataPlaneRollout?.mode ?? d.rolloutMode,
        batchSize: spec.updateStrategy?.dataPlaneRollout?.batchSize ?? d.batchSize,
        healthGate: {
          minSuccessRatePercent: spec.updateStrategy?.dataPlaneRollout?.healthGate?.minSuccessRatePercent ?? d.minSuccessRatePercent,
          maxP99LatencyMs: spec.updateStrategy?.dataPlaneRollout?.healthGate?.maxP99LatencyMs ?? d.maxP99LatencyMs,
          observationWindow: spec.updateStrategy?.dataPlaneRollout?.healthGate?.observationWindow ?? d.observationWindow,
        },
      },
      maxVersionSkew: spec.updateStrategy?.maxVersionSkew ?? d.maxVersionSkew,
      revisionGracePeriod: spec.updateStrategy?.revisionGracePeriod ?? d.revisionGracePeriod,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Durations and versions (pure helpers shared by validator, render and upgrade logic).

const DURATION_RE = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

/** Parses a Go duration ("24h", "1h30m", "90s") to milliseconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  if (typeof s !== 'string' || !DURATION_RE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(DURATION_PART_RE)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return total;
}

export const VERSION_PATTERN = '^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$';
const VERSION_RE = new RegExp(VERSION_PATTERN);

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
}
export function parseVersion(v: string): ParsedVersion | undefined {
  if (!VERSION_RE.test(v)) return undefined;
  const [maj, min, pat] = v.replace(/^v/, '').split(/[.-]/);
  return { major: Number(maj), minor: Number(min), patch: Number(pat) };
}

/** Minor-version distance between two versions (major differences count as 100 minors). */
export function versionSkew(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return Number.POSITIVE_INFINITY;
  return Math.abs(pa.major * 100 + pa.minor - (pb.major * 100 + pb.minor));
}

/** "1.2.3" -> "1-2-3": a DNS-label-safe form of a version, for revision names. */
export function versionSlug(v: string): string {
  return v.replace(/^v/, '').toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

// ---------------------------------------------------------------------------------------
// Validator

const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUANTITY_RE = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const CIDR_RE = /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$|^[0-9a-fA-F:]+\/\d{1,3}$/;
/** Short workload TTLs are for rotation drills (sidecars renew at 50% ± 10%, so 1m renews about every 30 s). */
export const MIN_WORKLOAD_CERT_TTL_MS = 60 * 1000;
export const MIN_ROOT_CERT_TTL_MS = 10 * 60 * 1000;
export const MAX_GATEWAYS = 16;
/** Revision names are `${metadata.name}` or `${metadata.name}-${versionSlug}`; keep room. */
export const MAX_MESHCONFIG_NAME = 30;

type Obj = Record<string, unknown>;
function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Checker {
  readonly issues: ValidationIssue[] = [];
  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }
  /** Reports unknown keys: a typo in a field name must not be silently ignored. */
  known(o: Obj, path: string, keys: readonly string[]): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.add(`${path}.${k}`, `unknown field; allowed fields are ${keys.join(', ')}`);
  }
  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined) return undefined;
    if (!isObj(v)) {
      this.add(path, 'must be an object');
      return undefined;
    }
    return v;
  }
  str(v: unknown, path: string, opts: { re?: RegExp; reHint?: string; maxLen?: number } = {}): string | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.add(path, 'must be a string');
      return undefined;
    }
    if (opts.maxLen !== undefined && v.length > opts.maxLen) this.add(path, `must be at most ${opts.maxLen} characters`);
    if (opts.re && !opts.re.test(v)) this.add(path, `invalid value "${v}": ${opts.reHint ?? `must match ${opts.re.source}`}`);
    return v;
  }
  enumOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !values.includes(v as T)) {
      this.add(path, `unsupported value ${JSON.stringify(v)}: must be one of ${values.join(', ')}`);
      return undefined;
    }
    return v as T;
  }
  int(v: unknown, path: string, min: number, max: number): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.add(path, 'must be an integer');
      return undefined;
    }
    if (v < min || v > max) this.add(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }
  num(v: unknown, path: string, min: number, max: number): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.add(path, 'must be a number');
      return undefined;
    }
    if (v < min || v > max) this.add(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }
  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.add(path, 'must be true or false');
      return undefined;
    }
    return v;
  }
  duration(v: unknown, path: string, minMs?: number, minText?: string): number | undefined {
    const s = this.str(v, path);
    if (s === undefined) return undefined;
    const ms = parseDuration(s);
    if (ms === undefined) {
      this.add(path, `invalid duration "${s}": use a Go duration such as 30s, 10m or 24h`);
      return undefined;
    }
    if (minMs !== undefined && ms < minMs) this.add(path, `${s} is too short: must be at least ${minText}`);
    return ms;
  }
  arr(v: unknown, path: string, maxItems: number): unknown[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      this.add(path, 'must be a list');
      return undefined;
    }
    if (v.length > maxItems) this.add(path, `must have at most ${maxItems} items, got ${v.length}`);
    return v;
  }
  resources(v: unknown, path: string): void {
    const r = this.obj(v, path);
    if (!r) return;
    this.known(r, path, ['requests', 'limits']);
    for (const k of ['requests', 'limits'] as const) {
      const l = this.obj(r[k], `${path}.${k}`);
      if (!l) continue;
      this.known(l, `${path}.${k}`, ['cpu', 'memory']);
      this.str(l.cpu, `${path}.${k}.cpu`, { re: QUANTITY_RE, reHint: 'must be a Kubernetes quantity such as 100m or 1' });
      this.str(l.memory, `${path}.${k}.memory`, { re: QUANTITY_RE, reHint: 'must be a Kubernetes quantity such as 128Mi' });
    }
  }
  ports(v: unknown, path: string): void {
    const a = this.arr(v, path, 64);
    a?.forEach((p, i) => this.int(p, `${path}[${i}]`, 1, 65535));
  }
  labelMap(v: unknown, path: string): void {
    const m = this.obj(v, path);
    if (!m) return;
    for (const [k, val] of Object.entries(m)) {
      if (!LABEL_KEY_RE.test(k) || k.length > 316) this.add(path, `invalid label key "${k}"`);
      if (typeof val !== 'string' || !LABEL_VALUE_RE.test(val) || val.length > 63) this.add(`${path}.${k}`, `invalid label value ${JSON.stringify(val)}: at most 63 alphanumerics, -, _ or .`);
    }
  }
  /** nodeSelector + tolerations, with the API server's own rules for tolerations. */
  placement(o: Record<string, unknown>, path: string): void {
    this.labelMap(o.nodeSelector, `${path}.nodeSelector`);
    this.arr(o.tolerations, `${path}.tolerations`, 32)?.forEach((tv, i) => {
      const tp = `${path}.tolerations[${i}]`;
      const t = this.obj(tv, tp);
      if (!t) return;
      this.known(t, tp, ['key', 'operator', 'value', 'effect', 'tolerationSeconds']);
      const key = this.str(t.key, `${tp}.key`, { maxLen: 316 });
      if (key !== undefined && key !== '' && !LABEL_KEY_RE.test(key)) this.add(`${tp}.key`, `invalid key "${key}": must be a label key`);
      const op = this.enumOf(t.operator, `${tp}.operator`, ['Exists', 'Equal'] as const) ?? 'Equal';
      this.str(t.value, `${tp}.value`, { maxLen: 63 });
      if (op === 'Exists' && t.value !== undefined && t.value !== '') this.add(`${tp}.value`, 'must be empty when operator is Exists');
      if (op === 'Equal' && (key === undefined || key === '')) this.add(`${tp}.key`, 'is required unless operator is Exists');
      const effect = this.enumOf(t.effect, `${tp}.effect`, ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const);
      this.int(t.tolerationSeconds, `${tp}.tolerationSeconds`, -2147483648, 2147483647);
      if (t.tolerationSeconds !== undefined && effect !== 'NoExecute') this.add(`${tp}.tolerationSeconds`, 'is only allowed when effect is NoExecute');
    });
  }
}

/** Validates a whole MeshConfig object (apiVersion/kind/metadata/spec). Pure. */
export function validateMeshConfig(obj: unknown): ValidationIssue[] {
  const c = new Checker();
  if (!isObj(obj)) return [{ path: '', message: 'must be an object' }];
  if (obj.apiVersion !== undefined && obj.apiVersion !== MESHCONFIG_API_VERSION) c.add('apiVersion', `must be ${MESHCONFIG_API_VERSION}`);
  if (obj.kind !== undefined && obj.kind !== MESHCONFIG_KIND) c.add('kind', `must be ${MESHCONFIG_KIND}`);
  const md = c.obj(obj.metadata, 'metadata');
  if (md) {
    const name = c.str(md.name, 'metadata.name', { re: DNS_LABEL_RE, reHint: 'must be a DNS label (lowercase letters, digits, -)', maxLen: MAX_MESHCONFIG_NAME });
    if (name === undefined && md.generateName === undefined) c.add('metadata.name', 'is required');
  }
  if (obj.spec === undefined) {
    c.add('spec', 'is required');
    return c.issues;
  }
  validateSpecInto(c, obj.spec);
  return c.issues;
}

/** Validates only a spec (for callers that hold the spec alone). Pure. */
export function validateMeshConfigSpec(spec: unknown): ValidationIssue[] {
  const c = new Checker();
  validateSpecInto(c, spec);
  return c.issues;
}

function validateSpecInto(c: Checker, specV: unknown): void {
  const spec = c.obj(specV, 'spec');
  if (!spec) return;
  c.known(spec, 'spec', ['version', 'namespace', 'hub', 'controlPlane', 'gateways', 'proxy', 'security', 'injection', 'telemetry', 'updateStrategy']);
  if (spec.version === undefined) c.add('spec.version', 'is required: the Weft version to run, e.g. 1.2.0');
  else c.str(spec.version, 'spec.version', { re: VERSION_RE, reHint: 'must be a semantic version such as 1.2.0' });
  c.str(spec.namespace, 'spec.namespace', { re: DNS_LABEL_RE, reHint: 'must be a DNS label', maxLen: 63 });
  if (['kube-system', 'kube-public', 'kube-node-lease', 'default'].includes(spec.namespace as string)) c.add('spec.namespace', `must not be ${String(spec.namespace)}: the mesh needs a namespace of its own`);
  c.str(spec.hub, 'spec.hub', { maxLen: 253 });

  const cp = c.obj(spec.controlPlane, 'spec.controlPlane');
  if (cp) {
    c.known(cp, 'spec.controlPlane', ['replicas', 'resources', 'logLevel', 'nodeSelector', 'tolerations']);
    c.int(cp.replicas, 'spec.controlPlane.replicas', 0, 100);
    c.placement(cp, 'spec.controlPlane');
    c.resources(cp.resources, 'spec.controlPlane.resources');
    c.enumOf(cp.logLevel, 'spec.controlPlane.logLevel', LOG_LEVELS);
  }

  const gws = c.arr(spec.gateways, 'spec.gateways', MAX_GATEWAYS);
  if (gws) {
    const seen = new Map<string, number>();
    gws.forEach((gv, i) => {
      const p = `spec.gateways[${i}]`;
      const g = c.obj(gv, p);
      if (!g) return;
      c.known(g, p, ['name', 'type', 'replicas', 'serviceType', 'ports', 'labels', 'resources', 'nodeSelector', 'tolerations']);
      c.placement(g, p);
      if (g.name === undefined) c.add(`${p}.name`, 'is required');
      const name = c.str(g.name, `${p}.name`, { re: DNS_LABEL_RE, reHint: 'must be a DNS label', maxLen: 40 });
      if (name !== undefined) {
        const prev = seen.get(name);
        if (prev !== undefined) c.add(`${p}.name`, `duplicate gateway name "${name}" (also spec.gateways[${prev}].name): gateway names must be unique`);
        else seen.set(name, i);
      }
      if (g.type === undefined) c.add(`${p}.type`, 'is required: ingress or egress');
      c.enumOf(g.type, `${p}.type`, GATEWAY_TYPES);
      c.int(g.replicas, `${p}.replicas`, 0, 100);
      c.enumOf(g.serviceType, `${p}.serviceType`, SERVICE_TYPES);
      c.resources(g.resources, `${p}.resources`);
      const ports = c.arr(g.ports, `${p}.ports`, 32);
      const portNames = new Set<string>();
      const portNums = new Set<number>();
      ports?.forEach((pv, j) => {
        const pp = `${p}.ports[${j}]`;
        const port = c.obj(pv, pp);
        if (!port) return;
        c.known(port, pp, ['name', 'port', 'targetPort', 'protocol', 'nodePort']);
        if (port.name === undefined) c.add(`${pp}.name`, 'is required');
        const pn = c.str(port.name, `${pp}.name`, { re: DNS_LABEL_RE, reHint: 'must be a DNS label', maxLen: 15 });
        if (pn !== undefined) {
          if (portNames.has(pn)) c.add(`${pp}.name`, `duplicate port name "${pn}"`);
          portNames.add(pn);
        }
        if (port.port === undefined) c.add(`${pp}.port`, 'is required');
        const num = c.int(port.port, `${pp}.port`, 1, 65535);
        if (num !== undefined) {
          if (portNums.has(num)) c.add(`${pp}.port`, `duplicate port ${num}`);
          portNums.add(num);
        }
        c.int(port.targetPort, `${pp}.targetPort`, 1, 65535);
        c.enumOf(port.protocol, `${pp}.protocol`, PORT_PROTOCOLS);
        c.int(port.nodePort, `${pp}.nodePort`, 1, 65535);
        if (port.nodePort !== undefined && g.serviceType !== 'NodePort' && g.serviceType !== 'LoadBalancer') c.add(`${pp}.nodePort`, 'is only allowed when serviceType is NodePort or LoadBalancer');
      });
      c.labelMap(g.labels, `${p}.labels`);
    });
  }

  const px = c.obj(spec.proxy, 'spec.proxy');
  if (px) {
    c.known(px, 'spec.proxy', ['image', 'version', 'resources', 'logLevel', 'concurrency', 'interceptionMode', 'excludeInboundPorts', 'excludeOutboundPorts', 'excludeOutboundCIDRs', 'holdApplicationUntilProxyStarts', 'dnsCapture']);
    c.str(px.image, 'spec.proxy.image', { maxLen: 512 });
    c.str(px.version, 'spec.proxy.version', { re: VERSION_RE, reHint: 'must be a semantic version such as 1.2.0' });
    c.resources(px.resources, 'spec.proxy.resources');
    c.enumOf(px.logLevel, 'spec.proxy.logLevel', LOG_LEVELS);
    c.int(px.concurrency, 'spec.proxy.concurrency', 0, 64);
    c.enumOf(px.interceptionMode, 'spec.proxy.interceptionMode', INTERCEPTION_MODES);
    c.ports(px.excludeInboundPorts, 'spec.proxy.excludeInboundPorts');
    c.ports(px.excludeOutboundPorts, 'spec.proxy.excludeOutboundPorts');
    const cidrs = c.arr(px.excludeOutboundCIDRs, 'spec.proxy.excludeOutboundCIDRs', 64);
    cidrs?.forEach((v, i) => c.str(v, `spec.proxy.excludeOutboundCIDRs[${i}]`, { re: CIDR_RE, reHint: 'must be a CIDR such as 10.0.0.0/8' }));
    c.bool(px.holdApplicationUntilProxyStarts, 'spec.proxy.holdApplicationUntilProxyStarts');
    c.bool(px.dnsCapture, 'spec.proxy.dnsCapture');
    if (typeof px.version === 'string' && typeof spec.version === 'string') {
      const max = isObj(spec.updateStrategy) && typeof spec.updateStrategy.maxVersionSkew === 'number' ? spec.updateStrategy.maxVersionSkew : MESHCONFIG_DEFAULTS.maxVersionSkew;
      const skew = versionSkew(px.version, spec.version);
      if (Number.isFinite(skew) && skew > max) c.add('spec.proxy.version', `proxy version ${px.version} is ${skew} minor versions from control plane ${spec.version}; the maximum skew is ${max}`);
    }
  }

  const sec = c.obj(spec.security, 'spec.security');
  if (sec) {
    c.known(sec, 'spec.security', ['trustDomain', 'mtlsMode', 'workloadCertTTL', 'rootCertTTL']);
    c.str(sec.trustDomain, 'spec.security.trustDomain', { re: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, reHint: 'must be a DNS name such as cluster.local', maxLen: 253 });
    c.enumOf(sec.mtlsMode, 'spec.security.mtlsMode', MTLS_MODES);
    const w = c.duration(sec.workloadCertTTL, 'spec.security.workloadCertTTL', MIN_WORKLOAD_CERT_TTL_MS, '1m');
    const r = c.duration(sec.rootCertTTL, 'spec.security.rootCertTTL', MIN_ROOT_CERT_TTL_MS, '10m');
    const wEff = w ?? parseDuration(MESHCONFIG_DEFAULTS.workloadCertTTL)!;
    if (r !== undefined && r <= wEff) c.add('spec.security.rootCertTTL', 'must be longer than workloadCertTTL: a root cannot sign a leaf that outlives it');
  }

  const inj = c.obj(spec.injection, 'spec.injection');
  if (inj) {
    c.known(inj, 'spec.injection', ['namespaceLabel', 'revisionLabel', 'failurePolicy', 'repair']);
    c.str(inj.namespaceLabel, 'spec.injection.namespaceLabel', { re: LABEL_KEY_RE, reHint: 'must be a label key' });
    c.str(inj.revisionLabel, 'spec.injection.revisionLabel', { re: LABEL_KEY_RE, reHint: 'must be a label key' });
    c.enumOf(inj.failurePolicy, 'spec.injection.failurePolicy', FAILURE_POLICIES);
    c.enumOf(inj.repair, 'spec.injection.repair', REPAIR_MODES);
    if (typeof inj.namespaceLabel === 'string' && inj.namespaceLabel === inj.revisionLabel) c.add('spec.injection.revisionLabel', 'must differ from namespaceLabel');
  }

  const tel = c.obj(spec.telemetry, 'spec.telemetry');
  if (tel) {
    c.known(tel, 'spec.telemetry', ['accessLogs', 'tracing']);
    c.bool(tel.accessLogs, 'spec.telemetry.accessLogs');
    const tr = c.obj(tel.tracing, 'spec.telemetry.tracing');
    if (tr) {
      c.known(tr, 'spec.telemetry.tracing', ['samplingPercent', 'endpoint', 'protocol']);
      c.num(tr.samplingPercent, 'spec.telemetry.tracing.samplingPercent', 0, 100);
      c.str(tr.endpoint, 'spec.telemetry.tracing.endpoint', { re: /^$|^[A-Za-z0-9.-]+:[0-9]{1,5}$/, reHint: 'must be host:port' });
      c.enumOf(tr.protocol, 'spec.telemetry.tracing.protocol', TRACING_PROTOCOLS);
    }
  }

  const us = c.obj(spec.updateStrategy, 'spec.updateStrategy');
  if (us) {
    c.known(us, 'spec.updateStrategy', ['type', 'dataPlaneRollout', 'maxVersionSkew', 'revisionGracePeriod']);
    c.enumOf(us.type, 'spec.updateStrategy.type', UPDATE_STRATEGIES);
    c.int(us.maxVersionSkew, 'spec.updateStrategy.maxVersionSkew', 0, 10);
    c.duration(us.revisionGracePeriod, 'spec.updateStrategy.revisionGracePeriod');
    const ro = c.obj(us.dataPlaneRollout, 'spec.updateStrategy.dataPlaneRollout');
    if (ro) {
      c.known(ro, 'spec.updateStrategy.dataPlaneRollout', ['mode', 'batchSize', 'healthGate']);
      c.enumOf(ro.mode, 'spec.updateStrategy.dataPlaneRollout.mode', ROLLOUT_MODES);
      c.int(ro.batchSize, 'spec.updateStrategy.dataPlaneRollout.batchSize', 1, 1000);
      const hg = c.obj(ro.healthGate, 'spec.updateStrategy.dataPlaneRollout.healthGate');
      if (hg) {
        const hp = 'spec.updateStrategy.dataPlaneRollout.healthGate';
        c.known(hg, hp, ['minSuccessRatePercent', 'maxP99LatencyMs', 'observationWindow']);
        c.num(hg.minSuccessRatePercent, `${hp}.minSuccessRatePercent`, 0, 100);
        c.int(hg.maxP99LatencyMs, `${hp}.maxP99LatencyMs`, 1, 600000);
        c.duration(hg.observationWindow, `${hp}.observationWindow`);
      }
    }
  }
}

/** The revision name a spec resolves to: `name` for InPlace, `name-<version>` for RevisionBased. */
export function revisionNameFor(mcName: string, spec: Pick<MeshConfigSpec, 'version' | 'updateStrategy'>): string {
  return (spec.updateStrategy?.type ?? MESHCONFIG_DEFAULTS.updateStrategy) === 'RevisionBased' ? `${mcName}-${versionSlug(spec.version)}` : mcName;
}
