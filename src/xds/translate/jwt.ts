// RequestAuthentication -> envoy.filters.http.jwt_authn on a sidecar's inbound HTTP chains (and
// on an ingress gateway's HTTP listeners),
// the way istiod builds it: one provider per jwtRule ("origins-<i>", payload in metadata under
// the issuer), and a requirement that a presented token must verify while a missing one is
// allowed (requiring a token is AuthorizationPolicy's job, via requestPrincipals).
import net from 'node:net';
import type { JWTRule, RequestAuthentication } from '../../api/istio/types.js';
import { TYPE_URLS, type EnvoyResource } from '../../envoy/index.js';
import { labelsMatch, outboundClusterName, type MeshModel, type ProxyContext } from '../model.js';
import { parseJwks } from '../../api/jwks.js';
import { parseDuration } from './convert.js';
import { visibleServices } from './scope.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/**
 * What an unusable inline jwks becomes (Istio does the same): a public key nobody holds the
 * private half of, so the issuer's tokens are refused (fail closed) while the listener stays
 * valid. Passing the broken set on would make every proxy NACK the whole listener update.
 */
export const FAKE_JWKS = JSON.stringify({
  keys: [{
    kty: 'RSA', kid: 'weft-fake-jwks', alg: 'RS256', e: 'AQAB',
    n: 'yUvYkJvu9f1sECifmZxKzmRBGT5MAdk6sxItD4nn6JZS-KbcIGOtZlcaMhKe78VlVMrAPssF9ZivipfRlJvvwb_T2tXbZG8vZpU3JwYE-wK3-_5HtEjrmt74XtT0T_oLPcOESD3nAYKMKSVk-qcbnVetRWHYK0UYXKHlyl8Q_MdY-ktHrSiwqdpUeL6h_rs7K04-i-Y_RKGnVrCBGX2riUugVmvwpzR7VA5XSffvY2dOxIhOafFH75zNSoISnPlpLGR-pkyz4CZ1poHs5FYOmQyfuxpNXWQc9u-CdbHzWcAisHAyS9BfZC1r9EQGmTIxwD8HHeOaWfofxpesy_KXfQ',
  }],
});

/** Istio's defaults for remote JWKS. */
const JWKS_CACHE_SECONDS = 300;
const JWKS_TIMEOUT_SECONDS = 5;

/**
 * RequestAuthentications that apply to a sidecar or an Istio Gateway proxy: root namespace and
 * own namespace, by selector. Policies with targetRef(s) bind Gateway API gateways and
 * waypoints, which Weft does not run, so they select nothing here.
 */
export function requestAuthenticationsFor(model: MeshModel, proxy: ProxyContext): RequestAuthentication[] {
  return model.requestAuthentications
    .filter((p) => {
      const ns = p.metadata.namespace ?? 'default';
      if (ns !== proxy.namespace && ns !== model.rootNamespace) return false;
      if (p.spec.targetRef || (p.spec.targetRefs ?? []).length > 0) return false;
      return labelsMatch(p.spec.selector?.matchLabels, proxy.labels);
    })
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
}

interface JwksTarget { uri: URL; port: number }

function jwksTarget(uri: string): JwksTarget | undefined {
  try {
    const u = new URL(uri);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return { uri: u, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
  } catch {
    return undefined;
  }
}

function bareHost(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '');
}

/** Name of the cluster a jwksUri is fetched through when it is not a mesh service. */
export function jwksClusterName(t: JwksTarget): string {
  return `jwks|${bareHost(t.uri)}|${t.port}`;
}

/** The mesh service's outbound cluster when the jwksUri host is one, else the dedicated jwks cluster. */
function jwksCluster(model: MeshModel, proxy: ProxyContext, t: JwksTarget): string {
  const host = bareHost(t.uri).toLowerCase();
  const svc = visibleServices(model, proxy).find((s) => s.hostname === host && s.ports.some((p) => p.port === t.port));
  return svc ? outboundClusterName(t.port, '', svc.hostname) : jwksClusterName(t);
}

