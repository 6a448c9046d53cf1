// injectPod: pure. Deep-copies the pod, mutates the copy, returns it with a report. No I/O,
// no clock, no env. The webhook diffs the result against the input with fast-json-patch.
import type { V1Container, V1EnvVar, V1Pod, V1ResourceRequirements, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import {
  INIT_CONTAINER_NAME, INJECTED_VOLUMES, INJECTION_ENV, PROXY_CONTAINER_NAME, PROXY_DATA_DIR, PROXY_PODINFO_DIR,
  PROXY_READY_PATH, PROXY_WAIT_COMMAND, defaultIptablesArgs, iptablesArgs, proxyDrainCommand, proxyImage,
  type InjectionConfig,
} from '../../api/injection.js';
import { INJECTION_STATUS_ANNOTATION, REVISION_LABEL } from '../../api/labels.js';
import {
  CA_TOKEN_AUDIENCE, PROXY_ENV, PROXY_GID, PROXY_PATHS, PROXY_PORTS, PROXY_UID, TRUST_BUNDLE_CONFIGMAP,
} from '../../api/sidecar.js';
import { podSkipDecision, type InjectionReason } from './decide.js';
import { InjectionError, effectiveOptions, type EffectiveOptions } from './overrides.js';
import { rewriteProbes } from './probes.js';
import { checkPodShape } from './shape.js';

export { InjectionError } from './overrides.js';

export interface InjectionStatus {
  version: string;
  revision: string;
  native: boolean;
  initContainers: string[];
  containers: string[];
  volumes: string[];
}

export interface InjectionReport {
  injected: boolean;
  reason: InjectionReason;
  message: string;
  revision: string;
  version: string;
  /** Set when injected: native sidecar (true) or classic container (false). */
  native?: boolean;
  /** Things a human should know (shown as admission warnings). */
  warnings: string[];
}

export interface InjectionResult {
  pod: V1Pod;
  report: InjectionReport;
}

const PROMETHEUS = Object.freeze({ scrape: 'prometheus.io/scrape', port: 'prometheus.io/port', path: 'prometheus.io/path' });
const PROMETHEUS_PATH = '/stats/prometheus';

function sortedJson(obj: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]])));
}

function isJobPod(pod: V1Pod): boolean {
  const owned = (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Job');
  const rp = pod.spec?.restartPolicy;
  return owned || rp === 'Never' || rp === 'OnFailure';
}

function proxyEnv(cfg: InjectionConfig, opts: EffectiveOptions, native: boolean): V1EnvVar[] {
  const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  const env: V1EnvVar[] = [
    field(PROXY_ENV.podName, 'metadata.name'),
    field(PROXY_ENV.podNamespace, 'metadata.namespace'),
    field(PROXY_ENV.podIp, 'status.podIP'),
    field(PROXY_ENV.serviceAccount, 'spec.serviceAccountName'),
    // $(VAR) expands env declared earlier in this list.
    { name: PROXY_ENV.nodeId, value: `sidecar~$(${PROXY_ENV.podIp})~$(${PROXY_ENV.podName}).$(${PROXY_ENV.podNamespace})~$(${PROXY_ENV.podNamespace}).svc.cluster.local` },
    { name: PROXY_ENV.revision, value: cfg.revision },
    { name: PROXY_ENV.xdsAddress, value: cfg.xdsAddress },
    { name: PROXY_ENV.caAddress, value: cfg.caAddress },
    { name: PROXY_ENV.trustDomain, value: cfg.trustDomain },
    { name: PROXY_ENV.logLevel, value: opts.logLevel },
    { name: INJECTION_ENV.drainDuration, value: String(cfg.drainDurationSeconds) },
  ];
  if (!native) env.push({ name: PROXY_ENV.holdApplication, value: String(opts.holdApplicationUntilProxyStarts) });
  if (cfg.captureDns) env.push({ name: PROXY_ENV.dnsCapture, value: 'true' });
  if (cfg.accessLogs) env.push({ name: PROXY_ENV.accessLog, value: 'true' });
  // Only with a collector: without one the proxy does no tracing work, so nothing to say.
  const tr = cfg.tracing;
  if (tr?.endpoint) {
    env.push(
      { name: PROXY_ENV.tracingEndpoint, value: tr.endpoint },
      { name: PROXY_ENV.tracingSampling, value: String(tr.samplingPercent) },
      { name: PROXY_ENV.tracingProtocol, value: tr.protocol },
    );
  }
  return env;
}

const PROXY_MOUNTS: V1VolumeMount[] = [
  { name: INJECTED_VOLUMES.caToken, mountPath: PROXY_PATHS.caTokenDir, readOnly: true },
  { name: INJECTED_VOLUMES.trustBundle, mountPath: PROXY_PATHS.trustBundleDir, readOnly: true },
  { name: INJECTED_VOLUMES.podInfo, mountPath: PROXY_PODINFO_DIR, readOnly: true },
  { name: INJECTED_VOLUMES.data, mountPath: PROXY_DATA_DIR },
];

function volumes(cfg: InjectionConfig): V1Volume[] {
  const tokenFile = PROXY_PATHS.caTokenFile.slice(PROXY_PATHS.caTokenDir.length + 1);
  const bundleFile = PROXY_PATHS.trustBundleFile.slice(PROXY_PATHS.trustBundleDir.length + 1);
  return [
    {
      name: INJECTED_VOLUMES.caToken,
      projected: { sources: [{ serviceAccountToken: { audience: CA_TOKEN_AUDIENCE, expirationSeconds: cfg.caTokenExpirationSeconds, path: tokenFile } }] },
    },
    { name: INJECTED_VOLUMES.trustBundle, configMap: { name: TRUST_BUNDLE_CONFIGMAP, items: [{ key: bundleFile, path: bundleFile }] } },
    {
      name: INJECTED_VOLUMES.podInfo,
      downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        ],
      },
    },
    { name: INJECTED_VOLUMES.data, emptyDir: { medium: 'Memory' } },
  ];
}

