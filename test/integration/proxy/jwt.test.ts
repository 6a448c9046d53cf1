// Istio's "JWT authentication" task end to end: RequestAuthentication and AuthorizationPolicy
// applied to the real API server, translated by the real control plane (registry -> jwt_authn +
// RBAC -> ADS), enforced by a real weft-proxy in front of an app on 127.0.0.1. Keys are
// generated here: the inline jwks replaces Istio's hosted one, and a second issuer's keys come
// from a jwksUri served on 127.0.0.1 (fetched through the cluster the translation names).
//
// The workload is a MESH_INTERNAL ServiceEntry endpoint at 127.0.0.1:<app port> labelled
// app=httpbin (EndpointSlices may not hold loopback addresses). The proxy says it is that
// workload (node IP 127.0.0.1, LABELS app=httpbin); its virtualInbound listener is bound on
// 127.0.0.3:<app port> instead of 15006 so that parallel test runs never collide, and the
// chain for the app port matches because the connection's local port is the app port.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, type ControlPlane } from '../../../src/xds/controlplane.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import type { ProxyConfig } from '../../../src/proxy/config/model.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';
import { istioClaims, jwksOf, makeKey, signJwt } from '../../helpers/jwt.js';
import { httpBackend, type Backend } from './helpers.js';

const PROXY_ADDR = '127.0.0.3';
const ISS = 'testing@secure.istio.io';
const REMOTE_ISS = 'remote-issuer.weft.test';

/** Every jwt_authn provider (an object with an `issuer`) anywhere in a node's config dump. */
function providersOf(dump: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      if (typeof (v as Record<string, unknown>)['issuer'] === 'string') out.push(v as Record<string, unknown>);
      Object.values(v).forEach(walk);
    }
  };
  walk(dump);
  return out;
}
const key = makeKey('RS256', 'istio-demo');
const remoteKey = makeKey('ES256', 'remote');
const now = (): number => Math.floor(Date.now() / 1000);
const token = (extra: Record<string, unknown> = {}): string => signJwt(key, istioClaims(now(), extra));

interface Resp { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: PROXY_ADDR, port, path, headers: { host: 'httpbin', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    r.setTimeout(5000, () => r.destroy(new Error('request timed out')));
    r.on('error', reject);
    r.end();
  });
}

