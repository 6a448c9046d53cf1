// AuthorizationPolicy -> Envoy RBAC filter configs (HTTP and network flavours).
import type { AuthorizationPolicy, AuthorizationRule } from '../../api/istio/types.js';
import { targetsOtherProxies } from '../../api/istio/types.js';
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { labelsMatch, type MeshModel, type ProxyContext } from '../model.js';

type Matcher = Record<string, unknown>;

function or(list: Matcher[]): Matcher {
  return list.length === 1 ? list[0]! : { or_rules: { rules: list } };
}

function pathMatcher(p: string): Matcher {
  // url_path matches the normalised path without query or fragment (see normalizeRequestPath).
  if (p === '*') return { url_path: { path: { safe_regex: { regex: '.+' } } } };
  if (p.endsWith('*')) return { url_path: { path: { prefix: p.slice(0, -1) } } };
  if (p.startsWith('*')) return { url_path: { path: { suffix: p.slice(1) } } };
  return { url_path: { path: { exact: p } } };
}

function stringValue(v: string): Matcher {
  if (v === '*') return { safe_regex: { regex: '.+' } };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  return { exact: v };
}

function headerMatcher(name: string, v: string): Matcher {
  return { header: { name, string_match: stringValue(v) } };
}

function cidr(v: string): Matcher {
  const [address, len] = v.split('/');
  return { address_prefix: address, prefix_len: { value: len !== undefined ? Number(len) : address!.includes(':') ? 128 : 32 } };
}

function principalName(trustDomain: string, p: string): Matcher {
  if (p === '*') return { authenticated: { principal_name: { safe_regex: { regex: '.+' } } } };
  const withScheme = (s: string): string => `spiffe://${s}`;
  if (p.endsWith('*')) return { authenticated: { principal_name: { prefix: withScheme(p.slice(0, -1)) } } };
  if (p.startsWith('*')) return { authenticated: { principal_name: { suffix: p.slice(1) } } };
  return { authenticated: { principal_name: { exact: withScheme(p) } } };
}

