// Per-request routing, Envoy semantics: pick the virtual host by authority, then the first
// route whose path, headers and query match. Pure: randomness comes in as an argument.
import { testStringMatch } from '../config/convert.js';
import type {
  ForwardAction, HeaderAdd, HeaderMatch, PathMatch, QueryMatch, RedirectAction, Route, RouteTable, VirtualHost,
} from '../config/model.js';

/** What matching needs to know about a request, independent of HTTP version. */
export interface RequestView {
  authority: string;
  /** Path including the query string, as sent. */
  path: string;
  method: string;
  /** Lower-case header name -> value (multiple values joined with ','). */
  header(name: string): string | undefined;
}

export function selectVirtualHost(table: RouteTable, authority: string): VirtualHost | undefined {
  const host = authority.toLowerCase();
  const found = lookupHost(table, host);
  if (found) return found;
  // Envoy tries the host with its port first, then (Istio relies on this) without.
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) {
    const bare = lookupHost(table, host.slice(0, colon));
    if (bare) return bare;
  }
  return table.wildcard;
}

function lookupHost(table: RouteTable, host: string): VirtualHost | undefined {
  const exact = table.exact.get(host);
  if (exact) return exact;
  for (const s of table.suffix) if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vhost;
  for (const p of table.prefix) if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vhost;
  return undefined;
}

export function splitPath(path: string): { pathOnly: string; query: string } {
  const q = path.indexOf('?');
  return q < 0 ? { pathOnly: path, query: '' } : { pathOnly: path.slice(0, q), query: path.slice(q + 1) };
}

function matchPath(m: PathMatch, pathOnly: string): boolean {
  if (m.kind === 'regex') return m.re.test(pathOnly);
  const p = m.caseSensitive ? pathOnly : pathOnly.toLowerCase();
  switch (m.kind) {
    case 'prefix': return p.startsWith(m.value);
    case 'exact': return p === m.value;
    case 'separated-prefix':
      return p === m.value || (p.startsWith(m.value) && (p[m.value.length] === '/' || m.value.endsWith('/')));
  }
}

function pseudoHeader(req: RequestView, name: string): string | undefined {
  switch (name) {
    case ':method': return req.method;
    case ':authority': return req.authority;
    case ':path': return req.path;
    default: return req.header(name);
  }
}

function matchHeader(h: HeaderMatch, req: RequestView): boolean {
  const v = pseudoHeader(req, h.name);
  let ok: boolean;
  if (h.match.kind === 'present') ok = (v !== undefined) === h.match.present;
  else if (v === undefined) return false; // an absent header never matches, even inverted (Envoy)
  else if (h.match.kind === 'range') {
    const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
    ok = n >= h.match.start && n < h.match.end;
  } else ok = testStringMatch(h.match, v);
  return ok !== h.invert;
}

function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = safeDecode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(k)) out.set(k, eq < 0 ? '' : safeDecode(part.slice(eq + 1)));
  }
  return out;
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

function matchQuery(qs: QueryMatch[], query: string): boolean {
  if (qs.length === 0) return true;
  const params = parseQuery(query);
  return qs.every((q) => {
    const v = params.get(q.name);
    if (v === undefined) return false;
    return q.match.kind === 'present' ? true : testStringMatch(q.match, v);
  });
}

export function matchRoute(vhost: VirtualHost, req: RequestView): Route | undefined {
  const { pathOnly, query } = splitPath(req.path);
  for (const r of vhost.routes) {
    if (!matchPath(r.match.path, pathOnly)) continue;
    if (!r.match.headers.every((h) => matchHeader(h, req))) continue;
    if (!matchQuery(r.match.query, query)) continue;
    return r;
  }
  return undefined;
}

export interface RouteResult { vhost: VirtualHost; route: Route }

export function routeRequest(table: RouteTable, req: RequestView): RouteResult | undefined {
  const vhost = selectVirtualHost(table, req.authority);
  if (!vhost) return undefined;
  const route = matchRoute(vhost, req);
  return route ? { vhost, route } : undefined;
}