describe('RequestAuthentication + AuthorizationPolicy through the control plane and weft-proxy', () => {
  const clients = clusterClients();
  let createdCrds: string[] = [];
  let ns: TestNamespace;
  let cp: ControlPlane;
  let proxy: Proxy;
  let client: XdsClient;
  let app: Backend;
  let jwks: http.Server;
  let jwksPort = 0;
  let jwksHits = 0;
  const port = (): number => app.port;

  const custom = (plural: string, group = 'security.istio.io') => ({ group, version: 'v1', namespace: ns.name, plural });
  async function apply(plural: string, body: { metadata: { name: string } } & Record<string, unknown>, group?: string): Promise<void> {
    const live = await clients.custom.getNamespacedCustomObject({ ...custom(plural, group), name: body.metadata.name }).catch(() => undefined) as { metadata: { resourceVersion: string } } | undefined;
    if (live) await clients.custom.replaceNamespacedCustomObject({ ...custom(plural, group), name: body.metadata.name, body: { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata.resourceVersion } } });
    else await clients.custom.createNamespacedCustomObject({ ...custom(plural, group), body });
  }

  const requestAuthentication = (rules: Record<string, unknown>[]) => ({
    apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'jwt-example' },
    spec: { selector: { matchLabels: { app: 'httpbin' } }, jwtRules: rules },
  });
  const requireJwt = (when?: Record<string, unknown>[]) => ({
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'require-jwt' },
    spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: [`${ISS}/${ISS}`] } }], ...(when ? { when } : {}) }] },
  });

  /** Waits until a request gets `status` (config propagation), then returns that response. */
  function until(status: number, headers: Record<string, string> = {}, path = '/headers'): Promise<Resp> {
    return waitFor(`status ${status} on ${path}`, async () => {
      const r = await get(port(), path, headers);
      return r.status === status ? r : undefined;
    }, 20_000, 100);
  }

  beforeAll(async () => {
    createdCrds = await ensureIstioCrds(clients);
    ns = await createTestNamespace('jwt');
    app = await httpBackend('httpbin');
    jwks = http.createServer((req, res) => {
      jwksHits++;
      if (req.url !== '/jwks.json') { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwksOf(remoteKey));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    jwksPort = (jwks.address() as net.AddressInfo).port;

    await apply('serviceentries', {
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'httpbin' },
      spec: {
        hosts: [`httpbin.${ns.name}.weft.test`], location: 'MESH_INTERNAL', resolution: 'STATIC',
        ports: [{ number: 8000, name: 'http', protocol: 'HTTP' }],
        endpoints: [{ address: '127.0.0.1', ports: { http: app.port }, labels: { app: 'httpbin' } }],
      },
    }, 'networking.istio.io');
    await apply('requestauthentications', requestAuthentication([{ issuer: ISS, jwks: jwksOf(key) }]));

    // A root namespace of our own: mesh-wide policies other suites create never reach this proxy.
    cp = await startControlPlane({ kubeClients: clients, logger: silentLogger(), xdsPort: 0, debounceMs: 50, syncTimeoutMs: 30_000, rootNamespace: `${ns.name}-root` });
    await waitFor('model with the ServiceEntry and RequestAuthentication', async () => {
      const m = cp.source.model();
      return m.endpoints.some((e) => e.address === '127.0.0.1' && e.port === app.port) && m.requestAuthentications.some((r) => r.metadata.namespace === ns.name);
    }, 20_000);

    proxy = new Proxy({ logger: silentLogger(), bindAddress: PROXY_ADDR });
    const remap = (cfg: ProxyConfig): ProxyConfig => {
      for (const [name, l] of cfg.listeners) {
        if (name === 'virtualInbound') l.port = app.port;
        else l.bindToPort = false;
      }
      return cfg;
    };
    client = new XdsClient({
      address: cp.address,
      node: {
        id: `sidecar~127.0.0.1~httpbin-1.${ns.name}~${ns.name}.svc.cluster.local`,
        // google.protobuf.Struct in protobufjs' JSON field names (the well-known types are camelCase).
        metadata: { fields: { LABELS: { structValue: { fields: { app: { stringValue: 'httpbin' } } } } } },
      },
      logger: silentLogger(),
      onConfig: (cfg) => proxy.apply(remap(cfg)),
    });
    client.start();
    await waitFor('virtualInbound bound', async () => proxy.listenerPort('virtualInbound') !== undefined, 20_000, 50);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await cp?.close();
    await app?.close();
    await new Promise<void>((r) => (jwks ? jwks.close(() => r()) : r()));
    await ns?.cleanup();
    for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  }, 60_000);

  it('RequestAuthentication alone: no token 200, valid token 200 (token not forwarded), invalid token 401', async () => {
    await until(401, { authorization: 'Bearer deadbeef' });
    expect((await get(port(), '/headers')).status).toBe(200);
    const ok = await get(port(), '/headers', { authorization: `Bearer ${token()}` });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { headers: Record<string, string> }).headers['authorization']).toBeUndefined();
    const bad = await get(port(), '/headers?x=1', { authorization: `Bearer ${token().slice(0, -4)}AAAA` });
    expect(bad.status).toBe(401);
    expect(bad.body).toBe('Jwt verification fails');
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="http://httpbin/headers", error="invalid_token"');
    expect(bad.headers['x-weft-response-flags']).toBe('JWT');
  });

  it('HTTP/2 (h2c): invalid token 401 with the challenge, valid token 200 without the token upstream', async () => {
    const session = http2.connect(`http://${PROXY_ADDR}:${port()}`);
    try {
      const h2get = (headers: Record<string, string>): Promise<{ status: number; challenge?: string; body: string }> => new Promise((resolve, reject) => {
        const s = session.request({ ':path': '/headers', ':authority': 'httpbin', ...headers });
        let status = 0;
        let challenge: string | undefined;
        let body = '';
        s.on('response', (h) => { status = Number(h[':status']); challenge = h['www-authenticate'] as string | undefined; });
        s.on('data', (c: Buffer) => { body += c.toString(); });
        s.on('end', () => resolve({ status, body, ...(challenge ? { challenge } : {}) }));
        s.on('error', reject);
        s.setTimeout(5000, () => s.close());
        s.end();
      });
      const bad = await h2get({ authorization: 'Bearer not-a-jwt' });
      expect(bad.status).toBe(401);
      expect(bad.challenge).toBe('Bearer realm="http://httpbin/headers", error="invalid_token"');
      const ok = await h2get({ authorization: `Bearer ${token()}` });
      expect(ok.status).toBe(200);
      expect((JSON.parse(ok.body) as { headers: Record<string, string> }).headers['authorization']).toBeUndefined();
    } finally {
      session.close();
    }
  });

  it('garbage and expired tokens are 401, and the proxy keeps serving', async () => {
    const cases = ['Bearer x', 'Bearer a.b.c', 'Bearer ....', `Bearer ${'A'.repeat(20_000)}`, `Bearer ${token({ exp: now() - 3600 })}`, `Bearer ${token({ iss: 'someone-else' })}`];
    for (const authorization of cases) expect((await get(port(), '/headers', { authorization })).status).toBe(401);
    const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${token().split('.')[1]}.c2ln`;
    expect((await get(port(), '/headers', { authorization: `Bearer ${hs}` })).status).toBe(401);
    expect((await get(port(), '/headers', { authorization: `Bearer ${token()}` })).status).toBe(200);
  });

  it('a second issuer with a jwksUri on 127.0.0.1: keys fetched through its cluster, token accepted', async () => {
    await apply('requestauthentications', requestAuthentication([
      { issuer: ISS, jwks: jwksOf(key) },
      { issuer: REMOTE_ISS, jwksUri: `http://127.0.0.1:${jwksPort}/jwks.json`, outputPayloadToHeader: 'x-jwt-payload' },
    ]));
    const remote = signJwt(remoteKey, { iss: REMOTE_ISS, sub: 'svc-a', exp: now() + 600 });
    const r = await until(200, { authorization: `Bearer ${remote}` });
    expect(jwksHits).toBeGreaterThanOrEqual(1);
    expect((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-jwt-payload']).toBe(remote.split('.')[1]);
    // The control plane fetched the keys and hands them to the proxy inline (istiod's default).
    const provider = await waitFor('the remote issuer inlined by the control plane', async () => {
      const p = providersOf(cp.configDump(`sidecar~127.0.0.1~httpbin-1.${ns.name}~${ns.name}.svc.cluster.local`)).find((x) => x['issuer'] === REMOTE_ISS);
      return p && !p['remote_jwks'] ? (p['local_jwks'] as { inline_string?: string } | undefined)?.inline_string : undefined;
    }, 20_000, 100);
    expect(provider).toContain('kty');
    // Keys of one issuer never verify the other's tokens; the first issuer still works.
    expect((await get(port(), '/headers', { authorization: `Bearer ${signJwt(key, { iss: REMOTE_ISS, sub: 'x', exp: now() + 600 })}` })).status).toBe(401);
    expect((await get(port(), '/headers', { authorization: `Bearer ${token()}` })).status).toBe(200);
  });

  it('AuthorizationPolicy requestPrincipals: missing token 403, valid 200, other principal 403, invalid still 401', async () => {
    await apply('authorizationpolicies', requireJwt());
    const denied = await until(403);
    expect(denied.body).toBe('RBAC: access denied');
    expect((await get(port(), '/headers', { authorization: `Bearer ${token()}` })).status).toBe(200);
    expect((await get(port(), '/headers', { authorization: `Bearer ${token({ sub: 'someone' })}` })).status).toBe(403);
    const remote = signJwt(remoteKey, { iss: REMOTE_ISS, sub: 'svc-a', exp: now() + 600 });
    expect((await get(port(), '/headers', { authorization: `Bearer ${remote}` })).status).toBe(403);
    expect((await get(port(), '/headers', { authorization: 'Bearer junk' })).status).toBe(401);
  });

  it('claims-based when: request.auth.claims[groups] = group1 allows, other groups are denied', async () => {
    await apply('authorizationpolicies', requireJwt([{ key: 'request.auth.claims[groups]', values: ['group1'] }]));
    const group2 = { authorization: `Bearer ${token({ groups: ['group2'] })}` };
    await until(403, group2);
    expect((await get(port(), '/headers', { authorization: `Bearer ${token({ groups: ['group1', 'group2'] })}` })).status).toBe(200);
    expect((await get(port(), '/headers', { authorization: `Bearer ${token()}` })).status).toBe(403);
    expect((await get(port(), '/headers')).status).toBe(403);
  });
});
