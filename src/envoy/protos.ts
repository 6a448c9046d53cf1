// Envoy v3 protos, loaded once from the copies @grpc/grpc-js-xds ships (about Envoy 1.31's API).
// keepCase: field names stay snake_case, exactly as in the .proto files and Envoy's JSON docs.
// Both the control plane (encoding) and the proxy (decoding) use this module.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** Folder holding the Envoy, xds, googleapis and protoc-gen-validate proto trees. */
export const PROTO_DEPS_DIR: string = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

export const PROTO_INCLUDE_DIRS: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  path.join(PROTO_DEPS_DIR, d),
);

/** Every proto file Weft's resources and typed_config extensions need. */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
];

/**
 * Istio's NDS name table (istio/api networking/nds/v1/nds.proto), vendored as protobufjs JSON:
 * grpc-js-xds does not ship Istio's protos and this one message is all the DNS proxy needs.
 * Field numbers are Istio's, so the bytes are wire-compatible with istiod's NDS.
 */
const NDS_PROTO_JSON = {
  istio: { nested: { networking: { nested: { nds: { nested: { v1: { nested: {
    NameTable: {
      fields: { table: { keyType: 'string', type: 'NameInfo', id: 1 } },
      nested: {
        NameInfo: {
          fields: {
            ips: { rule: 'repeated', type: 'string', id: 1 },
            registry: { type: 'string', id: 2 },
            shortname: { type: 'string', id: 3 },
            namespace: { type: 'string', id: 4 },
            alt_hosts: { rule: 'repeated', type: 'string', id: 5 },
          },
        },
      },
    },
  } } } } } } } },
} as const;

interface ProtoLoaderUtil {
  loadProtosWithOptionsSync(filename: string | string[], options: Record<string, unknown>): protobuf.Root;
}

let cachedRoot: protobuf.Root | undefined;

/**
 * The protobufjs Root with every Weft proto resolved. Loaded lazily, once per process
 * (parsing takes a few hundred milliseconds).
 */
export function envoyRoot(): protobuf.Root {
  if (!cachedRoot) {
    // proto-loader's own helper, the one @grpc/grpc-js-xds uses: it applies keepCase and
    // the include dirs and hands back the protobufjs Root, which we need for encode/decode.
    // Requiring the package first registers the well-known protos (descriptor.proto, ...)
    // that protobufjs does not bundle; the Envoy protos import them.
    require('@grpc/proto-loader');
    const util = require('@grpc/proto-loader/build/src/util') as ProtoLoaderUtil;
    const root = util.loadProtosWithOptionsSync([...PROTO_FILES], { keepCase: true, includeDirs: [...PROTO_INCLUDE_DIRS] });
    root.addJSON(NDS_PROTO_JSON);
    root.resolveAll();
    cachedRoot = root;
  }
  return cachedRoot;
}

/** Looks up a message type by its full name, e.g. "envoy.config.cluster.v3.Cluster". */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName.replace(/^type\.googleapis\.com\//, ''));
}
