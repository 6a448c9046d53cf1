// Authorization (Envoy RBAC HTTP filter) for weft-proxy: compile at config time, evaluate per request.
export { compileRbacFilter, evaluateRbac, RBAC_DENIED_BODY, RBAC_DENIED_STATUS } from './engine.js';
export type { AuthzDecision, RbacAction, RbacFilter } from './engine.js';
export type { AuthzConnection, AuthzRequest } from './request.js';
export { HTTP_RBAC_TYPE } from './shapes.js';
export type { HttpRbacShape } from './shapes.js';
export { authorizeRequest } from './check.js';
export type { ConnectionAuthz, RequestFacts } from './check.js';
export { clientCertError } from './peer.js';