/** Weighted cluster choice; `rand` in [0, 1). */
export function pickCluster(action: ForwardAction, rand: number): string {
  if (action.clusters.length === 1) return action.clusters[0]!.name;
  let x = rand * action.totalWeight;
  for (const c of action.clusters) {
    if (x < c.weight) return c.name;
    x -= c.weight;
  }
  return action.clusters[action.clusters.length - 1]!.name;
}

/** The upstream path after prefix/regex rewrite (query preserved). */
export function rewritePath(route: Route, action: ForwardAction, path: string): string {
  if (action.prefixRewrite === undefined && !action.regexRewrite) return path;
  const { pathOnly, query } = splitPath(path);
  let p = pathOnly;
  const m = route.match.path;
  if (action.prefixRewrite !== undefined && (m.kind === 'prefix' || m.kind === 'separated-prefix')) {
    p = action.prefixRewrite + p.slice(m.value.length);
    if (!p.startsWith('/')) p = '/' + p;
  } else if (action.prefixRewrite !== undefined && m.kind === 'exact') {
    p = action.prefixRewrite;
  } else if (action.regexRewrite) {
    action.regexRewrite.re.lastIndex = 0;
    p = p.replace(action.regexRewrite.re, action.regexRewrite.substitution);
  }
  return query ? `${p}?${query}` : p;
}

/** Location header for a redirect route. */
export function redirectLocation(route: Route, r: RedirectAction, req: { scheme: string; authority: string; path: string }): string {
  const { pathOnly, query } = splitPath(req.path);
  const scheme = r.scheme ?? req.scheme;
  let host = r.host ?? req.authority;
  const colon = host.lastIndexOf(':');
  const bareHost = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
  if (r.port !== undefined) host = `${bareHost}:${r.port}`;
  else if (r.scheme && r.host === undefined) host = bareHost; // scheme change drops the old port (Envoy)
  let p = pathOnly;
  if (r.path !== undefined) p = r.path;
  else if (r.prefixRewrite !== undefined && (route.match.path.kind === 'prefix' || route.match.path.kind === 'separated-prefix')) {
    p = r.prefixRewrite + pathOnly.slice(route.match.path.value.length);
  }
  const keepQuery = !r.stripQuery && query && !(r.path !== undefined && r.path.includes('?'));
  return `${scheme}://${host}${p}${keepQuery ? `?${query}` : ''}`;
}

/** Header map the proxy mutates: lower-case names, string or string[] values (node's shape). */
export type HeaderBag = Record<string, string | string[] | undefined>;

export function applyHeaderAdds(h: HeaderBag, adds: readonly HeaderAdd[]): void {
  for (const a of adds) {
    const cur = h[a.name];
    switch (a.mode) {
      case 'append':
        if (cur === undefined) h[a.name] = a.value;
        else h[a.name] = Array.isArray(cur) ? [...cur, a.value] : [cur, a.value];
        break;
      case 'add-if-absent': if (cur === undefined) h[a.name] = a.value; break;
      case 'overwrite': h[a.name] = a.value; break;
      case 'overwrite-if-exists': if (cur !== undefined) h[a.name] = a.value; break;
    }
  }
}

export function applyHeaderRemoves(h: HeaderBag, names: readonly string[]): void {
  for (const n of names) delete h[n];
}

/** Request mutations in Envoy's order: route, then virtual host, then route table (most specific wins on overwrite... applied last-first). */
export function mutateRequestHeaders(h: HeaderBag, table: RouteTable, rr: RouteResult): void {
  for (const m of [table.headers, rr.vhost.headers, rr.route.headers]) {
    applyHeaderRemoves(h, m.requestRemove);
    applyHeaderAdds(h, m.requestAdd);
  }
}

export function mutateResponseHeaders(h: HeaderBag, table: RouteTable, rr: RouteResult): void {
  for (const m of [table.headers, rr.vhost.headers, rr.route.headers]) {
    applyHeaderRemoves(h, m.responseRemove);
    applyHeaderAdds(h, m.responseAdd);
  }
}