function namespacePrincipal(ns: string): Matcher {
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${ns.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*` } } } };
}

const AUTHN_FILTER = 'istio_authn';

function authnMetadata(key: string, v: string): Matcher {
  return { metadata: { filter: AUTHN_FILTER, path: [{ key }], value: { string_match: stringValue(v) } } };
}

/** `request.auth.claims[a][b]` -> ["a", "b"]; undefined when the key is not a claim. */
export function claimPath(key: string): string[] | undefined {
  const m = /^request\.auth\.claims((?:\[[^\][]+\])+)$/.exec(key);
  return m ? [...m[1]!.matchAll(/\[([^\][]+)\]/g)].map((x) => x[1]!) : undefined;
}

/** Istio: claims are lists in istio_authn, so the value must be one of the list's elements. */
function claimMetadata(path: string[], v: string): Matcher {
  return {
    metadata: {
      filter: AUTHN_FILTER,
      path: ['request.auth.claims', ...path].map((key) => ({ key })),
      value: { list_match: { one_of: { string_match: stringValue(v) } } },
    },
  };
}

/** Principals combine with or_ids (permissions use or_rules). */
function orIds(list: Matcher[]): Matcher {
  return list.length === 1 ? list[0]! : { or_ids: { ids: list } };
}

function notOf(list: Matcher[]): Matcher {
  return { not_id: orIds(list) };
}

function notPerm(list: Matcher[]): Matcher {
  return { not_rule: or(list) };
}

function rulePermissions(rule: AuthorizationRule): Matcher {
  const alternatives = (rule.to ?? []).map((t) => {
    const o = t.operation ?? {};
    const and: Matcher[] = [];
    if (o.methods?.length) and.push(or(o.methods.map((m) => headerMatcher(':method', m))));
    if (o.notMethods?.length) and.push(notPerm(o.notMethods.map((m) => headerMatcher(':method', m))));
    if (o.paths?.length) and.push(or(o.paths.map(pathMatcher)));
    if (o.notPaths?.length) and.push(notPerm(o.notPaths.map(pathMatcher)));
    if (o.ports?.length) and.push(or(o.ports.map((p) => ({ destination_port: Number(p) }))));
    if (o.notPorts?.length) and.push(notPerm(o.notPorts.map((p) => ({ destination_port: Number(p) }))));
    if (o.hosts?.length) and.push(or(o.hosts.map((h) => ({ header: { name: ':authority', string_match: { ...stringValue(h), ignore_case: true } } }))));
    if (o.notHosts?.length) and.push(notPerm(o.notHosts.map((h) => ({ header: { name: ':authority', string_match: { ...stringValue(h), ignore_case: true } } }))));
    return and.length ? { and_rules: { rules: and } } : { any: true };
  });
  const conditions: Matcher[] = [];
  for (const w of rule.when ?? []) {
    const header = /^request\.headers\[(.+)\]$/.exec(w.key);
    const values = w.values ?? [];
    const notValues = w.notValues ?? [];
    if (header) {
      if (values.length) conditions.push(or(values.map((v) => headerMatcher(header[1]!, v))));
      if (notValues.length) conditions.push(notPerm(notValues.map((v) => headerMatcher(header[1]!, v))));
    } else if (w.key === 'destination.port') {
      if (values.length) conditions.push(or(values.map((v) => ({ destination_port: Number(v) }))));
    } else if (w.key === 'destination.ip') {
      if (values.length) conditions.push(or(values.map((v) => ({ destination_ip: cidr(v) }))));
    }
  }
  const perms = alternatives.length ? [or(alternatives), ...conditions] : conditions;
  if (perms.length === 0) return { any: true };
  return perms.length === 1 ? perms[0]! : { and_rules: { rules: perms } };
}

function rulePrincipals(rule: AuthorizationRule, trustDomain: string): Matcher {
  const alternatives = (rule.from ?? []).map((f) => {
    const s = f.source ?? {};
    const and: Matcher[] = [];
    if (s.principals?.length) and.push(orIds(s.principals.map((p) => principalName(trustDomain, p))));
    if (s.notPrincipals?.length) and.push(notOf(s.notPrincipals.map((p) => principalName(trustDomain, p))));
    if (s.namespaces?.length) and.push(orIds(s.namespaces.map(namespacePrincipal)));
    if (s.notNamespaces?.length) and.push(notOf(s.notNamespaces.map(namespacePrincipal)));
    if (s.ipBlocks?.length) and.push(orIds(s.ipBlocks.map((b) => ({ direct_remote_ip: cidr(b) }))));
    if (s.notIpBlocks?.length) and.push(notOf(s.notIpBlocks.map((b) => ({ direct_remote_ip: cidr(b) }))));
    if (s.remoteIpBlocks?.length) and.push(orIds(s.remoteIpBlocks.map((b) => ({ remote_ip: cidr(b) }))));
    if (s.notRemoteIpBlocks?.length) and.push(notOf(s.notRemoteIpBlocks.map((b) => ({ remote_ip: cidr(b) }))));
    if (s.requestPrincipals?.length) and.push(orIds(s.requestPrincipals.map((p) => authnMetadata('request.auth.principal', p))));
    if (s.notRequestPrincipals?.length) and.push(notOf(s.notRequestPrincipals.map((p) => authnMetadata('request.auth.principal', p))));
    return and.length ? { and_ids: { ids: and } } : { any: true };
  });
  const conditions: Matcher[] = [];
  for (const w of rule.when ?? []) {
    const claim = claimPath(w.key);
    const one = (v: string): Matcher | undefined => {
      if (w.key === 'source.ip') return { direct_remote_ip: cidr(v) };
      if (w.key === 'remote.ip') return { remote_ip: cidr(v) };
      if (w.key === 'source.namespace') return namespacePrincipal(v);
      if (w.key === 'source.principal') return principalName(trustDomain, v);
      if (w.key === 'request.auth.principal' || w.key === 'request.auth.audiences' || w.key === 'request.auth.presenter') return authnMetadata(w.key, v);
      if (claim) return claimMetadata(claim, v);
      return undefined;
    };
    const values = (w.values ?? []).map(one).filter((m): m is Matcher => m !== undefined);
    const notValues = (w.notValues ?? []).map(one).filter((m): m is Matcher => m !== undefined);
    if (values.length) conditions.push(orIds(values));
    if (notValues.length) conditions.push(notOf(notValues));
  }
  const ids = alternatives.length ? [or(alternatives.map((a) => a)), ...conditions] : conditions;
  const fix = (m: Matcher): Matcher => ('or_rules' in m ? { or_ids: { ids: (m['or_rules'] as { rules: Matcher[] }).rules } } : m);
  const fixed = ids.map(fix);
  if (fixed.length === 0) return { any: true };
  return fixed.length === 1 ? fixed[0]! : { and_ids: { ids: fixed } };
}

/** Policies selecting a workload: mesh-wide (root namespace), namespace-wide, or by selector. */
export function policiesFor(model: MeshModel, proxy: ProxyContext): AuthorizationPolicy[] {
  return model.authorizationPolicies
    .filter((p) => {
      const ns = p.metadata.namespace ?? 'default';
      if (ns !== proxy.namespace && ns !== model.rootNamespace) return false;
      if (targetsOtherProxies(p.spec)) return false;
      return labelsMatch(p.spec.selector?.matchLabels, proxy.labels);
    })
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
}

/** HTTP RBAC filters (DENY first, then ALLOW) for the inbound side of a workload. */
export function buildRbacFilters(model: MeshModel, proxy: ProxyContext, network = false): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  for (const action of ['DENY', 'ALLOW'] as const) {
    const pols = policiesFor(model, proxy).filter((p) => (p.spec.action ?? 'ALLOW') === action);
    if (!pols.length) continue;
    const policies: Record<string, unknown> = {};
    for (const p of pols) {
      (p.spec.rules ?? []).forEach((rule, i) => {
        policies[`ns[${p.metadata.namespace ?? ''}]-policy[${p.metadata.name ?? ''}]-rule[${i}]`] = {
          permissions: [rulePermissions(rule)],
          principals: [rulePrincipals(rule, model.trustDomain)],
        };
      });
    }
    const rules = { action, policies };
    out.push(
      network
        ? { name: 'envoy.filters.network.rbac', typed_config: { '@type': TYPE_URLS.networkRbac, stat_prefix: 'tcp.', rules } }
        : { name: `envoy.filters.http.rbac.${action.toLowerCase()}`, typed_config: { '@type': TYPE_URLS.httpRbac, rules } },
    );
  }
  return out;
}
