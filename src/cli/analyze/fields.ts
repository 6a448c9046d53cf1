// The Istio-API fields Weft implements, as a shape tree mirroring src/api/istio/types.ts.
// Anything outside it is reported as WEFT-A0013 (the control plane ignores it). Pure.

/** true = leaf (any value); { } = object with these keys; [shape] = list of shape; { '*': shape } = map. */
export type Shape = true | { readonly [key: string]: Shape } | readonly [Shape];

const leaf = true as const;
const map = (s: Shape): Shape => ({ '*': s });
const list = (s: Shape): Shape => [s] as const;

const stringMatch: Shape = { exact: leaf, prefix: leaf, regex: leaf };
const destination: Shape = { host: leaf, subset: leaf, port: { number: leaf } };
const headerOps: Shape = { set: leaf, add: leaf, remove: leaf };
const headers: Shape = { request: headerOps, response: headerOps };
const percent: Shape = { value: leaf };
const httpMatch: Shape = {
  name: leaf, uri: stringMatch, scheme: stringMatch, method: stringMatch, authority: stringMatch,
  headers: map(stringMatch), port: leaf, sourceLabels: leaf, gateways: leaf, queryParams: map(stringMatch),
  ignoreUriCase: leaf, withoutHeaders: map(stringMatch), sourceNamespace: leaf,
};
const httpRoute: Shape = {
  name: leaf,
  match: list(httpMatch),
  route: list({ destination, weight: leaf, headers }),
  redirect: { uri: leaf, authority: leaf, port: leaf, scheme: leaf, redirectCode: leaf },
  directResponse: { status: leaf, body: { string: leaf, bytes: leaf } },
  rewrite: { uri: leaf, authority: leaf, uriRegexRewrite: { match: leaf, rewrite: leaf } },
  timeout: leaf,
  retries: { attempts: leaf, perTryTimeout: leaf, retryOn: leaf, retryRemoteLocalities: leaf },
  fault: {
    delay: { fixedDelay: leaf, percentage: percent, percent: leaf },
    abort: { httpStatus: leaf, grpcStatus: leaf, percentage: percent },
  },
  mirror: destination,
  mirrorPercentage: percent,
  corsPolicy: { allowOrigins: list(stringMatch), allowMethods: leaf, allowHeaders: leaf, exposeHeaders: leaf, maxAge: leaf, allowCredentials: leaf },
  headers,
};
const l4Match = { destinationSubnets: leaf, port: leaf, sourceLabels: leaf, gateways: leaf, sourceNamespace: leaf };
const routeDestination: Shape = { destination, weight: leaf };

const clientTls: Shape = {
  mode: leaf, clientCertificate: leaf, privateKey: leaf, caCertificates: leaf, credentialName: leaf,
  subjectAltNames: leaf, sni: leaf, insecureSkipVerify: leaf,
};
const loadBalancer: Shape = {
  simple: leaf,
  consistentHash: {
    httpHeaderName: leaf, httpCookie: { name: leaf, path: leaf, ttl: leaf }, useSourceIp: leaf,
    httpQueryParameterName: leaf, ringHash: { minimumRingSize: leaf }, minimumRingSize: leaf,
  },
  localityLbSetting: {
    distribute: list({ from: leaf, to: map(leaf) }), failover: list({ from: leaf, to: leaf }), failoverPriority: leaf, enabled: leaf,
  },
};
const connectionPool: Shape = {
  tcp: { maxConnections: leaf, connectTimeout: leaf, tcpKeepalive: { probes: leaf, time: leaf, interval: leaf } },
  http: {
    http1MaxPendingRequests: leaf, http2MaxRequests: leaf, maxRequestsPerConnection: leaf, maxRetries: leaf,
    idleTimeout: leaf, h2UpgradePolicy: leaf, maxConcurrentStreams: leaf,
  },
};
const outlier: Shape = {
  consecutiveErrors: leaf, consecutive5xxErrors: leaf, consecutiveGatewayErrors: leaf, interval: leaf,
  baseEjectionTime: leaf, maxEjectionPercent: leaf, minHealthPercent: leaf, splitExternalLocalOriginErrors: leaf,
};
const trafficPolicy: Shape = {
  loadBalancer, connectionPool, outlierDetection: outlier, tls: clientTls, retryBudget: { percent: leaf, minRetryConcurrency: leaf },
  portLevelSettings: list({ port: { number: leaf }, loadBalancer, connectionPool, outlierDetection: outlier, tls: clientTls }),
};
const workloadSelector: Shape = { matchLabels: leaf };
const port: Shape = { number: leaf, protocol: leaf, name: leaf, targetPort: leaf };

