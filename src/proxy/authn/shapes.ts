// Envoy v3 jwt_authn shapes (envoy.extensions.filters.http.jwt_authn.v3), snake_case as
// proto-loader decodes them: oneof members appear as plain keys, Empty as {}.
import type { Duration, StringMatcher } from '../config/envoy-shapes.js';

export interface JwtHeaderShape { name?: string; value_prefix?: string }

export interface HttpUriShape { uri?: string; cluster?: string; timeout?: Duration }

export interface RemoteJwksShape { http_uri?: HttpUriShape; cache_duration?: Duration; async_fetch?: unknown; retry_policy?: unknown }

export interface JwtProviderShape {
  issuer?: string;
  audiences?: string[];
  subjects?: StringMatcher;
  require_expiration?: boolean;
  max_lifetime?: Duration;
  remote_jwks?: RemoteJwksShape;
  local_jwks?: { inline_string?: string; inline_bytes?: Buffer | string; filename?: string; environment_variable?: string };
  forward?: boolean;
  from_headers?: JwtHeaderShape[];
  from_params?: string[];
  from_cookies?: string[];
  forward_payload_header?: string;
  pad_forward_payload_header?: boolean;
  payload_in_metadata?: string;
  header_in_metadata?: string;
  failed_status_in_metadata?: string;
  clock_skew_seconds?: number;
  claim_to_headers?: { header_name?: string; claim_name?: string }[];
  normalize_payload_in_metadata?: unknown;
  jwt_cache_config?: unknown;
  clear_route_cache?: boolean;
  [other: string]: unknown;
}

export interface JwtRequirementShape {
  provider_name?: string;
  provider_and_audiences?: { provider_name?: string; audiences?: string[] };
  requires_any?: { requirements?: JwtRequirementShape[] };
  requires_all?: { requirements?: JwtRequirementShape[] };
  allow_missing_or_failed?: object;
  allow_missing?: object;
}

export interface RequirementRuleShape {
  match?: { prefix?: string; path?: string; safe_regex?: { regex?: string }; headers?: unknown[]; query_parameters?: unknown[]; [other: string]: unknown };
  requires?: JwtRequirementShape;
  requirement_name?: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication */
export interface JwtAuthenticationShape {
  providers?: Record<string, JwtProviderShape>;
  rules?: RequirementRuleShape[];
  requirement_map?: Record<string, JwtRequirementShape>;
  bypass_cors_preflight?: boolean;
  filter_state_rules?: unknown;
  strip_failure_response?: boolean;
  stat_prefix?: string;
}

export const JWT_AUTHN_TYPE = 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
