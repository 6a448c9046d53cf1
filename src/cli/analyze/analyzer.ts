// The analyzer core: Istio-API config + registry -> findings. Pure: no I/O, no clock.
// Each rule is a small function over an AnalysisContext; analyze() runs them all and sorts
// the findings so output is stable.
import {
  ISTIO_KINDS, NETWORKING_GROUP, SECURITY_GROUP,
  type AuthorizationPolicySpec, type DestinationRuleSpec, type GatewaySpec, type HTTPMatchRequest, type HTTPRoute,
  type PeerAuthenticationSpec, type RequestAuthenticationSpec, type ServiceEntrySpec, type VirtualServiceSpec,
} from '../../api/istio/types.js';
import { ISTIO_VALIDATORS, unsupportedFieldWarnings } from '../../api/istio/validate.js';
import type { IstioKind } from '../../api/istio/types.js';
import { CODES, type CodeInfo, type Severity } from './codes.js';
import { SPEC_SHAPES, unsupportedFields } from './fields.js';
import {
  SYSTEM_NAMESPACES, hostMatches, labelsMatch, resolveHost, serviceFqdn,
  type ConfigObject, type Registry, type RegistryPod, type RegistryService,
} from './model.js';

export interface Finding {
  code: string;
  name: string;
  severity: Severity;
  kind: string;
  namespace: string;
  resource: string;
  /** Field path inside the resource, e.g. spec.http[1].route[0].destination.host. */
  path?: string;
  message: string;
  source: string;
}

export interface AnalyzeOptions {
  /** Namespace for objects that carry none (files without metadata.namespace). */
  defaultNamespace: string;
}

interface Typed<S> {
  kind: string;
  name: string;
  namespace: string;
  spec: S;
  source: string;
  raw: ConfigObject;
}

interface AnalysisContext {
  registry: Registry;
  vs: Typed<VirtualServiceSpec>[];
  dr: Typed<DestinationRuleSpec>[];
  gw: Typed<GatewaySpec>[];
  se: Typed<ServiceEntrySpec>[];
  pa: Typed<PeerAuthenticationSpec>[];
  ap: Typed<AuthorizationPolicySpec>[];
  ra: Typed<RequestAuthenticationSpec>[];
  all: Typed<unknown>[];
  findings: Finding[];
}

const ISTIO_GROUPS = new Set([NETWORKING_GROUP, SECURITY_GROUP]);

export function isIstioApi(apiVersion: string): boolean {
  return ISTIO_GROUPS.has(apiVersion.split('/')[0] ?? '');
}

function add(ctx: AnalysisContext, info: CodeInfo, t: Pick<Typed<unknown>, 'kind' | 'name' | 'namespace' | 'source'>, message: string, path?: string): void {
  ctx.findings.push({
    code: info.code, name: info.name, severity: info.severity, kind: t.kind, namespace: t.namespace,
    resource: t.name, ...(path !== undefined ? { path } : {}), message, source: t.source,
  });
}

/** Runs every rule over the Istio objects in `configs` (other kinds are ignored). */
export function analyze(configs: readonly ConfigObject[], registry: Registry, opts: AnalyzeOptions): Finding[] {
  const ctx: AnalysisContext = { registry, vs: [], dr: [], gw: [], se: [], pa: [], ap: [], ra: [], all: [], findings: [] };
  for (const c of configs) {
    if (!isIstioApi(c.obj.apiVersion)) continue;
    const t: Typed<unknown> = {
      kind: c.obj.kind, name: c.obj.metadata.name ?? '', namespace: c.obj.metadata.namespace ?? opts.defaultNamespace,
      spec: c.obj.spec ?? {}, source: c.source, raw: c,
    };
    if (!checkKind(ctx, t)) continue;
    if (t.name === '') add(ctx, CODES.invalidResource, t, 'metadata.name is missing: give the resource a name', 'metadata.name');
    if (typeof t.spec !== 'object' || t.spec === null || Array.isArray(t.spec)) {
      add(ctx, CODES.invalidResource, t, 'spec must be a mapping', 'spec');
      continue;
    }
    ctx.all.push(t);
    switch (t.kind) {
      case 'VirtualService': ctx.vs.push(t as Typed<VirtualServiceSpec>); break;
      case 'DestinationRule': ctx.dr.push(t as Typed<DestinationRuleSpec>); break;
      case 'Gateway': ctx.gw.push(t as Typed<GatewaySpec>); break;
      case 'ServiceEntry': ctx.se.push(t as Typed<ServiceEntrySpec>); break;
      case 'PeerAuthentication': ctx.pa.push(t as Typed<PeerAuthenticationSpec>); break;
      case 'AuthorizationPolicy': ctx.ap.push(t as Typed<AuthorizationPolicySpec>); break;
      case 'RequestAuthentication': ctx.ra.push(t as Typed<RequestAuthenticationSpec>); break;
    }
  }
  for (const rule of RULES) rule(ctx);
  return sortFindings(dedupe(ctx.findings));
}

