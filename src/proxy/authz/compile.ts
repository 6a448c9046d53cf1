// Pure compiler: Envoy RBAC permissions and principals -> predicates over a prepared request.
// Every kind Weft does not implement is an INVALID_CONFIG error (a NACK), never ignored:
// ignoring a matcher would silently widen or narrow a security policy.
import { headerMatch } from '../config/build.js';
import { invalidConfig, stringMatch, testStringMatch } from '../config/convert.js';
import type { HeaderMatch, StringMatch } from '../config/model.js';
import type { HeaderMatcher, StringMatcher } from '../config/envoy-shapes.js';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { headerValue, type PreparedRequest } from './request.js';
import type { CidrRangeShape, MetadataMatcherShape, PathMatcherShape, PermissionShape, PrincipalShape, ValueMatcherShape } from './shapes.js';

export type Predicate = (r: PreparedRequest) => boolean;

/** Where a rule runs: an HTTP filter sees requests; a network filter sees only the connection. */
export type RbacScope = 'http' | 'network';

/** Request-level kinds a network RBAC filter refuses, as Envoy does (it has no request to look at). */
const REQUEST_ONLY: ReadonlySet<string> = new Set(['header', 'url_path', 'metadata']);

function requireScope(kind: string, scope: RbacScope, field: string, what: string): void {
  if (scope === 'network' && REQUEST_ONLY.has(kind)) {
    throw invalidConfig(`RBAC ${what} kind '${kind}' is not supported by the network RBAC filter (connection-level rules only)`, {
      field: `${field}.${kind}`, kind,
    });
  }
}

const always: Predicate = () => true;

/** Exactly one oneof member must be set; returns its key. */
function kindOf(obj: Record<string, unknown>, field: string, what: string): string {
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined && obj[k] !== null);
  if (keys.length !== 1) throw invalidConfig(`RBAC ${what} must set exactly one rule kind`, { field, kinds: keys });
  return keys[0]!;
}

function cidr(c: CidrRangeShape | undefined, field: string): Cidr {
  return parseCidr(c?.address_prefix, c?.prefix_len?.value, field);
}

function header(h: HeaderMatcher | undefined, field: string): Predicate {
  if (!h) throw invalidConfig('RBAC header matcher missing', { field });
  const m: HeaderMatch = headerMatch(h, field);
  return (r) => {
    const v = headerValue(r, m.name);
    let ok: boolean;
    if (m.match.kind === 'present') ok = (v !== undefined) === m.match.present;
    else if (v === undefined) return false; // an absent header never matches, even inverted (Envoy)
    else if (m.match.kind === 'range') {
      const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
      ok = n >= m.match.start && n < m.match.end;
    } else ok = testStringMatch(m.match, v);
    return ok !== m.invert;
  };
}

function urlPath(p: PathMatcherShape | undefined, field: string): Predicate {
  if (!p?.path) throw invalidConfig('RBAC url_path needs a path string matcher', { field });
  const m: StringMatch = stringMatch(p.path, `${field}.path`);
  return (r) => testStringMatch(m, r.urlPath);
}

function port(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw invalidConfig('RBAC destination_port out of range', { field, value: v });
  return v;
}

function list<T>(items: T[] | undefined, field: string, compile: (x: T, f: string) => Predicate): Predicate[] {
  return (items ?? []).map((x, i) => compile(x, `${field}[${i}]`));
}

export function compilePermission(p: PermissionShape, field: string, scope: RbacScope = 'http'): Predicate {
  const kind = kindOf(p, field, 'permission');
  requireScope(kind, scope, field, 'permission');
  const sub = (x: PermissionShape, f: string): Predicate => compilePermission(x, f, scope);
  switch (kind) {
    case 'any':
      if (p.any !== true) throw invalidConfig('RBAC permission any must be true', { field });
      return always;
    case 'header': return header(p.header, `${field}.header`);
    case 'url_path': return urlPath(p.url_path, `${field}.url_path`);
    case 'destination_port': {
      const want = port(p.destination_port, `${field}.destination_port`);
      return (r) => r.req.destinationPort === want;
    }
    case 'destination_port_range': {
      const start = port(p.destination_port_range?.start ?? 0, `${field}.destination_port_range.start`);
      const end = p.destination_port_range?.end ?? 0;
      return (r) => r.req.destinationPort !== undefined && r.req.destinationPort >= start && r.req.destinationPort < end;
    }
    case 'destination_ip': {
      const c = cidr(p.destination_ip, `${field}.destination_ip`);
      return (r) => cidrContains(c, r.req.localIp);
    }
    case 'and_rules': {
      const ps = list(p.and_rules?.rules, `${field}.and_rules.rules`, sub);
      return (r) => ps.every((f) => f(r));
    }
    case 'or_rules': {
      const ps = list(p.or_rules?.rules, `${field}.or_rules.rules`, sub);
      return (r) => ps.some((f) => f(r));
    }
    case 'not_rule': {
      const inner = sub(p.not_rule ?? {}, `${field}.not_rule`);
      return (r) => !inner(r);
    }
    default:
      throw invalidConfig('unsupported RBAC permission kind', { field: `${field}.${kind}`, kind });
  }
}

