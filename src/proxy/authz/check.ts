// The per-request entry the HTTP/1 and HTTP/2 paths call: connection facts + request -> decision.
import { evaluateRbac, type AuthzDecision, type RbacFilter } from './engine.js';
import type { AuthzConnection } from './request.js';

/** What a listener hands the HTTP layer for authorization: the chain's filters and the connection. */
export interface ConnectionAuthz { filters: readonly RbacFilter[]; conn: AuthzConnection }

export interface RequestFacts {
  method: string;
  rawPath: string;
  authority: string;
  header: (name: string) => string | undefined;
}

export function authorizeRequest(authz: ConnectionAuthz | undefined, facts: RequestFacts): AuthzDecision {
  if (!authz || authz.filters.length === 0) return { allowed: true };
  return evaluateRbac(authz.filters, { ...authz.conn, ...facts });
}