/** Several rules may see the same problem (e.g. our required-field check and the shared validator): keep the first. */
function dedupe(fs: Finding[]): Finding[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const k = `${f.code}|${f.kind}|${f.namespace}|${f.resource}|${f.path ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const SEVERITY_ORDER: Record<Severity, number> = { Error: 0, Warning: 1, Info: 2 };

export function sortFindings(fs: Finding[]): Finding[] {
  return [...fs].sort((a, b) =>
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.code.localeCompare(b.code) || a.namespace.localeCompare(b.namespace) ||
    a.kind.localeCompare(b.kind) || a.resource.localeCompare(b.resource) || (a.path ?? '').localeCompare(b.path ?? ''));
}

function checkKind(ctx: AnalysisContext, t: Typed<unknown>): boolean {
  const [group, version] = t.raw.obj.apiVersion.split('/');
  const info = ISTIO_KINDS.find((k) => k.kind === t.kind && k.group === group);
  if (!info) {
    add(ctx, CODES.unsupportedKind, t, `${t.raw.obj.apiVersion} ${t.kind} is not implemented by Weft and is ignored; supported kinds: ${ISTIO_KINDS.map((k) => k.kind).join(', ')}`);
    return false;
  }
  if (!info.versions.includes(version ?? '')) {
    add(ctx, CODES.unsupportedKind, t, `API version ${t.raw.obj.apiVersion} is not served for ${t.kind}; use ${info.group}/${info.versions[0]}`, 'apiVersion');
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Registry helpers

function servicesByFqdn(reg: Registry): Map<string, RegistryService> {
  return new Map(reg.services.map((s) => [serviceFqdn(s), s]));
}

function serviceEntryHosts(ctx: AnalysisContext): string[] {
  return ctx.se.flatMap((s) => s.spec.hosts ?? []);
}

/** True when an FQDN names a Service or a ServiceEntry host. */
function hostKnown(ctx: AnalysisContext, fqdn: string): boolean {
  if (fqdn.includes('*')) return true; // wildcards are scopes, not references
  if (servicesByFqdn(ctx.registry).has(fqdn)) return true;
  return serviceEntryHosts(ctx).some((h) => hostMatches(h, fqdn));
}

function podsOf(reg: Registry, namespace: string, selector: Record<string, string>): RegistryPod[] {
  return reg.pods.filter((p) => p.namespace === namespace && labelsMatch(selector, p.labels));
}

function fmtLabels(l: Record<string, string>): string {
  return Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',');
}

function short(names: string[], max = 3): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

// ---------------------------------------------------------------------------------------
// Rules

type Rule = (ctx: AnalysisContext) => void;

const unsupportedFieldsRule: Rule = (ctx) => {
  for (const t of ctx.all) {
    const shape = SPEC_SHAPES[t.kind];
    if (!shape) continue;
    for (const p of unsupportedFields(t.spec, shape, 'spec')) {
      add(ctx, CODES.unsupportedField, t, `${p} is not implemented by Weft and is ignored; remove it or check docs/weftctl.md for the supported subset`, p);
    }
  }
};

const requiredFieldsRule: Rule = (ctx) => {
  for (const v of ctx.vs) {
    if (!Array.isArray(v.spec.hosts) || v.spec.hosts.length === 0) add(ctx, CODES.invalidResource, v, 'spec.hosts is empty: list the hosts this VirtualService applies to', 'spec.hosts');
  }
  for (const d of ctx.dr) {
    if (typeof d.spec.host !== 'string' || d.spec.host === '') add(ctx, CODES.invalidResource, d, 'spec.host is required: name the Service this DestinationRule applies to', 'spec.host');
    const seen = new Set<string>();
    (d.spec.subsets ?? []).forEach((s, i) => {
      if (!s || typeof s.name !== 'string' || s.name === '') add(ctx, CODES.invalidResource, d, 'subset has no name', `spec.subsets[${i}].name`);
      else if (seen.has(s.name)) add(ctx, CODES.invalidResource, d, `duplicate subset name "${s.name}": subset names must be unique`, `spec.subsets[${i}].name`);
      else seen.add(s.name);
    });
  }
  for (const g of ctx.gw) {
    if (!Array.isArray(g.spec.servers) || g.spec.servers.length === 0) add(ctx, CODES.invalidResource, g, 'spec.servers is empty: a Gateway needs at least one server (port + hosts)', 'spec.servers');
  }
  for (const p of ctx.pa) {
    const mode = p.spec.mtls?.mode;
    if (mode !== undefined && !['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'].includes(mode)) {
      add(ctx, CODES.invalidResource, p, `mtls.mode "${String(mode)}" is not one of UNSET, DISABLE, PERMISSIVE, STRICT`, 'spec.mtls.mode');
    }
  }
  for (const a of ctx.ap) {
    const action = a.spec.action;
    if (action !== undefined && !['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'].includes(action)) {
      add(ctx, CODES.invalidResource, a, `action "${String(action)}" is not one of ALLOW, DENY, AUDIT, CUSTOM`, 'spec.action');
    }
    if (action === 'CUSTOM' && !a.spec.provider?.name) add(ctx, CODES.invalidResource, a, 'action CUSTOM needs spec.provider.name', 'spec.provider');
  }
};

interface DestRef {
  host: string;
  subset?: string;
  path: string;
}

function destinationsOf(spec: VirtualServiceSpec): DestRef[] {
  const out: DestRef[] = [];
  const push = (d: { host?: string; subset?: string } | undefined, path: string): void => {
    if (d && typeof d.host === 'string') out.push({ host: d.host, ...(d.subset ? { subset: d.subset } : {}), path });
  };
  (spec.http ?? []).forEach((r, i) => {
    (r?.route ?? []).forEach((rd, j) => push(rd?.destination, `spec.http[${i}].route[${j}].destination`));
    if (r?.mirror) push(r.mirror, `spec.http[${i}].mirror`);
  });
  (spec.tcp ?? []).forEach((r, i) => (r?.route ?? []).forEach((rd, j) => push(rd?.destination, `spec.tcp[${i}].route[${j}].destination`)));
  (spec.tls ?? []).forEach((r, i) => (r?.route ?? []).forEach((rd, j) => push(rd?.destination, `spec.tls[${i}].route[${j}].destination`)));
  return out;
}

const destinationsRule: Rule = (ctx) => {
  for (const v of ctx.vs) {
    for (const d of destinationsOf(v.spec)) {
      const fqdn = resolveHost(d.host, v.namespace);
      if (!hostKnown(ctx, fqdn)) {
        add(ctx, CODES.destinationHostNotFound, v,
          `destination host "${d.host}" (${fqdn}) matches no Service or ServiceEntry: fix the name (short names resolve in namespace ${v.namespace}), create the Service, or add a ServiceEntry for an external host`,
          `${d.path}.host`);
        continue;
      }
      if (d.subset === undefined) continue;
      const rules = ctx.dr.filter((r) => typeof r.spec.host === 'string' && resolveHost(r.spec.host, r.namespace) === fqdn);
      const defined = rules.some((r) => (r.spec.subsets ?? []).some((s) => s?.name === d.subset));
      if (!defined) {
        const hint = rules.length === 0
          ? `no DestinationRule exists for ${fqdn}: create one with a subset named "${d.subset}"`
          : `DestinationRule ${rules.map((r) => `${r.namespace}/${r.name}`).join(', ')} defines ${short(rules.flatMap((r) => (r.spec.subsets ?? []).map((s) => s?.name ?? '?'))) || 'no subsets'}: add subset "${d.subset}" or fix the name`;
        add(ctx, CODES.subsetNotFound, v, `subset "${d.subset}" of ${fqdn} is not defined; ${hint}`, `${d.path}.subset`);
      }
    }
  }
};

const destinationRuleRule: Rule = (ctx) => {
  const svcs = servicesByFqdn(ctx.registry);
  for (const d of ctx.dr) {
    if (typeof d.spec.host !== 'string' || d.spec.host === '') continue;
    const fqdn = resolveHost(d.spec.host, d.namespace);
    if (!hostKnown(ctx, fqdn)) {
      add(ctx, CODES.destinationRuleHostNotFound, d, `host "${d.spec.host}" (${fqdn}) matches no Service or ServiceEntry, so this rule applies to nothing: fix the host or create the Service`, 'spec.host');
      continue;
    }
    const svc = svcs.get(fqdn);
    if (!svc || svc.selector === undefined) continue; // ServiceEntry or selector-less Service: no pods to check
    (d.spec.subsets ?? []).forEach((s, i) => {
      if (!s?.labels || Object.keys(s.labels).length === 0) return;
      const pods = podsOf(ctx.registry, svc.namespace, { ...svc.selector, ...s.labels });
      if (pods.length === 0) {
        add(ctx, CODES.subsetSelectsNoPods, d,
          `subset "${s.name}" selects no pods: no pod in ${svc.namespace} has both the Service selector {${fmtLabels(svc.selector ?? {})}} and the subset labels {${fmtLabels(s.labels)}}; fix the labels or deploy that version, or traffic to this subset gets 503 no healthy upstream`,
          `spec.subsets[${i}].labels`);
      }
    });
  }
};

/** Empty object or only undefined values. */
function isEmptyMatch(m: HTTPMatchRequest | undefined): boolean {
  return !m || Object.values(m).every((v) => v === undefined);
}

/** A route with no match, or with a match that matches everything, catches all traffic. */
function isCatchAll(r: HTTPRoute): boolean {
  if (!r.match || r.match.length === 0) return true;
  return r.match.some((m) => {
    if (isEmptyMatch(m)) return true;
    const keys = Object.keys(m).filter((k) => (m as Record<string, unknown>)[k] !== undefined && k !== 'name');
    return keys.length === 1 && keys[0] === 'uri' && m.uri?.prefix === '/';
  });
}

/** True when every request matching `later` also matches `earlier`. Conservative. */
export function matchCovers(earlier: HTTPMatchRequest, later: HTTPMatchRequest): boolean {
  for (const [k, ev] of Object.entries(earlier)) {
    if (ev === undefined || k === 'name') continue;
    const lv = (later as Record<string, unknown>)[k];
    if (k === 'uri') {
      const e = ev as HTTPMatchRequest['uri'];
      const l = lv as HTTPMatchRequest['uri'];
      if (!e || !l || (earlier.ignoreUriCase ?? false) !== (later.ignoreUriCase ?? false)) return false;
      if (e.prefix !== undefined && e.exact === undefined && e.regex === undefined) {
        const target = l.prefix ?? l.exact;
        if (target === undefined || !target.startsWith(e.prefix)) return false;
        continue;
      }
      if (JSON.stringify(e) !== JSON.stringify(l)) return false;
      continue;
    }
    if (JSON.stringify(ev) !== JSON.stringify(lv)) return false;
  }
  return true;
}

const shadowRule: Rule = (ctx) => {
  for (const v of ctx.vs) {
    const routes = v.spec.http ?? [];
    routes.forEach((r, i) => {
      if (!r || i === 0) return;
      for (let j = 0; j < i; j++) {
        const e = routes[j];
        if (!e) continue;
        const label = (x: HTTPRoute, n: number): string => (x.name ? `"${x.name}" (http[${n}])` : `http[${n}]`);
        if (isCatchAll(e)) {
          add(ctx, CODES.routeShadowed, v,
            `route ${label(r, i)} is never used: ${label(e, j)} before it matches every request; move the catch-all route to the end of spec.http`,
            `spec.http[${i}]`);
          return;
        }
        const eMatches = e.match ?? [];
        const rMatches = r.match ?? [];
        if (rMatches.length > 0 && rMatches.every((m) => eMatches.some((em) => matchCovers(em, m)))) {
          add(ctx, CODES.routeShadowed, v,
            `route ${label(r, i)} is never used: every request it matches is already matched by ${label(e, j)}; put the more specific route first`,
            `spec.http[${i}]`);
          return;
        }
      }
    });
  }
};

function appliesToMesh(spec: VirtualServiceSpec): boolean {
  return !spec.gateways || spec.gateways.length === 0 || spec.gateways.includes('mesh');
}

const conflictRule: Rule = (ctx) => {
  const owner = new Map<string, Typed<VirtualServiceSpec>>();
  for (const v of [...ctx.vs].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    if (!appliesToMesh(v.spec)) continue;
    for (const h of v.spec.hosts ?? []) {
      if (typeof h !== 'string') continue;
      const fqdn = resolveHost(h, v.namespace);
      const first = owner.get(fqdn);
      if (first && first !== v) {
        add(ctx, CODES.conflictingVirtualServices, v,
          `host ${fqdn} is also claimed by VirtualService ${first.namespace}/${first.name}; sidecars use only one of them: merge the routes into one VirtualService`,
          'spec.hosts');
      } else owner.set(fqdn, v);
    }
  }
};

const vsHostsRule: Rule = (ctx) => {
  for (const v of ctx.vs) {
    if (!appliesToMesh(v.spec) || (v.spec.gateways?.length ?? 0) > 0) continue; // gateway-bound hosts are external names
    (v.spec.hosts ?? []).forEach((h, i) => {
      if (typeof h !== 'string') return;
      const fqdn = resolveHost(h, v.namespace);
      if (!hostKnown(ctx, fqdn)) {
        add(ctx, CODES.virtualServiceHostNotFound, v,
          `host "${h}" (${fqdn}) is no Service or ServiceEntry, so no sidecar ever applies these routes: fix the host, create the Service, or add a ServiceEntry`,
          `spec.hosts[${i}]`);
      }
    });
  }
};

const weightsRule: Rule = (ctx) => {
  for (const v of ctx.vs) {
    const check = (routes: { weight?: number }[] | undefined, path: string): void => {
      if (!routes || routes.length === 0) return;
      if (routes.some((r) => typeof r?.weight === 'number' && r.weight < 0)) {
        add(ctx, CODES.invalidRouteWeights, v, 'route weights must not be negative', path);
        return;
      }
      if (routes.length === 1 && routes[0]?.weight === undefined) return;
      if (routes.every((r) => r?.weight === undefined)) return;
      const sum = routes.reduce((a, r) => a + (r?.weight ?? 0), 0);
      if (sum !== 100) add(ctx, CODES.invalidRouteWeights, v, `route weights add up to ${sum}, not 100: adjust them so the split is what you mean`, path);
    };
    (v.spec.http ?? []).forEach((r, i) => check(r?.route, `spec.http[${i}].route`));
    (v.spec.tcp ?? []).forEach((r, i) => check(r?.route, `spec.tcp[${i}].route`));
    (v.spec.tls ?? []).forEach((r, i) => check(r?.route, `spec.tls[${i}].route`));
  }
};

const gatewayRefsRule: Rule = (ctx) => {
  const known = new Set(ctx.gw.map((g) => `${g.namespace}/${g.name}`));
  for (const v of ctx.vs) {
    (v.spec.gateways ?? []).forEach((g, i) => {
      if (typeof g !== 'string' || g === 'mesh') return;
      const key = g.includes('/') ? g : `${v.namespace}/${g}`;
      if (!known.has(key)) {
        add(ctx, CODES.gatewayNotFound, v, `gateway "${g}" (${key}) does not exist: create the Gateway or write it as <namespace>/<name>`, `spec.gateways[${i}]`);
      }
    });
  }
};

const gatewaySelectorRule: Rule = (ctx) => {
  for (const g of ctx.gw) {
    const sel = g.spec.selector;
    if (!sel || Object.keys(sel).length === 0) {
      add(ctx, CODES.invalidResource, g, 'spec.selector is empty: it must pick the gateway pods, e.g. istio: ingressgateway', 'spec.selector');
      continue;
    }
    // Like Istio, a Gateway selector matches gateway pods in any namespace.
    if (!ctx.registry.pods.some((p) => labelsMatch(sel, p.labels))) {
      add(ctx, CODES.gatewaySelectorNoPods, g,
        `selector {${fmtLabels(sel)}} matches no pod: deploy a gateway (MeshConfig spec.gateways with matching labels) or fix the selector`,
        'spec.selector');
    }
  }
};

function selectorOf(spec: { selector?: { matchLabels?: Record<string, string> } }): Record<string, string> | undefined {
  const m = spec.selector?.matchLabels;
  return m && Object.keys(m).length > 0 ? m : undefined;
}

const policySelectorRule: Rule = (ctx) => {
  for (const t of [...ctx.pa, ...ctx.ap, ...ctx.ra] as Typed<{ selector?: { matchLabels?: Record<string, string> } }>[]) {
    const sel = selectorOf(t.spec);
    if (!sel) continue;
    if (podsOf(ctx.registry, t.namespace, sel).length === 0) {
      add(ctx, CODES.selectorMatchesNoPods, t, `selector {${fmtLabels(sel)}} matches no pod in namespace ${t.namespace}, so this policy applies to nothing: fix the labels`, 'spec.selector.matchLabels');
    }
  }
};

const strictRule: Rule = (ctx) => {
  const mesh = ctx.registry.meshNamespace;
  const nsModes = new Map<string, string | undefined>();
  for (const p of ctx.pa) if (!selectorOf(p.spec)) nsModes.set(p.namespace, p.spec.mtls?.mode);
  for (const p of ctx.pa) {
    if (p.spec.mtls?.mode !== 'STRICT') continue;
    const meshWide = p.namespace === mesh && !selectorOf(p.spec);
    const unmeshed = ctx.registry.pods.filter((pod) => {
      if (pod.injected) return false;
      if (meshWide) {
        if (SYSTEM_NAMESPACES.includes(pod.namespace) || pod.namespace === mesh) return false;
        const override = nsModes.get(pod.namespace);
        return override === undefined || override === 'STRICT' || override === 'UNSET';
      }
      return pod.namespace === p.namespace;
    });
    if (unmeshed.length === 0) continue;
    const scope = meshWide ? 'mesh-wide' : selectorOf(p.spec) ? `for {${fmtLabels(selectorOf(p.spec) ?? {})}} in ${p.namespace}` : `namespace-wide in ${p.namespace}`;
    add(ctx, CODES.strictWithUnmeshedClients, p,
      `STRICT mTLS ${scope}, but ${unmeshed.length} pod(s) have no sidecar and send plaintext, which is refused: ${short(unmeshed.map((x) => `${x.namespace}/${x.name}`))}; inject them (label the namespace weft.dev/injection=enabled and restart) or use PERMISSIVE until they are`,
      'spec.mtls.mode');
  }
};

const authzRule: Rule = (ctx) => {
  for (const a of ctx.ap) {
    const action = a.spec.action ?? 'ALLOW';
    const rules = a.spec.rules;
    const specKeys = Object.keys(a.spec as object).filter((k) => (a.spec as Record<string, unknown>)[k] !== undefined);
    if (action === 'ALLOW' && (!rules || rules.length === 0)) {
      if (specKeys.length === 0) {
        add(ctx, CODES.denyAllIdiom, a, `empty spec: denies all requests to every workload in ${a.namespace}; if that is not intended, add rules or delete the policy`);
      } else {
        const scope = selectorOf(a.spec) ? `workloads {${fmtLabels(selectorOf(a.spec) ?? {})}}` : `every workload in ${a.namespace}`;
        add(ctx, CODES.allowPolicyDeniesAll, a,
          `ALLOW policy without rules matches no request, so every request to ${scope} is denied: add rules (from/to/when) that describe the allowed callers, or use "rules: [{}]" to allow all`,
          'spec.rules');
      }
      continue;
    }
    if (action === 'DENY') {
      (rules ?? []).forEach((r, i) => {
        const empty = !r || ((r.from ?? []).length === 0 && (r.to ?? []).length === 0 && (r.when ?? []).length === 0);
        if (empty) {
          add(ctx, CODES.denyPolicyMatchesAll, a,
            `DENY rule ${i} is empty and matches every request, so all traffic is denied: add from/to/when conditions to narrow it`,
            `spec.rules[${i}]`);
        }
      });
    }
  }
};

/** The shared validators (the same ones the admission webhook serves) and their unsupported-field warnings. */
const validatorRule: Rule = (ctx) => {
  for (const t of ctx.all) {
    const kind = t.kind as IstioKind;
    const validate = ISTIO_VALIDATORS[kind];
    if (!validate) continue;
    for (const i of validate(t.raw.obj)) add(ctx, /weight/i.test(i.message) ? CODES.invalidRouteWeights : CODES.invalidResource, t, i.message, i.path || undefined);
    for (const i of unsupportedFieldWarnings(kind, t.raw.obj)) add(ctx, CODES.unsupportedField, t, `${i.path} is not implemented by Weft and is ignored`, i.path);
  }
};

const RULES: readonly Rule[] = [
  // Our own, more specific checks first: dedupe keeps the first finding per code and path.
  unsupportedFieldsRule, requiredFieldsRule, weightsRule, validatorRule, destinationsRule, destinationRuleRule, shadowRule, conflictRule,
  vsHostsRule, gatewayRefsRule, gatewaySelectorRule, policySelectorRule, strictRule, authzRule,
];

/** Counts by severity, for the summary line and the exit code. */
export function countBySeverity(fs: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { Error: 0, Warning: 0, Info: 0 };
  for (const f of fs) out[f.severity]++;
  return out;
}
