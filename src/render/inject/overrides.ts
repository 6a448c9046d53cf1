// Per-pod annotation overrides, parsed and validated. A bad value throws an InjectionError
// naming the annotation and the value, which the webhook turns into an admission deny.
import type { V1Pod } from '@kubernetes/client-node';
import {
  INJECT_ANNOTATIONS, PROXY_LOG_LEVELS, parseCidrList, parsePortList,
  type InjectionConfig, type ProxyLogLevel, type ProxyResources,
} from '../../api/injection.js';
import { WeftError } from '../../errors/errors.js';

/** A pod that cannot be injected as asked. The message names the cause. */
export class InjectionError extends WeftError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('WEFT_E_INVALID_INPUT', message, details);
    this.name = 'InjectionError';
  }
}

/** The configuration after per-pod annotations are applied. */
export interface EffectiveOptions {
  resources: ProxyResources;
  logLevel: ProxyLogLevel;
  includeInboundPorts: '*' | number[];
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  holdApplicationUntilProxyStarts: boolean;
  nativeSidecar: boolean;
  rewriteAppProbes: boolean;
}

const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE]\d+)?$/;

function quantity(annotation: string, value: string): string {
  const v = value.trim();
  if (!QUANTITY.test(v)) {
    throw new InjectionError(`annotation ${annotation}: "${value}" is not a Kubernetes quantity (want e.g. 100m, 0.5, 128Mi, 1Gi)`, { annotation, value });
  }
  return v;
}

function bool(annotation: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InjectionError(`annotation ${annotation}: "${value}" is not a boolean (want "true" or "false")`, { annotation, value });
}

function wrap<T>(annotation: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InjectionError) throw e;
    throw new InjectionError(`annotation ${annotation}: ${(e as Error).message.replace(/^[^:]*: /, '')}`, { annotation });
  }
}

function union(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

function unionStr(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

/** Applies pod annotations to the mesh defaults. Lists from annotations add to the mesh-wide lists. */
export function effectiveOptions(pod: V1Pod, cfg: InjectionConfig, baseExcludeInbound: readonly number[]): EffectiveOptions {
  const ann = pod.metadata?.annotations ?? {};
  const get = (k: string): string | undefined => (typeof ann[k] === 'string' ? ann[k] : undefined);
  const A = INJECT_ANNOTATIONS;

  const requests = { ...cfg.proxyResources.requests };
  const limits = { ...cfg.proxyResources.limits };
  const cpu = get(A.proxyCPU);
  if (cpu !== undefined) requests.cpu = quantity(A.proxyCPU, cpu);
  const mem = get(A.proxyMemory);
  if (mem !== undefined) requests.memory = quantity(A.proxyMemory, mem);
  const cpuLim = get(A.proxyCPULimit);
  if (cpuLim !== undefined) limits.cpu = quantity(A.proxyCPULimit, cpuLim);
  const memLim = get(A.proxyMemoryLimit);
  if (memLim !== undefined) limits.memory = quantity(A.proxyMemoryLimit, memLim);
  const resources: ProxyResources = {};
  if (Object.keys(requests).length) resources.requests = requests;
  if (Object.keys(limits).length) resources.limits = limits;

  let logLevel = cfg.logLevel;
  const lvl = get(A.logLevel);
  if (lvl !== undefined) {
    const l = lvl.trim().toLowerCase();
    if (!(PROXY_LOG_LEVELS as readonly string[]).includes(l)) {
      throw new InjectionError(`annotation ${A.logLevel}: "${lvl}" is not a log level (want one of ${PROXY_LOG_LEVELS.join(', ')})`, { annotation: A.logLevel, value: lvl });
    }
    logLevel = l as ProxyLogLevel;
  }

  let includeInboundPorts: '*' | number[] = '*';
  const inc = get(A.includeInboundPorts);
  if (inc !== undefined) {
    includeInboundPorts = inc.trim() === '*' ? '*' : wrap(A.includeInboundPorts, () => parsePortList(inc, A.includeInboundPorts));
  }
  const exIn = get(A.excludeInboundPorts);
  const excludeInboundPorts = union(union(baseExcludeInbound, cfg.excludeInboundPorts),
    exIn === undefined ? [] : wrap(A.excludeInboundPorts, () => parsePortList(exIn, A.excludeInboundPorts)));
  const exOut = get(A.excludeOutboundPorts);
  const excludeOutboundPorts = union(cfg.excludeOutboundPorts,
    exOut === undefined ? [] : wrap(A.excludeOutboundPorts, () => parsePortList(exOut, A.excludeOutboundPorts)));
  const exCidr = get(A.excludeOutboundIPRanges);
  const excludeOutboundCidrs = unionStr(cfg.excludeOutboundCidrs,
    exCidr === undefined ? [] : wrap(A.excludeOutboundIPRanges, () => parseCidrList(exCidr, A.excludeOutboundIPRanges)));

  const hold = get(A.holdApplicationUntilProxyStarts);
  const native = get(A.nativeSidecar);
  const rewrite = get(A.rewriteAppProbes);
  return {
    resources,
    logLevel,
    includeInboundPorts,
    excludeInboundPorts,
    excludeOutboundPorts,
    excludeOutboundCidrs,
    holdApplicationUntilProxyStarts: hold === undefined ? cfg.holdApplicationUntilProxyStarts : bool(A.holdApplicationUntilProxyStarts, hold),
    nativeSidecar: native === undefined ? cfg.nativeSidecars : bool(A.nativeSidecar, native),
    rewriteAppProbes: rewrite === undefined ? cfg.rewriteAppProbes : bool(A.rewriteAppProbes, rewrite),
  };
}