function principalName(m: StringMatcher | undefined, field: string): Predicate {
  // No principal_name: any authenticated (mTLS) peer.
  if (!m) return (r) => r.req.peerPrincipal !== undefined;
  const sm = stringMatch(m, `${field}.principal_name`);
  return (r) => r.req.peerPrincipal !== undefined && testStringMatch(sm, r.req.peerPrincipal);
}

type ValueTest = (v: unknown) => boolean;

/** Envoy ValueMatcher: string (on a string; on a list, any string element: Weft's istio_authn
 *  audiences), present, and list one_of. Other kinds are refused rather than guessed. */
function valueMatcher(value: ValueMatcherShape | undefined, field: string): ValueTest {
  const v = value ?? {};
  const kinds = Object.keys(v).filter((k) => v[k] !== undefined && v[k] !== null);
  if (kinds.length !== 1) throw invalidConfig('RBAC metadata value matcher must set exactly one kind', { field, kinds });
  if (v.string_match) {
    const sm = stringMatch(v.string_match, `${field}.string_match`);
    return (x) => (typeof x === 'string' ? testStringMatch(sm, x) : Array.isArray(x) && x.some((e) => typeof e === 'string' && testStringMatch(sm, e)));
  }
  if (v.present_match !== undefined) return (x) => x !== undefined;
  if (v.list_match) {
    const inner = valueMatcher(v.list_match.one_of, `${field}.list_match.one_of`);
    return (x) => Array.isArray(x) && x.some((e) => inner(e));
  }
  throw invalidConfig('unsupported RBAC metadata value matcher', { field, kinds });
}

function metadata(m: MetadataMatcherShape | undefined, field: string): Predicate {
  // Walks the path keys through the filter's metadata (e.g. istio_authn
  // ["request.auth.claims", "groups"]); a missing step is an absent value.
  const filter = m?.filter;
  const keys = (m?.path ?? []).map((p) => p.key);
  if (!filter || keys.length === 0 || keys.some((k) => !k)) throw invalidConfig('RBAC metadata matcher needs a filter and a path of keys', { field });
  const test = valueMatcher(m.value, `${field}.value`);
  const invert = m.invert === true;
  return (r) => {
    let cur: unknown = r.req.metadata?.[filter];
    for (const k of keys as string[]) cur = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Record<string, unknown>)[k] : undefined;
    return test(cur) !== invert;
  };
}

export function compilePrincipal(p: PrincipalShape, field: string, scope: RbacScope = 'http'): Predicate {
  const kind = kindOf(p, field, 'principal');
  requireScope(kind, scope, field, 'principal');
  const sub = (x: PrincipalShape, f: string): Predicate => compilePrincipal(x, f, scope);
  switch (kind) {
    case 'any':
      if (p.any !== true) throw invalidConfig('RBAC principal any must be true', { field });
      return always;
    case 'authenticated': return principalName(p.authenticated?.principal_name, `${field}.authenticated`);
    case 'source_ip': case 'direct_remote_ip': case 'remote_ip': {
      // No trusted XFF hops: the remote address is the direct peer, as Istio configures it.
      const c = cidr(p[kind] as CidrRangeShape, `${field}.${kind}`);
      return (r) => cidrContains(c, r.req.remoteIp);
    }
    case 'header': return header(p.header, `${field}.header`);
    case 'url_path': return urlPath(p.url_path, `${field}.url_path`);
    case 'metadata': return metadata(p.metadata, `${field}.metadata`);
    case 'and_ids': {
      const ps = list(p.and_ids?.ids, `${field}.and_ids.ids`, sub);
      return (r) => ps.every((f) => f(r));
    }
    case 'or_ids': {
      const ps = list(p.or_ids?.ids, `${field}.or_ids.ids`, sub);
      return (r) => ps.some((f) => f(r));
    }
    case 'not_id': {
      const inner = sub(p.not_id ?? {}, `${field}.not_id`);
      return (r) => !inner(r);
    }
    default:
      throw invalidConfig('unsupported RBAC principal kind', { field: `${field}.${kind}`, kind });
  }
}
