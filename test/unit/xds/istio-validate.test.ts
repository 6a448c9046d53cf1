import { describe, it, expect } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { ISTIO_VALIDATORS, unsupportedFieldWarnings } from '../../../src/api/istio/validate.js';
import type { IstioKind } from '../../../src/api/istio/types.js';

const vs = (spec: object): object => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' }, spec });
const route = (extra: object = {}): object => ({ route: [{ destination: { host: 'reviews' } }], ...extra });

// [kind, description, object, expected path, message fragment]
const invalid: [IstioKind, string, object, string, string][] = [
  ['VirtualService', 'no spec', { kind: 'VirtualService' }, 'spec', 'spec is required'],
  ['VirtualService', 'missing hosts', vs({ http: [route()] }), 'spec.hosts', 'at least one host'],
  ['VirtualService', 'weights not 100', vs({ hosts: ['r'], http: [{ route: [{ destination: { host: 'r', subset: 'v1' }, weight: 90 }, { destination: { host: 'r', subset: 'v2' }, weight: 20 }] }] }), 'spec.http[0].route', 'sum to 100 (they sum to 110)'],
  ['VirtualService', 'bad regex', vs({ hosts: ['r'], http: [{ match: [{ uri: { regex: '(' } }], ...route() }] }), 'spec.http[0].match[0].uri.regex', 'invalid regular expression'],
  ['VirtualService', 'two match kinds', vs({ hosts: ['r'], http: [{ match: [{ uri: { exact: '/a', prefix: '/b' } }], ...route() }] }), 'spec.http[0].match[0].uri', 'only one of'],
  ['VirtualService', 'missing destination host', vs({ hosts: ['r'], http: [{ route: [{ destination: {} }] }] }), 'spec.http[0].route[0].destination.host', 'host is required'],
  ['VirtualService', 'bad timeout', vs({ hosts: ['r'], http: [route({ timeout: '5 seconds' })] }), 'spec.http[0].timeout', 'invalid duration'],
  ['VirtualService', 'bad fault percentage', vs({ hosts: ['r'], http: [route({ fault: { delay: { fixedDelay: '1s', percentage: { value: 150 } } } })] }), 'spec.http[0].fault.delay.percentage.value', 'between 0 and 100'],
  ['VirtualService', 'abort without status', vs({ hosts: ['r'], http: [route({ fault: { abort: { percentage: { value: 1 } } } })] }), 'spec.http[0].fault.abort', 'httpStatus or grpcStatus'],
  ['VirtualService', 'redirect and route', vs({ hosts: ['r'], http: [route({ redirect: { uri: '/x' } })] }), 'spec.http[0]', 'exclusive'],
  ['VirtualService', 'bad redirect code', vs({ hosts: ['r'], http: [{ redirect: { uri: '/x', redirectCode: 200 } }] }), 'spec.http[0].redirect.redirectCode', '301, 302'],
  ['VirtualService', 'uppercase header', vs({ hosts: ['r'], http: [{ match: [{ headers: { 'End-User': { exact: 'j' } } }], ...route() }] }), 'spec.http[0].match[0].headers.End-User', 'lowercase'],
  ['VirtualService', 'tls without sni', vs({ hosts: ['r'], tls: [{ match: [{ port: 443 }], route: [{ destination: { host: 'r' } }] }] }), 'spec.tls[0].match[0].sniHosts', 'sniHosts is required'],
  ['VirtualService', 'bad port', vs({ hosts: ['r'], http: [{ match: [{ port: 70000 }], ...route() }] }), 'spec.http[0].match[0].port', 'between 1 and 65535'],
  ['DestinationRule', 'missing host', { spec: { subsets: [] } }, 'spec.host', 'host is required'],
  ['DestinationRule', 'unknown lb', { spec: { host: 'r', trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } } }, 'spec.trafficPolicy.loadBalancer.simple', 'unknown value "FASTEST"'],
  ['DestinationRule', 'unknown tls mode', { spec: { host: 'r', trafficPolicy: { tls: { mode: 'STRICT' } } } }, 'spec.trafficPolicy.tls.mode', 'expected one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL'],
  ['DestinationRule', 'duplicate subset', { spec: { host: 'r', subsets: [{ name: 'v1' }, { name: 'v1' }] } }, 'spec.subsets[1].name', 'duplicate subset'],
  ['DestinationRule', 'consistent hash without key', { spec: { host: 'r', trafficPolicy: { loadBalancer: { consistentHash: {} } } } }, 'spec.trafficPolicy.loadBalancer.consistentHash', 'exactly one of'],
  ['DestinationRule', 'bad outlier interval', { spec: { host: 'r', trafficPolicy: { outlierDetection: { interval: 'often' } } } }, 'spec.trafficPolicy.outlierDetection.interval', 'invalid duration'],
  ['DestinationRule', 'port-level without port', { spec: { host: 'r', trafficPolicy: { portLevelSettings: [{ loadBalancer: { simple: 'RANDOM' } }] } } }, 'spec.trafficPolicy.portLevelSettings[0].port', 'port is required'],
  ['DestinationRule', 'locality distribute and failover', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: 'a/*', to: { 'a/*': 100 } }], failover: [{ from: 'a', to: 'b' }] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting', 'exclusive'],
  ['DestinationRule', 'locality distribute not 100', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: 'a/*', to: { 'a/*': 70, 'b/*': 20 } }] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to', 'add up to 100'],
  ['DestinationRule', 'locality distribute without from', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ to: { 'a/*': 100 } }] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].from', 'is required'],
  ['DestinationRule', 'locality failover to itself', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { failover: [{ from: 'a', to: 'a' }] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]', 'must differ'],
  ['DestinationRule', 'locality failover with zone', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { failover: [{ from: 'a/z', to: 'b' }] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]', 'between regions'],
  ['DestinationRule', 'locality failoverPriority not strings', { spec: { host: 'r', trafficPolicy: { loadBalancer: { localityLbSetting: { failoverPriority: [3] } } } } }, 'spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority', 'list of label keys'],
  ['Gateway', 'no servers', { spec: { selector: { istio: 'ingressgateway' } } }, 'spec.servers', 'at least one server'],
  ['Gateway', 'unknown protocol', { spec: { servers: [{ port: { number: 80, name: 'x', protocol: 'GOPHER' }, hosts: ['*'] }] } }, 'spec.servers[0].port.protocol', 'unknown protocol'],
  ['Gateway', 'https without tls', { spec: { servers: [{ port: { number: 443, name: 'x', protocol: 'HTTPS' }, hosts: ['a.com'] }] } }, 'spec.servers[0].tls', 'needs tls'],
  ['Gateway', 'simple without credential', { spec: { servers: [{ port: { number: 443, name: 'x', protocol: 'HTTPS' }, hosts: ['a.com'], tls: { mode: 'SIMPLE' } }] } }, 'spec.servers[0].tls.credentialName', 'needs credentialName'],
  ['ServiceEntry', 'missing hosts', { spec: { ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] } }, 'spec.hosts', 'at least one host'],
  ['ServiceEntry', 'unknown resolution', { spec: { hosts: ['a.com'], resolution: 'MAGIC' } }, 'spec.resolution', 'unknown value'],
  ['ServiceEntry', 'static without endpoints', { spec: { hosts: ['a.com'], resolution: 'STATIC' } }, 'spec.endpoints', 'needs endpoints'],
  ['PeerAuthentication', 'unknown mode', { spec: { mtls: { mode: 'ON' } } }, 'spec.mtls.mode', 'unknown value "ON"'],
  ['PeerAuthentication', 'port-level without selector', { spec: { portLevelMtls: { '8080': { mode: 'DISABLE' } } } }, 'spec.portLevelMtls', 'needs a workload selector'],
  ['AuthorizationPolicy', 'unknown action', { spec: { action: 'PERMIT' } }, 'spec.action', 'unknown value "PERMIT"'],
  ['AuthorizationPolicy', 'relative path', { spec: { rules: [{ to: [{ operation: { paths: ['admin'] } }] }] } }, 'spec.rules[0].to[0].operation.paths[0]', 'must start with "/"'],
  ['AuthorizationPolicy', 'unknown when key', { spec: { rules: [{ when: [{ key: 'request.body', values: ['x'] }] }] } }, 'spec.rules[0].when[0].key', 'unknown condition key'],
  ['AuthorizationPolicy', 'when without values', { spec: { rules: [{ when: [{ key: 'source.ip' }] }] } }, 'spec.rules[0].when[0]', 'values or notValues'],
  ['RequestAuthentication', 'missing issuer', { spec: { jwtRules: [{ jwksUri: 'https://x/jwks' }] } }, 'spec.jwtRules[0].issuer', 'issuer is required'],
  ['RequestAuthentication', 'jwks not json', { spec: { jwtRules: [{ issuer: 'i', jwks: '{nope' }] } }, 'spec.jwtRules[0].jwks', 'not valid JSON'],
  ['RequestAuthentication', 'empty issuer', { spec: { jwtRules: [{ issuer: '', jwks: '{"keys":[]}' }] } }, 'spec.jwtRules[0].issuer', 'issuer is required'],
  ['RequestAuthentication', 'jwks without keys array', { spec: { jwtRules: [{ issuer: 'i', jwks: '{"kty":"RSA"}' }] } }, 'spec.jwtRules[0].jwks', '"keys" array'],
  ['RequestAuthentication', 'jwk without kty', { spec: { jwtRules: [{ issuer: 'i', jwks: '{"keys":[{"n":"x"}]}' }] } }, 'spec.jwtRules[0].jwks.keys[0]', '"kty"'],
  ['RequestAuthentication', 'jwks with no usable key', { spec: { jwtRules: [{ issuer: 'i', jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }] } }, 'spec.jwtRules[0].jwks', 'no usable public key'],
  ['RequestAuthentication', 'jwks with a broken RSA key', { spec: { jwtRules: [{ issuer: 'i', jwks: '{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}' }] } }, 'spec.jwtRules[0].jwks', 'no usable public key'],
  ['RequestAuthentication', 'jwks not a string', { spec: { jwtRules: [{ issuer: 'i', jwks: { keys: [] } }] } }, 'spec.jwtRules[0].jwks', 'must be a string'],
  ['RequestAuthentication', 'both jwks and jwksUri', { spec: { jwtRules: [{ issuer: 'i', jwks: '{"keys":[]}', jwksUri: 'https://x/j' }] } }, 'spec.jwtRules[0]', 'only one of jwks and jwksUri'],
  ['RequestAuthentication', 'neither jwks nor jwksUri', { spec: { jwtRules: [{ issuer: 'i' }] } }, 'spec.jwtRules[0]', 'OpenID discovery'],
  ['RequestAuthentication', 'relative jwksUri', { spec: { jwtRules: [{ issuer: 'i', jwksUri: '/jwks.json' }] } }, 'spec.jwtRules[0].jwksUri', 'absolute http(s) URL'],
  ['RequestAuthentication', 'ftp jwksUri', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'ftp://x/jwks.json' }] } }, 'spec.jwtRules[0].jwksUri', 'absolute http(s) URL'],
  ['RequestAuthentication', 'audience not a string', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', audiences: [7] }] } }, 'spec.jwtRules[0].audiences[0]', 'non-empty strings'],
  ['RequestAuthentication', 'fromHeaders without name', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', fromHeaders: [{ prefix: 'Bearer ' }] }] } }, 'spec.jwtRules[0].fromHeaders[0].name', 'header name is required'],
  ['RequestAuthentication', 'bad header name', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', fromHeaders: [{ name: 'x token' }] }] } }, 'spec.jwtRules[0].fromHeaders[0].name', 'invalid header name'],
  ['RequestAuthentication', 'fromParams not a list', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', fromParams: 'token' }] } }, 'spec.jwtRules[0].fromParams', 'must be a list'],
  ['RequestAuthentication', 'empty cookie name', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', fromCookies: [''] }] } }, 'spec.jwtRules[0].fromCookies[0]', 'non-empty strings'],
  ['RequestAuthentication', 'bad payload header', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', outputPayloadToHeader: 'x:payload' }] } }, 'spec.jwtRules[0].outputPayloadToHeader', 'invalid header name'],
  ['RequestAuthentication', 'claim header without claim', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', outputClaimToHeaders: [{ header: 'x-sub' }] }] } }, 'spec.jwtRules[0].outputClaimToHeaders[0].claim', 'claim is required'],
  ['RequestAuthentication', 'bad timeout', { spec: { jwtRules: [{ issuer: 'i', jwksUri: 'https://x/j', timeout: 'soon' }] } }, 'spec.jwtRules[0].timeout', 'invalid duration'],
  ['RequestAuthentication', 'selector and targetRef', { spec: { selector: { matchLabels: { app: 'a' } }, targetRef: { kind: 'Gateway', name: 'g' }, jwtRules: [] } }, 'spec', 'only one of selector, targetRef and targetRefs'],
  ['RequestAuthentication', 'targetRef without name', { spec: { targetRef: { kind: 'Gateway' } } }, 'spec.targetRef.name', 'name is required'],
  ['RequestAuthentication', 'jwtRules not a list', { spec: { jwtRules: { issuer: 'i' } } }, 'spec.jwtRules', 'must be a list'],
];

describe('Istio validators', () => {
  it.each(invalid)('%s: %s', (kind, _desc, obj, path, fragment) => {
    const issues = ISTIO_VALIDATORS[kind](obj);
    const hit = issues.find((i) => i.path === path);
    expect(hit).toBeDefined();
    expect(hit!.message).toContain(fragment);
  });

  it('accepts the Bookinfo reviews 90/10 route and destination-rule-all', () => {
    expect(
      ISTIO_VALIDATORS.VirtualService(
        vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 10 }] }] }),
      ),
    ).toEqual([]);
    expect(ISTIO_VALIDATORS.DestinationRule({ spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } })).toEqual([]);
    expect(ISTIO_VALIDATORS.PeerAuthentication({ spec: { mtls: { mode: 'STRICT' } } })).toEqual([]);
    expect(ISTIO_VALIDATORS.AuthorizationPolicy({ spec: { action: 'ALLOW', rules: [{ from: [{ source: { namespaces: ['foo'] } }], to: [{ operation: { methods: ['GET'], paths: ['/info*'] } }] }] } })).toEqual([]);
  });

  it("accepts Istio's JWT task RequestAuthentication (jwksUri) and every JWT rule field, in v1 and v1beta1", () => {
    const task = {
      apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'jwt-example', namespace: 'foo' },
      spec: { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: [{ issuer: 'testing@secure.istio.io', jwksUri: 'https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json' }] },
    };
    expect(ISTIO_VALIDATORS.RequestAuthentication(task)).toEqual([]);
    const full = {
      apiVersion: 'security.istio.io/v1beta1', kind: 'RequestAuthentication', metadata: { name: 'full' },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }],
        jwtRules: [{
          issuer: 'i', audiences: ['a', 'b'], jwks: JSON.stringify({ keys: [generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })] }),
          fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }], fromParams: ['token'], fromCookies: ['session'],
          outputPayloadToHeader: 'x-jwt-payload', outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }], forwardOriginalToken: true, timeout: '2s',
        }],
      },
    };
    expect(ISTIO_VALIDATORS.RequestAuthentication(full)).toEqual([]);
  });

  it('warns about fields Weft does not implement', () => {
    const w = unsupportedFieldWarnings('VirtualService', vs({ hosts: ['r'], http: [{ delegate: { name: 'x' } }] }));
    expect(w).toEqual([{ path: 'spec.http[0].delegate', message: expect.stringContaining('does not implement') }]);
  });
});
