// Envoy RBAC filter semantics over compiled policies. A filter with no `rules` enforces
// nothing; ALLOW admits only requests some policy matches (so ALLOW with no policies, Istio's
// allow-nothing, denies everything); DENY refuses requests some policy matches; LOG never
// refuses. Filters run in http_filters order (the control plane puts DENY before ALLOW), and
// the first refusal ends the request with 403 "RBAC: access denied".
import { enumName, invalidConfig } from '../config/convert.js';
import { compilePermission, compilePrincipal, type Predicate, type RbacScope } from './compile.js';
import { prepareRequest, type AuthzConnection, type AuthzRequest, type PreparedRequest } from './request.js';
import type { HttpRbacShape, NetworkRbacShape, PolicyShape, RbacRulesShape } from './shapes.js';

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export interface CompiledPolicy { name: string; matches: Predicate }

export interface RbacFilter {
  name: string;
  /** undefined: the filter has no rules and enforces nothing. */
  action?: RbacAction;
  policies: CompiledPolicy[];
}

export type AuthzDecision = { allowed: true } | { allowed: false; filter: string; policy?: string };

export const RBAC_DENIED_STATUS = 403;
export const RBAC_DENIED_BODY = 'RBAC: access denied';

const ACTIONS = ['ALLOW', 'DENY', 'LOG'];

function compilePolicy(name: string, p: PolicyShape, field: string, scope: RbacScope): CompiledPolicy {
  if (p.condition !== undefined || p.checked_condition !== undefined) {
    throw invalidConfig('RBAC policy conditions (CEL) are not supported', { field: `${field}.condition` });
  }
  const perms = (p.permissions ?? []).map((x, i) => compilePermission(x, `${field}.permissions[${i}]`, scope));
  const ids = (p.principals ?? []).map((x, i) => compilePrincipal(x, `${field}.principals[${i}]`, scope));
  return { name, matches: (r) => perms.some((f) => f(r)) && ids.some((f) => f(r)) };
}

function compileRules(name: string, rules: RbacRulesShape | undefined | null, field: string, scope: RbacScope): RbacFilter {
  if (rules === undefined || rules === null) return { name, policies: [] };
  const action = enumName(rules.action, ACTIONS);
  if (!ACTIONS.includes(action)) throw invalidConfig('unknown RBAC action', { field: `${field}.rules.action`, value: action });
  const policies = Object.keys(rules.policies ?? {}).sort().map((k) =>
    compilePolicy(k, rules.policies![k]!, `${field}.rules.policies[${k}]`, scope));
  return { name, action: action as RbacAction, policies };
}

/** Compiles one envoy.filters.http.rbac config. Throws INVALID_CONFIG (NACK) on anything unsupported. */
export function compileRbacFilter(name: string, cfg: HttpRbacShape, field: string): RbacFilter {
  if (cfg.matcher !== undefined) throw invalidConfig('RBAC matcher API is not supported; use rules', { field: `${field}.matcher` });
  // shadow_rules / shadow_matcher only emit stats and never change a decision; not enforced.
  return compileRules(name, cfg.rules, field, 'http');
}

const ENFORCEMENT = ['ONE_TIME_ON_FIRST_BYTE', 'CONTINUOUS'];

/**
 * Compiles one envoy.filters.network.rbac config: connection-level rules only (header, url_path
 * and metadata rules are refused, as Envoy refuses them). Throws INVALID_CONFIG (NACK).
 */
export function compileNetworkRbacFilter(name: string, cfg: NetworkRbacShape, field: string): RbacFilter {
  if (cfg.matcher !== undefined) throw invalidConfig('RBAC matcher API is not supported; use rules', { field: `${field}.matcher` });
  // Envoy's proto requires a non-empty stat_prefix (PGV min_len 1).
  if (!cfg.stat_prefix) throw invalidConfig('network RBAC filter needs a non-empty stat_prefix', { field: `${field}.stat_prefix` });
  // Both enforcement types give one decision per connection here: the facts RBAC sees
  // (addresses, port, peer certificate) cannot change during a connection.
  const enforcement = enumName(cfg.enforcement_type, ENFORCEMENT);
  if (!ENFORCEMENT.includes(enforcement)) {
    throw invalidConfig('unknown network RBAC enforcement_type', { field: `${field}.enforcement_type`, value: enforcement });
  }
  return compileRules(name, cfg.rules, field, 'network');
}

function evaluatePrepared(filters: readonly RbacFilter[], prepared: PreparedRequest): AuthzDecision {
  for (const f of filters) {
    if (f.action === undefined || f.action === 'LOG') continue;
    const hit = f.policies.find((p) => p.matches(prepared));
    if (f.action === 'DENY' && hit) return { allowed: false, filter: f.name, policy: hit.name };
    if (f.action === 'ALLOW' && !hit) return { allowed: false, filter: f.name };
  }
  return { allowed: true };
}

/** Runs the filters in order; the first refusal wins. */
export function evaluateRbac(filters: readonly RbacFilter[], req: AuthzRequest): AuthzDecision {
  if (filters.length === 0) return { allowed: true };
  return evaluatePrepared(filters, prepareRequest(req));
}

/**
 * Network RBAC: one decision per connection from its facts alone. Network filters never hold
 * request-level predicates (the compiler refuses them), so the request fields stay empty.
 */
export function evaluateNetworkRbac(filters: readonly RbacFilter[], conn: AuthzConnection): AuthzDecision {
  if (filters.length === 0) return { allowed: true };
  const req: AuthzRequest = { ...conn, method: '', rawPath: '', authority: '', header: () => undefined };
  return evaluatePrepared(filters, { req, urlPath: '', pathHeader: '' });
}
