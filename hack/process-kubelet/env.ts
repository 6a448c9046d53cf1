// Container environment: downward-API fieldRefs, secret/configMap refs, envFrom, and the
// $(VAR) expansion Kubernetes applies to env values, command and args. Pure except for the
// injected object lookups.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { WeftError } from '../../src/errors/errors.js';

export interface RefLookup {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** Reads a downward-API fieldPath from the pod (status.podIP from the kubelet's own view). */
export function fieldRefValue(pod: V1Pod, fieldPath: string, podIP: string, hostIP: string): string {
  const md = pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2] ?? ''] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    default:
      throw new WeftError('WEFT_E_INVALID_INPUT', 'unsupported downward API fieldPath', { fieldPath });
  }
}

/** The downward API's file format for label/annotation maps: key="value" lines, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m?.[k] ?? '')}`)
    .join('\n');
}

/** Kubernetes $(VAR) expansion: known vars are replaced, $$ escapes, unknown refs stay. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return name !== undefined && name in vars ? (vars[name] ?? '') : all;
  });
}

export interface EnvContext {
  pod: V1Pod;
  podIP: string;
  hostIP: string;
  lookup: RefLookup;
  /** Base variables (PATH, HOSTNAME, KUBERNETES_SERVICE_*), overridable by the container. */
  base: Record<string, string>;
}

export async function resolveEnv(c: V1Container, ctx: EnvContext): Promise<Record<string, string>> {
  const ns = ctx.pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...ctx.base };
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const data = from.configMapRef
      ? await ctx.lookup.configMap(ns, from.configMapRef.name ?? '')
      : from.secretRef
        ? await ctx.lookup.secret(ns, from.secretRef.name ?? '')
        : undefined;
    const optional = from.configMapRef?.optional ?? from.secretRef?.optional ?? false;
    if (!data) {
      if (optional) continue;
      throw new WeftError('WEFT_E_NOT_FOUND', 'envFrom source not found', { configMap: from.configMapRef?.name, secret: from.secretRef?.name });
    }
    for (const [k, v] of Object.entries(data)) env[prefix + k] = v;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expandVars(e.value ?? '', env);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.fieldRef) env[e.name] = fieldRefValue(ctx.pod, vf.fieldRef.fieldPath, ctx.podIP, ctx.hostIP);
    else if (vf.secretKeyRef || vf.configMapKeyRef) {
      const ref = vf.secretKeyRef ?? vf.configMapKeyRef;
      const kind = vf.secretKeyRef ? 'secret' : 'configMap';
      const data = vf.secretKeyRef ? await ctx.lookup.secret(ns, ref?.name ?? '') : await ctx.lookup.configMap(ns, ref?.name ?? '');
      const value = data?.[ref?.key ?? ''];
      if (value === undefined) {
        if (ref?.optional) continue;
        throw new WeftError('WEFT_E_NOT_FOUND', 'env reference not found', { env: e.name, kind, name: ref?.name, key: ref?.key });
      }
      env[e.name] = value;
    } else if (vf.resourceFieldRef) {
      env[e.name] = '0'; // no resource accounting here; a stable placeholder
    }
  }
  return env;
}
