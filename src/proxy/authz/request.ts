// What RBAC looks at for one request: the connection facts and the request headers.
import { normalizeRequestPath } from '../../envoy/path.js';

export interface AuthzConnection {
  /** The downstream peer's address (Envoy's direct_remote_ip / source_ip). */
  remoteIp?: string;
  /** The address the connection was sent to (original destination when captured). */
  localIp?: string;
  /** The destination port the filter chain matched (original destination port when captured). */
  destinationPort?: number;
  /** The verified peer's SPIFFE URI from mTLS; undefined on plaintext. */
  peerPrincipal?: string;
}

export interface AuthzRequest extends AuthzConnection {
  method: string;
  /** The raw request target (path and query) as received. */
  rawPath: string;
  authority: string;
  /** Header value by lower-case name; repeated headers joined with ','. */
  header: (name: string) => string | undefined;
  /** Dynamic metadata per filter (e.g. istio_authn from JWT validation), JSON-like values; empty when none ran. */
  metadata?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Precomputed views of a request, computed once per evaluation. */
export interface PreparedRequest {
  req: AuthzRequest;
  /** Normalised path without query or fragment (Envoy normalize_path + merge_slashes + unescape). */
  urlPath: string;
  /** The :path RBAC header matchers see: the normalised path plus the original query. */
  pathHeader: string;
}

export function prepareRequest(req: AuthzRequest): PreparedRequest {
  const urlPath = normalizeRequestPath(req.rawPath);
  const q = req.rawPath.search(/[?#]/);
  const query = q >= 0 && req.rawPath[q] === '?' ? req.rawPath.slice(q).replace(/#.*$/, '') : '';
  return { req, urlPath, pathHeader: urlPath + query };
}

/** Header value the way Envoy's RBAC header matchers see it, pseudo-headers included. */
export function headerValue(p: PreparedRequest, name: string): string | undefined {
  switch (name) {
    case ':method': return p.req.method;
    case ':path': return p.pathHeader;
    case ':authority': case 'host': return p.req.authority;
    default: return p.req.header(name);
  }
}
