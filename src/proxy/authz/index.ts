// Authorization (Envoy RBAC HTTP and network filters) for weft-proxy: compile at config time,
// evaluate per request (HTTP) or once per connection (network).
export { compileNetworkRbacFilter, compileRbacFilter, evaluateNetworkRbac, evaluateRbac, RBAC_DENIED_BODY, RBAC_DENIED_STATUS } from './engine.js';
export type { AuthzDecision, RbacAction, RbacFilter } from './engine.js';
export type { AuthzConnection, AuthzRequest } from './request.js';
export { HTTP_RBAC_TYPE, NETWORK_RBAC_TYPE } from './shapes.js';
export type { HttpRbacShape, NetworkRbacShape } from './shapes.js';
export { applyAuthnHeaders, authorizeRequest, checkRequest } from './check.js';
export type { ConnectionAuthz, RequestFacts, SecurityEnv, SecurityVerdict } from './check.js';
export { clientCertError } from './peer.js';
