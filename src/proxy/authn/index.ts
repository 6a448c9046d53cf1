// Request authentication (Envoy jwt_authn) for weft-proxy: compile at config time, verify per request.
export { compileJwtAuthnFilter } from './compile.js';
export { authenticate, istioAuthn } from './authenticate.js';
export type { AuthnDeny, AuthnMetadata, AuthnOutcome, AuthnPass, AuthnRequest, KeyResolver } from './authenticate.js';
export { JwksCache } from './jwks-cache.js';
export type { JwtAuthnFilter, JwtProvider, RemoteJwks } from './model.js';
export { JWT_AUTHN_TYPE } from './shapes.js';
export type { JwtAuthenticationShape } from './shapes.js';
export { FAILURE_TEXT, type JwtFailure } from './failures.js';
