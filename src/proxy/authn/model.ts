// The compiled jwt_authn filter the proxy runs: providers, where their tokens are, and the
// requirement each request path must meet.
import type { VerifyKey } from '../../api/jwks.js';
import type { VerifyPolicy } from './verify.js';

export type TokenLocation =
  | { kind: 'header'; name: string; prefix: string; ignoreCase: boolean }
  | { kind: 'param'; name: string }
  | { kind: 'cookie'; name: string };

export interface RemoteJwks {
  uri: string;
  /** The cluster the fetch goes through (http_uri.cluster): never any other address. */
  cluster: string;
  timeoutMs: number;
  cacheMs: number;
}

export type JwksSource = { kind: 'local'; keys: VerifyKey[] } | { kind: 'remote'; remote: RemoteJwks };

export interface JwtProvider {
  name: string;
  policy: VerifyPolicy;
  jwks: JwksSource;
  locations: TokenLocation[];
  forward: boolean;
  forwardPayloadHeader?: string;
  payloadInMetadata?: string;
  claimToHeaders: { header: string; claim: string }[];
}

export type Requirement =
  | { kind: 'provider'; name: string; audiences?: string[] }
  | { kind: 'any'; list: Requirement[] }
  | { kind: 'all'; list: Requirement[] }
  | { kind: 'allow-missing' }
  | { kind: 'allow-missing-or-failed' };

export interface RequirementRule {
  /** Matches the request's path (Envoy RouteMatch: prefix on the path, exact/regex without the query). */
  matches: (rawPath: string) => boolean;
  /** undefined: requests on this path are not verified (Envoy's rule without requirement). */
  requirement?: Requirement;
}

export interface JwtAuthnFilter {
  name: string;
  providers: ReadonlyMap<string, JwtProvider>;
  rules: RequirementRule[];
  bypassCorsPreflight: boolean;
}

/** Envoy's clock_skew_seconds default. */
export const DEFAULT_CLOCK_SKEW_SEC = 60;
/** Envoy's remote JWKS cache_duration default (5 minutes). */
export const DEFAULT_JWKS_CACHE_MS = 300_000;
/** Fetch timeout when http_uri.timeout is unset. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
