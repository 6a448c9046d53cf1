// Envoy RBAC filter semantics over compiled policies. A filter with no `rules` enforces
// nothing; ALLOW admits only requests some policy matches (so ALLOW with no policies, Istio's
// allow-nothing, denies everything); DENY refuses requests some policy matches; LOG never
// refuses. Filters run in http_filters order (the control plane puts DENY before ALLOW), and
// the first refusal ends the request with 403 "RBAC: access denied".
import { enumName, invalidConfig } from '../config/convert.js';
import { compilePermission, compilePrincipal, type Predicate } from './compile.js';
import { prepareRequest, type AuthzRequest } from './request.js';
import type { HttpRbacShape, PolicyShape } from './shapes.js';

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

function compilePolicy(name: string, p: PolicyShape, field: string): CompiledPolicy {
  if (p.condition !== undefined || p.checked_condition !== undefined) {
    throw invalidConfig('RBAC policy conditions (CEL) are not supported', { field: `${field}.condition` });
  }
  const perms = (p.permissions ?? []).map((x, i) => compilePermission(x, `${field}.permissions[${i}]`));
  const ids = (p.principals ?? []).map((x, i) => compilePrincipal(x, `${field}.principals[${i}]`));
  return { name, matches: (r) => perms.some((f) => f(r)) && ids.some((f) => f(r)) };
}

/** Compiles one envoy.filters.http.rbac config. Throws INVALID_CONFIG (NACK) on anything unsupported. */
export function compileRbacFilter(name: string, cfg: HttpRbacShape, field: string): RbacFilter {
  if (cfg.matcher !== undefined) throw invalidConfig('RBAC matcher API is not supported; use rules', { field: `${field}.matcher` });
  // shadow_rules / shadow_matcher only emit stats and never change a decision; not enforced.
  if (cfg.rules === undefined || cfg.rules === null) return { name, policies: [] };
  const action = enumName(cfg.rules.action, ACTIONS);
  if (!ACTIONS.includes(action)) throw invalidConfig('unknown RBAC action', { field: `${field}.rules.action`, value: action });
  const policies = Object.keys(cfg.rules.policies ?? {}).sort().map((k) =>
    compilePolicy(k, cfg.rules!.policies![k]!, `${field}.rules.policies[${k}]`));
  return { name, action: action as RbacAction, policies };
}

/** Runs the filters in order; the first refusal wins. */
export function evaluateRbac(filters: readonly RbacFilter[], req: AuthzRequest): AuthzDecision {
  if (filters.length === 0) return { allowed: true };
  const prepared = prepareRequest(req);
  for (const f of filters) {
    if (f.action === undefined || f.action === 'LOG') continue;
    const hit = f.policies.find((p) => p.matches(prepared));
    if (f.action === 'DENY' && hit) return { allowed: false, filter: f.name, policy: hit.name };
    if (f.action === 'ALLOW' && !hit) return { allowed: false, filter: f.name };
  }
  return { allowed: true };
}
