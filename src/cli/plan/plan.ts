// weftctl plan, the pure part: what the cluster looks like (PlanState), which workloads have a
// proxy, the change applied to the state, and the per-workload diff of the translated proxy
// config plus authorization decisions for known callers. Translation itself is behind the
// ConfigPlanner interface: the CLI may not import the control plane (src/xds), so the real
// planner is built in src/cmd/weftctl.ts and handed in through App.
import type { V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { AuthorizationPolicy, AuthorizationRule, AuthorizationSource } from '../../api/istio/types.js';
import { ISTIO_KINDS } from '../../api/istio/types.js';
import type { Manifest } from '../manifests.js';
import { renderTable } from '../output.js';

/** The cluster facts translation reads (the same objects the control plane's informers watch). */
export interface PlanState {
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  pods: V1Pod[];
  nodes: V1Node[];
  namespaces: V1Namespace[];
  /** Istio-API objects (kind set to one of ISTIO_KINDS). */
  istio: Manifest[];
}

/** Who the config is for (mirrors the control plane's ProxyContext). */
export interface PlanProxy {
  flavour: 'sidecar' | 'gateway';
  namespace: string;
  labels: Record<string, string>;
  ip?: string;
  serviceAccount?: string;
}

/** Envoy resources as built by translation (plain JSON objects). */
export interface ProxyResources {
  clusters: readonly Record<string, unknown>[];
  listeners: readonly Record<string, unknown>[];
  routes: readonly Record<string, unknown>[];
  endpoints: readonly Record<string, unknown>[];
}

export interface PlanOptions {
  domain: string;
  rootNamespace: string;
  trustDomain: string;
}

/** The control plane's translation, injected (src/cmd/weftctl.ts builds the real one). */
export interface ConfigPlanner {
  translate(state: PlanState, proxy: PlanProxy, opts: PlanOptions): ProxyResources;
}

export interface Workload {
  namespace: string;
  /** Deployment/StatefulSet/DaemonSet name, else the pod name. */
  name: string;
  proxy: PlanProxy;
}

export type ChangeKind = 'route' | 'cluster' | 'listener' | 'endpoints' | 'authz';
export type ChangeOp = '+' | '-' | '~';

export interface PlanChange {
  workload: string;
  kind: ChangeKind;
  name: string;
  op: ChangeOp;
  /** For authz: "ALLOW -> DENY"; for ~: a short hint of what changed. */
  detail?: string;
}

export interface PlanResult {
  /** The objects the change consists of, as `Kind ns/name` (after dry-run). */
  objects: string[];
  workloads: string[];
  changes: PlanChange[];
  notes: string[];
}

// ---------------------------------------------------------------------------------------
// Workloads

const GATEWAY_LABEL_VALUES = new Set(['ingressgateway', 'egressgateway']);

function podActive(p: V1Pod): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata?.deletionTimestamp;
}

/** The owning workload's name: ReplicaSet `web-5d8f7` -> `web` (via pod-template-hash), else the owner or the pod. */
export function workloadName(p: V1Pod): string {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller) ?? p.metadata?.ownerReferences?.[0];
  const podName = p.metadata?.name ?? '';
  if (!owner) return podName;
  const hash = p.metadata?.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
  return owner.name;
}

function isGatewayPod(p: V1Pod, gateways: readonly Manifest[]): boolean {
  const labels = p.metadata?.labels ?? {};
  if (GATEWAY_LABEL_VALUES.has(labels['istio'] ?? '')) return true;
  return gateways.some((g) => {
    const sel = (g['spec'] as { selector?: Record<string, string> } | undefined)?.selector;
    return sel !== undefined && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  });
}

