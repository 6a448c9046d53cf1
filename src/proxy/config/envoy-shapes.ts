// The subset of Envoy v3 resources the proxy reads, in the snake_case shape that
// @grpc/proto-loader / protobufjs produce with keepCase. Every field is optional because
// proto3 omits defaults; enums may arrive as names or numbers, int64 as number, string or Long.

export type Int64Like = number | string | { toString(): string };
export interface Duration { seconds?: Int64Like; nanos?: number }
export interface UInt32Value { value?: number }
export interface BoolValue { value?: boolean }
export type EnumLike = string | number;

export interface SocketAddress { address?: string; port_value?: number }
export interface Address { socket_address?: SocketAddress }

/** An Any, either already decoded (`@type` plus fields) or still packed. */
export interface AnyLike { '@type'?: string; type_url?: string; value?: Uint8Array; [field: string]: unknown }

export interface RegexMatcher { regex?: string }
export interface StringMatcher {
  exact?: string; prefix?: string; suffix?: string; contains?: string; safe_regex?: RegexMatcher; ignore_case?: boolean;
}
export interface HeaderMatcher {
  name?: string; exact_match?: string; safe_regex_match?: RegexMatcher; prefix_match?: string; suffix_match?: string;
  contains_match?: string; present_match?: boolean; string_match?: StringMatcher; invert_match?: boolean;
  range_match?: { start?: Int64Like; end?: Int64Like };
}
export interface QueryParameterMatcher { name?: string; string_match?: StringMatcher; present_match?: boolean }
export interface RouteMatchShape {
  prefix?: string; path?: string; safe_regex?: RegexMatcher; path_separated_prefix?: string;
  case_sensitive?: BoolValue; headers?: HeaderMatcher[]; query_parameters?: QueryParameterMatcher[];
}
export interface HeaderValueOption {
  header?: { key?: string; value?: string }; append?: BoolValue; append_action?: EnumLike;
}
export interface RetryPolicyShape {
  retry_on?: string; num_retries?: UInt32Value; per_try_timeout?: Duration; retriable_status_codes?: number[];
  retry_host_predicate?: { name?: string }[]; host_selection_retry_max_attempts?: Int64Like;
  retry_back_off?: { base_interval?: Duration; max_interval?: Duration };
}
export interface RuntimeFractionalPercent { default_value?: { numerator?: number; denominator?: EnumLike } }
export interface RouteActionShape {
  cluster?: string; cluster_header?: string;
  weighted_clusters?: { clusters?: { name?: string; weight?: UInt32Value }[]; total_weight?: UInt32Value };
  prefix_rewrite?: string; regex_rewrite?: { pattern?: RegexMatcher; substitution?: string };
  host_rewrite_literal?: string; auto_host_rewrite?: BoolValue;
  timeout?: Duration; idle_timeout?: Duration; retry_policy?: RetryPolicyShape;
  request_mirror_policies?: { cluster?: string; runtime_fraction?: RuntimeFractionalPercent }[];
  hash_policy?: {
    header?: { header_name?: string }; cookie?: { name?: string }; connection_properties?: { source_ip?: boolean };
    terminal?: boolean;
  }[];
}
export interface RedirectActionShape {
  https_redirect?: boolean; scheme_redirect?: string; host_redirect?: string; port_redirect?: number;
  path_redirect?: string; prefix_rewrite?: string; response_code?: EnumLike; strip_query?: boolean;
}
export interface RouteShape {
  name?: string; match?: RouteMatchShape; route?: RouteActionShape; redirect?: RedirectActionShape;
  direct_response?: { status?: number; body?: { inline_string?: string } };
  request_headers_to_add?: HeaderValueOption[]; request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[]; response_headers_to_remove?: string[];
  typed_per_filter_config?: Record<string, AnyLike>;
}
export interface VirtualHostShape {
  name?: string; domains?: string[]; routes?: RouteShape[]; retry_policy?: RetryPolicyShape;
  request_headers_to_add?: HeaderValueOption[]; request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[]; response_headers_to_remove?: string[];
}
export interface RouteConfigurationShape {
  name?: string; virtual_hosts?: VirtualHostShape[];
  request_headers_to_add?: HeaderValueOption[]; request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[]; response_headers_to_remove?: string[];
}