/** spec shapes by kind. */
export const SPEC_SHAPES: Readonly<Record<string, Shape>> = Object.freeze({
  VirtualService: {
    hosts: leaf, gateways: leaf, exportTo: leaf,
    http: list(httpRoute),
    tls: list({ match: list({ ...l4Match, sniHosts: leaf }), route: list(routeDestination) }),
    tcp: list({ match: list(l4Match), route: list(routeDestination) }),
  },
  DestinationRule: {
    host: leaf, trafficPolicy, exportTo: leaf, workloadSelector,
    subsets: list({ name: leaf, labels: leaf, trafficPolicy }),
  },
  Gateway: {
    selector: leaf,
    servers: list({
      port, bind: leaf, hosts: leaf, name: leaf,
      tls: {
        httpsRedirect: leaf, mode: leaf, serverCertificate: leaf, privateKey: leaf, caCertificates: leaf,
        credentialName: leaf, subjectAltNames: leaf, minProtocolVersion: leaf, maxProtocolVersion: leaf,
      },
    }),
  },
  ServiceEntry: {
    hosts: leaf, addresses: leaf, ports: list(port), location: leaf, resolution: leaf, exportTo: leaf, subjectAltNames: leaf,
    endpoints: list({ address: leaf, ports: leaf, labels: leaf, network: leaf, locality: leaf, weight: leaf, serviceAccount: leaf }),
    workloadSelector: { labels: leaf },
  },
  PeerAuthentication: { selector: workloadSelector, mtls: { mode: leaf }, portLevelMtls: map({ mode: leaf }) },
  AuthorizationPolicy: {
    selector: workloadSelector, action: leaf, provider: { name: leaf },
    rules: list({
      from: list({
        source: {
          principals: leaf, notPrincipals: leaf, requestPrincipals: leaf, notRequestPrincipals: leaf, namespaces: leaf,
          notNamespaces: leaf, ipBlocks: leaf, notIpBlocks: leaf, remoteIpBlocks: leaf, notRemoteIpBlocks: leaf,
        },
      }),
      to: list({ operation: { hosts: leaf, notHosts: leaf, ports: leaf, notPorts: leaf, methods: leaf, notMethods: leaf, paths: leaf, notPaths: leaf } }),
      when: list({ key: leaf, values: leaf, notValues: leaf }),
    }),
  },
  RequestAuthentication: {
    selector: workloadSelector,
    jwtRules: list({
      issuer: leaf, audiences: leaf, jwksUri: leaf, jwks: leaf, fromHeaders: list({ name: leaf, prefix: leaf }),
      fromParams: leaf, fromCookies: leaf, outputPayloadToHeader: leaf, outputClaimToHeaders: list({ header: leaf, claim: leaf }),
      forwardOriginalToken: leaf, timeout: leaf,
    }),
  },
});

/** Paths (e.g. spec.http[0].mirrors) of fields outside the shape. Pure. */
export function unsupportedFields(value: unknown, shape: Shape, path: string): string[] {
  if (shape === true || value === null || value === undefined) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((v, i) => unsupportedFields(v, shape[0] as Shape, `${path}[${i}]`));
  }
  if (typeof value !== 'object' || Array.isArray(value)) return [];
  const obj = shape as Record<string, Shape>;
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = obj['*'] ?? obj[k];
    if (sub === undefined) out.push(`${path}.${k}`);
    else out.push(...unsupportedFields(v, sub, obj['*'] ? `${path}.${k}` : `${path}.${k}`));
  }
  return out;
}