function provider(model: MeshModel, proxy: ProxyContext, r: JWTRule): EnvoyResource {
  const p: EnvoyResource = { issuer: r.issuer };
  if (r.audiences?.length) p['audiences'] = r.audiences;
  if (r.jwks !== undefined) p['local_jwks'] = { inline_string: typeof r.jwks === 'string' && parseJwks(r.jwks).ok ? r.jwks : FAKE_JWKS };
  else {
    const t = r.jwksUri ? jwksTarget(r.jwksUri) : undefined;
    // The validator refuses a rule without usable keys; if one got stored anyway, its issuer's
    // tokens must still be refused rather than the rule dropped (which would let them pass).
    if (!t) p['local_jwks'] = { inline_string: FAKE_JWKS };
    else {
      p['remote_jwks'] = {
        http_uri: { uri: r.jwksUri, cluster: jwksCluster(model, proxy, t), timeout: parseDuration(r.timeout) ?? { seconds: JWKS_TIMEOUT_SECONDS } },
        cache_duration: { seconds: JWKS_CACHE_SECONDS },
      };
    }
  }
  if (r.forwardOriginalToken) p['forward'] = true;
  if (r.fromHeaders?.length) p['from_headers'] = r.fromHeaders.map((h) => (h.prefix ? { name: h.name, value_prefix: h.prefix } : { name: h.name }));
  if (r.fromParams?.length) p['from_params'] = r.fromParams;
  if (r.fromCookies?.length) p['from_cookies'] = r.fromCookies;
  if (r.outputPayloadToHeader) p['forward_payload_header'] = r.outputPayloadToHeader;
  if (r.outputClaimToHeaders?.length) p['claim_to_headers'] = r.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
  p['payload_in_metadata'] = r.issuer;
  return p;
}

/** The jwt_authn HTTP filter for a workload, or none when no RequestAuthentication selects it. */
export function buildJwtFilters(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  const rules = requestAuthenticationsFor(model, proxy).flatMap((ra) => ra.spec.jwtRules ?? []).filter((r) => r.issuer);
  const providers: Record<string, EnvoyResource> = {};
  const names: string[] = [];
  for (const r of rules) {
    const name = `origins-${names.length}`;
    providers[name] = provider(model, proxy, r);
    names.push(name);
  }
  if (names.length === 0) return [];
  // Per provider: its token, or none at all. With several providers the AND of those is ORed
  // with each provider alone, so one valid token passes even when providers share a location.
  const eachOrMissing = names.map((n) => ({ requires_any: { requirements: [{ provider_name: n }, { allow_missing: {} }] } }));
  const requires = eachOrMissing.length === 1
    ? eachOrMissing[0]
    : { requires_any: { requirements: [{ requires_all: { requirements: eachOrMissing } }, ...names.map((n) => ({ provider_name: n }))] } };
  return [{
    name: JWT_AUTHN_FILTER,
    typed_config: { '@type': TYPE_URLS.jwtAuthn, providers, rules: [{ match: { prefix: '/' }, requires }], bypass_cors_preflight: true },
  }];
}

/** Dedicated clusters for jwksUri hosts that are not mesh services (e.g. an IdP on 127.0.0.1). */
export function buildJwksClusters(model: MeshModel, proxy: ProxyContext): EnvoyResource[] {
  if (proxy.flavour === 'proxyless') return [];
  const seen = new Map<string, EnvoyResource>();
  for (const r of requestAuthenticationsFor(model, proxy).flatMap((ra) => ra.spec.jwtRules ?? [])) {
    if (r.jwks !== undefined || !r.jwksUri) continue;
    const t = jwksTarget(r.jwksUri);
    if (!t || jwksCluster(model, proxy, t) !== jwksClusterName(t)) continue;
    const name = jwksClusterName(t);
    const host = bareHost(t.uri);
    seen.set(name, {
      name,
      type: net.isIP(host) ? 'STATIC' : 'STRICT_DNS',
      connect_timeout: { seconds: 10 },
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: t.port } } } }] }] },
    });
  }
  return [...seen.keys()].sort().map((k) => seen.get(k)!);
}