export interface CertificateValidationContextShape {
  trusted_ca?: { inline_string?: string; inline_bytes?: Uint8Array; filename?: string };
  match_subject_alt_names?: StringMatcher[];
  match_typed_subject_alt_names?: { san_type?: EnumLike; matcher?: StringMatcher }[];
}
export interface CommonTlsContextShape {
  tls_certificate_sds_secret_configs?: { name?: string }[];
  validation_context_sds_secret_config?: { name?: string };
  combined_validation_context?: {
    default_validation_context?: CertificateValidationContextShape;
    validation_context_sds_secret_config?: { name?: string };
  };
  validation_context?: CertificateValidationContextShape;
  alpn_protocols?: string[];
}
export interface TransportSocketShape { name?: string; typed_config?: AnyLike }

export interface HttpConnectionManagerShape {
  stat_prefix?: string; rds?: { route_config_name?: string }; route_config?: RouteConfigurationShape;
  http_filters?: { name?: string; typed_config?: AnyLike }[]; stream_idle_timeout?: Duration; request_timeout?: Duration;
  max_request_headers_kb?: UInt32Value; common_http_protocol_options?: { max_headers_count?: UInt32Value };
}
export interface TcpProxyShape {
  stat_prefix?: string; cluster?: string; weighted_clusters?: { clusters?: { name?: string; weight?: number }[] };
  idle_timeout?: Duration;
}
export interface FilterChainShape {
  name?: string;
  filter_chain_match?: {
    destination_port?: UInt32Value; server_names?: string[]; transport_protocol?: string; application_protocols?: string[];
    prefix_ranges?: { address_prefix?: string; prefix_len?: UInt32Value }[];
  };
  filters?: { name?: string; typed_config?: AnyLike }[];
  transport_socket?: TransportSocketShape;
}
export interface ListenerShape {
  name?: string; address?: Address; filter_chains?: FilterChainShape[]; default_filter_chain?: FilterChainShape;
  use_original_dst?: BoolValue; bind_to_port?: BoolValue; listener_filters_timeout?: Duration;
  listener_filters?: { name?: string }[];
}

export interface LbEndpointShape {
  endpoint?: { address?: Address; hostname?: string }; health_status?: EnumLike; load_balancing_weight?: UInt32Value;
}
export interface LocalityLbEndpointsShape {
  locality?: { region?: string; zone?: string; sub_zone?: string }; lb_endpoints?: LbEndpointShape[];
  load_balancing_weight?: UInt32Value; priority?: number;
}
export interface ClusterLoadAssignmentShape { cluster_name?: string; endpoints?: LocalityLbEndpointsShape[] }

export interface ThresholdsShape {
  priority?: EnumLike; max_connections?: UInt32Value; max_pending_requests?: UInt32Value; max_requests?: UInt32Value;
  max_retries?: UInt32Value;
  retry_budget?: { budget_percent?: { value?: number }; min_retry_concurrency?: UInt32Value };
}
export interface OutlierDetectionShape {
  consecutive_5xx?: UInt32Value; consecutive_gateway_failure?: UInt32Value; interval?: Duration;
  base_ejection_time?: Duration; max_ejection_percent?: UInt32Value; enforcing_consecutive_5xx?: UInt32Value;
  enforcing_consecutive_gateway_failure?: UInt32Value;
}
export interface ClusterShape {
  name?: string; type?: EnumLike; eds_cluster_config?: { service_name?: string }; connect_timeout?: Duration;
  lb_policy?: EnumLike; load_assignment?: ClusterLoadAssignmentShape; circuit_breakers?: { thresholds?: ThresholdsShape[] };
  outlier_detection?: OutlierDetectionShape; transport_socket?: TransportSocketShape;
  http2_protocol_options?: Record<string, unknown>;
  typed_extension_protocol_options?: Record<string, AnyLike>;
  ring_hash_lb_config?: { minimum_ring_size?: Int64Like; maximum_ring_size?: Int64Like };
  common_lb_config?: { locality_weighted_lb_config?: Record<string, unknown> };
  upstream_bind_config?: { source_address?: SocketAddress };
  original_dst_lb_config?: { use_http_header?: boolean; http_header_name?: string };
  cleanup_interval?: Duration;
}
