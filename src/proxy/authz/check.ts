// The per-request entry the HTTP/1 and HTTP/2 paths call: connection facts + request ->
// authentication (jwt_authn, first) then authorization (RBAC over its metadata).
import { authenticate, type AuthnDeny, type AuthnPass, type KeyResolver } from '../authn/authenticate.js';
import type { JwtAuthnFilter } from '../authn/model.js';
import { evaluateRbac, type AuthzDecision, type RbacFilter } from './engine.js';
import type { AuthzConnection } from './request.js';

/** What a listener hands the HTTP layer: the chain's jwt_authn and RBAC filters and the connection. */
export interface ConnectionAuthz { filters: readonly RbacFilter[]; jwt?: readonly JwtAuthnFilter[]; conn: AuthzConnection }

export interface RequestFacts {
  method: string;
  rawPath: string;
  authority: string;
  header: (name: string) => string | undefined;
  /** Filter metadata from earlier filters (jwt_authn); RBAC metadata matchers read it. */
  metadata?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export function authorizeRequest(authz: ConnectionAuthz | undefined, facts: RequestFacts): AuthzDecision {
  if (!authz || authz.filters.length === 0) return { allowed: true };
  return evaluateRbac(authz.filters, { ...authz.conn, ...facts });
}

export type SecurityVerdict =
  | { kind: 'pass'; authn?: AuthnPass }
  | { kind: 'unauthenticated'; deny: AuthnDeny }
  | { kind: 'forbidden'; decision: AuthzDecision & { allowed: false } };

export interface SecurityEnv { scheme: 'http' | 'https'; keys: KeyResolver; now: number }

/** jwt_authn then RBAC, as Istio orders them in http_filters. */
export function checkRequest(authz: ConnectionAuthz | undefined, facts: RequestFacts, env: SecurityEnv): SecurityVerdict {
  if (!authz) return { kind: 'pass' };
  let authn: AuthnPass | undefined;
  if (authz.jwt && authz.jwt.length > 0) {
    const out = authenticate(authz.jwt, { ...facts, scheme: env.scheme }, env.keys, env.now);
    if (out.kind === 'deny') return { kind: 'unauthenticated', deny: out };
    authn = out;
  }
  const decision = authorizeRequest(authz, authn ? { ...facts, metadata: authn.metadata } : facts);
  if (!decision.allowed) return { kind: 'forbidden', decision };
  return authn ? { kind: 'pass', authn } : { kind: 'pass' };
}

/** Applies a passed jwt_authn's header edits (token removal, payload/claim headers) in place. */
export function applyAuthnHeaders(headers: Record<string, unknown>, authn: AuthnPass | undefined): void {
  if (!authn) return;
  for (const h of authn.removeHeaders) delete headers[h];
  for (const [k, v] of Object.entries(authn.setHeaders)) headers[k] = v;
}
