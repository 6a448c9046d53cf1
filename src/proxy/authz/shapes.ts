// Envoy v3 RBAC shapes (envoy.config.rbac.v3), snake_case as proto-loader decodes them:
// enums may be names or numbers, proto3 defaults are omitted (action ALLOW = 0 may be absent).
import type { EnumLike, HeaderMatcher, StringMatcher, UInt32Value } from '../config/envoy-shapes.js';

export interface CidrRangeShape { address_prefix?: string; prefix_len?: UInt32Value }
export interface PathMatcherShape { path?: StringMatcher }

export interface PermissionShape {
  any?: boolean;
  header?: HeaderMatcher;
  url_path?: PathMatcherShape;
  destination_port?: number;
  destination_port_range?: { start?: number; end?: number };
  destination_ip?: CidrRangeShape;
  and_rules?: { rules?: PermissionShape[] };
  or_rules?: { rules?: PermissionShape[] };
  not_rule?: PermissionShape;
  [other: string]: unknown;
}

export interface ValueMatcherShape {
  string_match?: StringMatcher;
  present_match?: boolean;
  list_match?: { one_of?: ValueMatcherShape };
  [other: string]: unknown;
}

export interface MetadataMatcherShape {
  filter?: string;
  path?: { key?: string }[];
  value?: ValueMatcherShape;
  invert?: boolean;
}

export interface PrincipalShape {
  any?: boolean;
  authenticated?: { principal_name?: StringMatcher };
  source_ip?: CidrRangeShape;
  direct_remote_ip?: CidrRangeShape;
  remote_ip?: CidrRangeShape;
  header?: HeaderMatcher;
  url_path?: PathMatcherShape;
  metadata?: MetadataMatcherShape;
  and_ids?: { ids?: PrincipalShape[] };
  or_ids?: { ids?: PrincipalShape[] };
  not_id?: PrincipalShape;
  [other: string]: unknown;
}

export interface PolicyShape { permissions?: PermissionShape[]; principals?: PrincipalShape[]; condition?: unknown; checked_condition?: unknown }

export interface RbacRulesShape { action?: EnumLike; policies?: Record<string, PolicyShape> }

/** envoy.extensions.filters.http.rbac.v3.RBAC */
export interface HttpRbacShape {
  rules?: RbacRulesShape;
  matcher?: unknown;
  shadow_rules?: unknown;
  shadow_matcher?: unknown;
  shadow_rules_stat_prefix?: string;
  rules_stat_prefix?: string;
  track_per_rule_stats?: boolean;
}

export const HTTP_RBAC_TYPE = 'envoy.extensions.filters.http.rbac.v3.RBAC';

/** envoy.extensions.filters.network.rbac.v3.RBAC (the filter in front of tcp_proxy on TCP ports). */
export interface NetworkRbacShape {
  rules?: RbacRulesShape;
  matcher?: unknown;
  shadow_rules?: unknown;
  shadow_matcher?: unknown;
  shadow_rules_stat_prefix?: string;
  stat_prefix?: string;
  enforcement_type?: EnumLike;
  delay_deny?: unknown;
}

export const NETWORK_RBAC_TYPE = 'envoy.extensions.filters.network.rbac.v3.RBAC';