function proxyContainer(cfg: InjectionConfig, opts: EffectiveOptions, native: boolean, extraEnv: V1EnvVar[]): V1Container {
  const readiness = (): { httpGet: { path: string; port: number; scheme: string } } => ({
    httpGet: { path: PROXY_READY_PATH, port: PROXY_PORTS.health, scheme: 'HTTP' },
  });
  const c: V1Container = {
    name: PROXY_CONTAINER_NAME,
    image: proxyImage(cfg),
    imagePullPolicy: cfg.imagePullPolicy,
    args: ['proxy', 'sidecar'],
    ports: [
      { name: 'weft-health', containerPort: PROXY_PORTS.health, protocol: 'TCP' },
      { name: 'weft-metrics', containerPort: PROXY_PORTS.metrics, protocol: 'TCP' },
    ],
    env: [...proxyEnv(cfg, opts, native), ...extraEnv],
    resources: structuredClone(opts.resources) as V1ResourceRequirements,
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_GID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: structuredClone(PROXY_MOUNTS),
    readinessProbe: { ...readiness(), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (native) {
    c.restartPolicy = 'Always';
    // The kubelet starts the next container only after the startup probe passes.
    c.startupProbe = { ...readiness(), periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 };
  } else {
    c.lifecycle = { preStop: { exec: { command: proxyDrainCommand(cfg.drainDurationSeconds) } } };
    if (opts.holdApplicationUntilProxyStarts) c.lifecycle.postStart = { exec: { command: [...PROXY_WAIT_COMMAND] } };
  }
  return c;
}

function initContainer(cfg: InjectionConfig, opts: EffectiveOptions): V1Container {
  const args = iptablesArgs({
    ...defaultIptablesArgs(),
    includeInboundPorts: opts.includeInboundPorts,
    excludeInboundPorts: opts.excludeInboundPorts,
    excludeOutboundPorts: opts.excludeOutboundPorts,
    excludeOutboundCidrs: opts.excludeOutboundCidrs,
    ...(cfg.captureDns ? { dnsCapturePort: PROXY_PORTS.dns } : {}),
  });
  return {
    name: INIT_CONTAINER_NAME,
    image: proxyImage(cfg),
    imagePullPolicy: cfg.imagePullPolicy,
    args: ['proxy', 'iptables', ...args],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/** Moves the app's own prometheus.io annotations into env and points scraping at the proxy. */
function mergePrometheus(pod: V1Pod): V1EnvVar[] {
  const ann = (pod.metadata!.annotations ??= {});
  if (ann[PROMETHEUS.scrape] === 'false') return [];
  const app: Record<string, string> = {};
  for (const k of Object.values(PROMETHEUS)) if (ann[k] !== undefined) app[k] = ann[k];
  ann[PROMETHEUS.scrape] = 'true';
  ann[PROMETHEUS.port] = String(PROXY_PORTS.metrics);
  ann[PROMETHEUS.path] = PROMETHEUS_PATH;
  return Object.keys(app).length ? [{ name: INJECTION_ENV.appPrometheus, value: sortedJson(app) }] : [];
}

export function parseInjectionStatus(pod: V1Pod): InjectionStatus | undefined {
  const raw = pod.metadata?.annotations?.[INJECTION_STATUS_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as InjectionStatus;
    return typeof v === 'object' && v !== null && typeof v.version === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Injects the Weft sidecar into a copy of `pod`. Pods that must not be injected (hostNetwork,
 * already injected, opted out) come back as an unchanged copy with a named reason.
 * Throws InjectionError when the pod asks for something invalid (bad annotation values).
 */
export function injectPod(input: V1Pod, cfg: InjectionConfig): InjectionResult {
  const pod = structuredClone(input);
  const warnings: string[] = [];
  const skip = podSkipDecision(pod);
  if (skip) {
    if (skip.reason === 'InvalidInjectLabel' || skip.reason === 'HostNetwork') warnings.push(skip.message);
    return {
      pod,
      report: { injected: false, reason: skip.reason, message: skip.message, revision: cfg.revision, version: cfg.version, warnings },
    };
  }
  checkPodShape(pod);
  if (!pod.spec) throw new InjectionError('spec must be an object'); // narrows the type; checkPodShape made sure
  const opts = effectiveOptions(pod, cfg, defaultIptablesArgs().excludeInboundPorts);
  const native = opts.nativeSidecar;
  pod.metadata ??= {};

  const extraEnv: V1EnvVar[] = [];
  if (opts.rewriteAppProbes) {
    const r = rewriteProbes(pod.spec.containers, opts.includeInboundPorts, opts.excludeInboundPorts);
    warnings.push(...r.warnings);
    if (Object.keys(r.probes).length) extraEnv.push({ name: PROXY_ENV.appProbes, value: sortedJson(r.probes) });
  }
  extraEnv.push(...mergePrometheus(pod));

  const proxy = proxyContainer(cfg, opts, native, extraEnv);
  const init = initContainer(cfg, opts);
  const existingInit = pod.spec.initContainers ?? [];
  if (native) {
    pod.spec.initContainers = [init, proxy, ...existingInit];
  } else {
    pod.spec.initContainers = [init, ...existingInit];
    pod.spec.containers = opts.holdApplicationUntilProxyStarts ? [proxy, ...pod.spec.containers] : [...pod.spec.containers, proxy];
    if (isJobPod(pod)) {
      warnings.push('classic sidecar in a run-to-completion pod: the proxy keeps running after the app exits, so the Job does not complete; use native sidecars');
    }
  }
  const added = volumes(cfg);
  const taken = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  for (const v of added) {
    if (taken.has(v.name)) throw new InjectionError(`pod already has a volume named ${v.name}, which the sidecar needs`);
  }
  pod.spec.volumes = [...(pod.spec.volumes ?? []), ...added];

  const status: InjectionStatus = {
    version: cfg.version,
    revision: cfg.revision,
    native,
    initContainers: native ? [INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME] : [INIT_CONTAINER_NAME],
    containers: native ? [] : [PROXY_CONTAINER_NAME],
    volumes: added.map((v) => v.name!),
  };
  pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [INJECTION_STATUS_ANNOTATION]: JSON.stringify(status) };
  pod.metadata.labels = { ...(pod.metadata.labels ?? {}), [REVISION_LABEL]: cfg.revision };
  return {
    pod,
    report: {
      injected: true,
      reason: 'Injected',
      message: native ? 'injected native sidecar' : 'injected classic sidecar',
      revision: cfg.revision,
      version: cfg.version,
      native,
      warnings,
    },
  };
}