/** One workload per owner in the given namespaces (undefined = all); its first pod (by name) represents it. */
export function workloadsOf(state: PlanState, namespaces: ReadonlySet<string> | undefined): Workload[] {
  const gateways = state.istio.filter((o) => o.kind === 'Gateway');
  const byKey = new Map<string, Workload>();
  const pods = state.pods.filter(podActive).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const p of pods) {
    const ns = p.metadata?.namespace ?? 'default';
    if (namespaces && !namespaces.has(ns)) continue;
    const name = workloadName(p);
    const key = `${ns}/${name}`;
    if (byKey.has(key)) continue;
    const proxy: PlanProxy = { flavour: isGatewayPod(p, gateways) ? 'gateway' : 'sidecar', namespace: ns, labels: { ...(p.metadata?.labels ?? {}) } };
    if (p.status?.podIP) proxy.ip = p.status.podIP;
    proxy.serviceAccount = p.spec?.serviceAccountName || 'default';
    byKey.set(key, { namespace: ns, name, proxy });
  }
  return [...byKey.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

// ---------------------------------------------------------------------------------------
// Applying the change to the state

export function objectKey(o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind ?? ''} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

const ISTIO_KIND_NAMES = new Set<string>(ISTIO_KINDS.map((k) => k.kind));

export function isIstioObject(o: Manifest): boolean {
  const group = o.apiVersion.split('/')[0] ?? '';
  return ISTIO_KIND_NAMES.has(o.kind) && ISTIO_KINDS.some((k) => k.kind === o.kind && k.group === group);
}

function replaceIn<T extends { kind?: string; metadata?: { name?: string; namespace?: string } }>(list: readonly T[], kind: string, obj: T | undefined, key: string): T[] {
  // Lists from typed clients may lack kind; Istio objects carry theirs (several kinds share the list).
  const out = list.filter((x) => objectKey({ kind: x.kind ?? kind, metadata: x.metadata }) !== key);
  if (obj) out.push(obj);
  return out;
}

/**
 * The state after the change: each object replaces (or, with remove, deletes) the object with
 * the same kind/namespace/name. Objects translation does not read directly (Deployments, ...)
 * are reported in notes, since a dry run creates no pods for them.
 */
export function applyChange(state: PlanState, objs: readonly Manifest[], remove: boolean): { state: PlanState; notes: string[] } {
  const next: PlanState = { ...state, services: [...state.services], endpointSlices: [...state.endpointSlices], pods: [...state.pods], istio: [...state.istio] };
  const notes: string[] = [];
  for (const o of objs) {
    const key = objectKey(o);
    const keep = remove ? undefined : o;
    if (isIstioObject(o)) next.istio = replaceIn(next.istio, o.kind, keep, key);
    else if (o.apiVersion === 'v1' && o.kind === 'Service') next.services = replaceIn(next.services, 'Service', keep as unknown as V1Service | undefined, key);
    else if (o.apiVersion === 'v1' && o.kind === 'Pod') next.pods = replaceIn(next.pods, 'Pod', keep as unknown as V1Pod | undefined, key);
    else if (o.kind === 'EndpointSlice') next.endpointSlices = replaceIn(next.endpointSlices, 'EndpointSlice', keep as unknown as V1EndpointSlice | undefined, key);
    else notes.push(`${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name ?? ''}: validated by the dry run; its effect on pods/endpoints is not modelled`);
  }
  return { state: next, notes };
}

// ---------------------------------------------------------------------------------------
// Flattening translated resources into named items

export interface NamedItem {
  kind: Exclude<ChangeKind, 'authz'>;
  name: string;
  value: unknown;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A route's identity inside its virtual host: its name, else its match. */
function routeLabel(r: Record<string, unknown>): string {
  const name = str(r['name']);
  const m = (r['match'] ?? {}) as Record<string, unknown>;
  const path = str(m['prefix']) ? `prefix ${str(m['prefix'])}` : str(m['path']) ? `path ${str(m['path'])}` : m['safe_regex'] ? `regex ${str((m['safe_regex'] as Record<string, unknown>)['regex'])}` : '';
  const headers = Array.isArray(m['headers']) ? (m['headers'] as Record<string, unknown>[]).map((h) => str(h['name'])).filter(Boolean) : [];
  const match = [path, headers.length ? `headers ${headers.join(',')}` : ''].filter(Boolean).join(' ');
  return name && name !== 'default' ? `${name}${match ? ` (${match})` : ''}` : match || name || '?';
}

/** Clusters, listeners and endpoints by name; routes one per route entry as `<route config>/<vhost>: <route>`. */
export function flatten(res: ProxyResources): NamedItem[] {
  const out: NamedItem[] = [];
  for (const c of res.clusters) out.push({ kind: 'cluster', name: str(c['name']), value: c });
  for (const l of res.listeners) out.push({ kind: 'listener', name: str(l['name']), value: l });
  for (const e of res.endpoints) out.push({ kind: 'endpoints', name: str(e['cluster_name']), value: e });
  for (const rc of res.routes) {
    const seen = new Map<string, number>();
    for (const vh of (rc['virtual_hosts'] ?? []) as Record<string, unknown>[]) {
      for (const r of (vh['routes'] ?? []) as Record<string, unknown>[]) {
        let name = `${str(rc['name'])}/${str(vh['name'])}: ${routeLabel(r)}`;
        const n = (seen.get(name) ?? 0) + 1;
        seen.set(name, n);
        if (n > 1) name = `${name} #${n}`;
        out.push({ kind: 'route', name, value: r });
      }
    }
  }
  return out;
}

/** A stable JSON text (sorted keys) for comparing values. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
    : x));
}

/** Top-level fields whose value differs, as a hint for `~` rows. */
function changedFields(a: unknown, b: unknown): string {
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return '';
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
  return keys.filter((k) => canonical(ao[k]) !== canonical(bo[k])).join(', ');
}

const KIND_ORDER: Record<ChangeKind, number> = { listener: 0, route: 1, cluster: 2, endpoints: 3, authz: 4 };

/** + (only after), - (only before), ~ (both, different). Pure. */
export function diffItems(workload: string, before: readonly NamedItem[], after: readonly NamedItem[]): PlanChange[] {
  const key = (i: NamedItem): string => `${i.kind}\u0000${i.name}`;
  const b = new Map(before.map((i) => [key(i), i]));
  const a = new Map(after.map((i) => [key(i), i]));
  const out: PlanChange[] = [];
  for (const [k, i] of a) {
    const old = b.get(k);
    if (!old) out.push({ workload, kind: i.kind, name: i.name, op: '+' });
    else if (canonical(old.value) !== canonical(i.value)) {
      const fields = changedFields(old.value, i.value);
      out.push({ workload, kind: i.kind, name: i.name, op: '~', ...(fields ? { detail: fields } : {}) });
    }
  }
  for (const [k, i] of b) if (!a.has(k)) out.push({ workload, kind: i.kind, name: i.name, op: '-' });
  return out.sort((x, y) => KIND_ORDER[x.kind] - KIND_ORDER[y.kind] || x.name.localeCompare(y.name) || x.op.localeCompare(y.op));
}

// ---------------------------------------------------------------------------------------
// Authorization decisions for known callers

export interface Caller {
  namespace: string;
  serviceAccount: string;
}

/** ALLOW: every request allowed; DENY: every request denied; PARTIAL: depends on the request (path, method, JWT, IP...). */
export type Decision = 'ALLOW' | 'DENY' | 'PARTIAL';

type Match = 'yes' | 'no' | 'maybe';

function principalOf(c: Caller, trustDomain: string): string {
  return `${trustDomain}/ns/${c.namespace}/sa/${c.serviceAccount}`;
}

function glob(pattern: string, v: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return v.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return v.endsWith(pattern.slice(1));
  return pattern === v;
}

function and(...ms: Match[]): Match {
  if (ms.includes('no')) return 'no';
  return ms.includes('maybe') ? 'maybe' : 'yes';
}

function sourceMatch(s: AuthorizationSource, c: Caller, td: string): Match {
  const p = principalOf(c, td);
  const parts: Match[] = [];
  if (s.principals?.length) parts.push(s.principals.some((x) => glob(x, p)) ? 'yes' : 'no');
  if (s.notPrincipals?.length) parts.push(s.notPrincipals.some((x) => glob(x, p)) ? 'no' : 'yes');
  if (s.namespaces?.length) parts.push(s.namespaces.some((x) => glob(x, c.namespace)) ? 'yes' : 'no');
  if (s.notNamespaces?.length) parts.push(s.notNamespaces.some((x) => glob(x, c.namespace)) ? 'no' : 'yes');
  // IP blocks and request principals depend on the request, not on the caller's identity.
  const requestDependent = [s.ipBlocks, s.notIpBlocks, s.remoteIpBlocks, s.notRemoteIpBlocks, s.requestPrincipals, s.notRequestPrincipals];
  if (requestDependent.some((x) => x?.length)) parts.push('maybe');
  return and(...parts);
}

/** Does a rule match every / no / some requests from the caller? */
export function ruleMatch(rule: AuthorizationRule, c: Caller, td: string): Match {
  const from: Match = rule.from?.length
    ? rule.from.map((f) => sourceMatch(f.source ?? {}, c, td)).reduce<Match>((acc, m) => (acc === 'yes' || m === 'yes' ? 'yes' : acc === 'maybe' || m === 'maybe' ? 'maybe' : 'no'), 'no')
    : 'yes';
  const conditions: Match[] = (rule.when ?? []).map((w) => {
    if (w.key === 'source.namespace') {
      const inV = !w.values?.length || w.values.some((v) => glob(v, c.namespace));
      const notV = (w.notValues ?? []).some((v) => glob(v, c.namespace));
      return inV && !notV ? 'yes' : 'no';
    }
    if (w.key === 'source.principal') {
      const p = principalOf(c, td);
      const inV = !w.values?.length || w.values.some((v) => glob(v, p));
      const notV = (w.notValues ?? []).some((v) => glob(v, p));
      return inV && !notV ? 'yes' : 'no';
    }
    return 'maybe';
  });
  const to: Match = rule.to?.length ? 'maybe' : 'yes';
  return and(from, to, ...conditions);
}

function selects(p: AuthorizationPolicy, w: PlanProxy, rootNamespace: string): boolean {
  const ns = p.metadata.namespace ?? 'default';
  if (ns !== w.namespace && ns !== rootNamespace) return false;
  const sel = p.spec?.selector?.matchLabels;
  return !sel || Object.entries(sel).every(([k, v]) => w.labels[k] === v);
}

/** Istio's evaluation order: DENY policies, then ALLOW (none selecting the workload = allow). CUSTOM/AUDIT are ignored. */
export function decide(policies: readonly AuthorizationPolicy[], w: PlanProxy, c: Caller, opts: PlanOptions): Decision {
  const mine = policies.filter((p) => selects(p, w, opts.rootNamespace));
  const any = (action: 'ALLOW' | 'DENY'): Match => {
    const rules = mine.filter((p) => (p.spec?.action ?? 'ALLOW') === action).flatMap((p) => p.spec?.rules ?? []);
    const ms = rules.map((r) => ruleMatch(r, c, opts.trustDomain));
    return ms.includes('yes') ? 'yes' : ms.includes('maybe') ? 'maybe' : 'no';
  };
  const deny = any('DENY');
  if (deny === 'yes') return 'DENY';
  const hasAllow = mine.some((p) => (p.spec?.action ?? 'ALLOW') === 'ALLOW');
  const allow: Match = hasAllow ? any('ALLOW') : 'yes';
  if (allow === 'no') return 'DENY';
  if (deny === 'maybe' || allow === 'maybe') return 'PARTIAL';
  return 'ALLOW';
}

/** Distinct caller identities (namespace + service account) of the active pods. */
export function knownCallers(state: PlanState): Caller[] {
  const seen = new Map<string, Caller>();
  for (const p of state.pods.filter(podActive)) {
    const c = { namespace: p.metadata?.namespace ?? 'default', serviceAccount: p.spec?.serviceAccountName || 'default' };
    seen.set(`${c.namespace}/${c.serviceAccount}`, c);
  }
  return [...seen.values()].sort((a, b) => `${a.namespace}/${a.serviceAccount}`.localeCompare(`${b.namespace}/${b.serviceAccount}`));
}

function authzPolicies(state: PlanState): AuthorizationPolicy[] {
  return state.istio.filter((o) => o.kind === 'AuthorizationPolicy') as unknown as AuthorizationPolicy[];
}

/** Callers whose decision for the workload changes between the two states. */
export function diffAuthz(workload: string, proxy: PlanProxy, before: PlanState, after: PlanState, callers: readonly Caller[], opts: PlanOptions): PlanChange[] {
  const pb = authzPolicies(before);
  const pa = authzPolicies(after);
  const out: PlanChange[] = [];
  for (const c of callers) {
    const d0 = decide(pb, proxy, c, opts);
    const d1 = decide(pa, proxy, c, opts);
    if (d0 === d1) continue;
    out.push({ workload, kind: 'authz', name: `from ${c.namespace}/sa/${c.serviceAccount}`, op: '~', detail: `${d0} -> ${d1}` });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The whole plan

export function plan(planner: ConfigPlanner, before: PlanState, after: PlanState, workloads: readonly Workload[], opts: PlanOptions): PlanChange[] {
  const callers = knownCallers(after);
  const out: PlanChange[] = [];
  for (const w of workloads) {
    const id = `${w.namespace}/${w.name}`;
    const b = flatten(planner.translate(before, w.proxy, opts));
    const a = flatten(planner.translate(after, w.proxy, opts));
    out.push(...diffItems(id, b, a), ...diffAuthz(id, w.proxy, before, after, callers, opts));
  }
  return out;
}

/** Table: WORKLOAD | KIND | NAME | CHANGE (| DETAIL with wide or when any row has one). Pure. */
export function formatPlan(r: PlanResult, paint: (c: 'green' | 'red' | 'yellow', t: string) => string): string {
  const lines: string[] = [];
  for (const n of r.notes) lines.push(`note: ${n}`);
  if (r.changes.length === 0) {
    lines.push(`No proxy config changes for ${r.workloads.length} workload(s).`);
    return lines.join('\n') + '\n';
  }
  const color = (op: ChangeOp): 'green' | 'red' | 'yellow' => (op === '+' ? 'green' : op === '-' ? 'red' : 'yellow');
  const rows = r.changes.map((c) => [c.workload, c.kind, c.name, paint(color(c.op), c.op), c.detail ?? '']);
  const header = ['WORKLOAD', 'KIND', 'NAME', 'CHANGE', 'DETAIL'];
  const table = renderTable(header, rows);
  const count = (op: ChangeOp): number => r.changes.filter((c) => c.op === op).length;
  const affected = new Set(r.changes.map((c) => c.workload)).size;
  return [...lines, table.trimEnd(), '', `${affected} of ${r.workloads.length} workload(s) affected: ${count('+')} added, ${count('-')} removed, ${count('~')} changed.`].join('\n') + '\n';
}
