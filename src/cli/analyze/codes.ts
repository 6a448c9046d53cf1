// The stable catalogue of analyzer findings. Codes never change meaning and are never reused;
// docs/weftctl.md lists them. Each entry says what is wrong in general; the finding's message
// says what is wrong here and how to fix it.

export type Severity = 'Error' | 'Warning' | 'Info';

export interface CodeInfo {
  code: string;
  name: string;
  severity: Severity;
  summary: string;
}

function c(code: string, name: string, severity: Severity, summary: string): CodeInfo {
  return Object.freeze({ code, name, severity, summary });
}

export const CODES = Object.freeze({
  destinationHostNotFound: c('WEFT-A0001', 'DestinationHostNotFound', 'Error', 'a VirtualService routes to a host that is no Service or ServiceEntry'),
  subsetNotFound: c('WEFT-A0002', 'SubsetNotFound', 'Error', 'a VirtualService routes to a subset no DestinationRule defines'),
  subsetSelectsNoPods: c('WEFT-A0003', 'SubsetSelectsNoPods', 'Warning', 'a DestinationRule subset selects no pods of its service'),
  destinationRuleHostNotFound: c('WEFT-A0004', 'DestinationRuleHostNotFound', 'Warning', 'a DestinationRule applies to a host that is no Service or ServiceEntry'),
  routeShadowed: c('WEFT-A0005', 'RouteShadowed', 'Warning', 'an HTTP route can never match because an earlier route catches its traffic'),
  conflictingVirtualServices: c('WEFT-A0006', 'ConflictingVirtualServices', 'Warning', 'several mesh VirtualServices claim the same host; only one is used'),
  gatewaySelectorNoPods: c('WEFT-A0007', 'GatewaySelectorNoPods', 'Error', 'a Gateway selector matches no gateway pod'),
  gatewayNotFound: c('WEFT-A0008', 'GatewayNotFound', 'Error', 'a VirtualService binds to a Gateway that does not exist'),
  strictWithUnmeshedClients: c('WEFT-A0009', 'StrictMtlsWithUnmeshedClients', 'Warning', 'STRICT mTLS while pods without a sidecar send plaintext'),
  allowPolicyDeniesAll: c('WEFT-A0010', 'AllowPolicyDeniesAll', 'Warning', 'an ALLOW AuthorizationPolicy without rules denies every request'),
  denyPolicyMatchesAll: c('WEFT-A0011', 'DenyPolicyMatchesAll', 'Warning', 'a DENY AuthorizationPolicy with an empty rule denies every request'),
  selectorMatchesNoPods: c('WEFT-A0012', 'SelectorMatchesNoPods', 'Warning', 'a policy workload selector matches no pods in its namespace'),
  unsupportedField: c('WEFT-A0013', 'UnsupportedField', 'Warning', 'a field Weft does not implement; it is ignored'),
  unsupportedKind: c('WEFT-A0014', 'UnsupportedKind', 'Warning', 'an Istio kind or API version Weft does not implement'),
  invalidRouteWeights: c('WEFT-A0015', 'InvalidRouteWeights', 'Error', 'route weights do not add up to 100'),
  invalidResource: c('WEFT-A0016', 'InvalidResource', 'Error', 'a required field is missing or a value is out of range'),
  virtualServiceHostNotFound: c('WEFT-A0017', 'VirtualServiceHostNotFound', 'Warning', 'a mesh VirtualService host is no Service or ServiceEntry, so no sidecar uses it'),
  denyAllIdiom: c('WEFT-A0018', 'DenyAllPolicy', 'Info', 'an AuthorizationPolicy with an empty spec denies all traffic (the documented deny-all idiom)'),
} satisfies Record<string, CodeInfo>);

export const ALL_CODES: readonly CodeInfo[] = Object.freeze(Object.values(CODES).sort((a, b) => a.code.localeCompare(b.code)));
