// AuthorizationPolicy enforcement through real proxies (see the comment below the helpers).
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { TlsIdentity, type TlsMaterial } from '../../../src/proxy/tls.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { cla, edsCluster, HCM_TYPE, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { freePort, httpBackend, request, startProxy, type Backend } from './helpers.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DOWN = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UP = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';

async function makeCa(): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=weft-test-root', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000),
    signingAlgorithm: alg, keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert, keys };
}

async function leaf(ca: { cert: x509.X509Certificate; keys: CryptoKeyPair }, id: string, serial: string): Promise<TlsMaterial> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial, subject: 'O=weft', issuer: ca.cert.subject, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000),
    signingAlgorithm: alg, publicKey: keys.publicKey, signingKey: ca.keys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }], true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const pk = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64').replace(/(.{64})/g, '$1\n');
  return { certChainPem: cert.toString('pem'), keyPem: `-----BEGIN PRIVATE KEY-----\n${pk}\n-----END PRIVATE KEY-----\n`, rootsPem: ca.cert.toString('pem') };
}

// AuthorizationPolicy enforcement through real proxies: the Envoy RBAC HTTP filter the control
// plane puts on inbound chains admits one caller and refuses another with 403.
const OTHER_ID = 'spiffe://cluster.local/ns/default/sa/other';
const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';

/** ALLOW GET on /api/* (normalised) for `principal`, as translate renders an AuthorizationPolicy. */
function allowPolicy(principal: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.rbac.allow',
    typed_config: { '@type': RBAC_TYPE, rules: { action: 'ALLOW', policies: { 'ns[default]-policy[api]-rule[0]': {
      permissions: [{ and_rules: { rules: [
        { header: { name: ':method', string_match: { exact: 'GET' } } },
        { url_path: { path: { prefix: '/api/' } } },
      ] } }],
      principals: [principal],
    } } } },
  };
}
const DENY_DEBUG = {
  name: 'envoy.filters.http.rbac.deny',
  typed_config: { '@type': RBAC_TYPE, rules: { action: 'DENY', policies: { debug: {
    permissions: [{ url_path: { path: { prefix: '/api/debug' } } }], principals: [{ any: true }],
  } } } },
};
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

function hcm(name: string, filters: Record<string, unknown>[]): Record<string, unknown> {
  return { name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: name, rds: { route_config_name: 'in' }, http_filters: [...filters, ROUTER] } };
}

function mtlsInbound(port: number): ListenerShape {
  return {
    name: 'inbound_mtls', address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filter_chain_match: { transport_protocol: 'tls' },
      filters: [hcm('in', [DENY_DEBUG, allowPolicy({ authenticated: { principal_name: { exact: CLIENT_ID } } })])],
      transport_socket: { name: 'tls', typed_config: { '@type': DOWN, require_client_certificate: { value: true } } },
    }],
  } as ListenerShape;
}

function plainInbound(port: number): ListenerShape {
  return {
    name: 'inbound_plain', address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [{ filters: [hcm('plain', [DENY_DEBUG, allowPolicy({ direct_remote_ip: { address_prefix: '127.0.0.2', prefix_len: { value: 32 } } })])] }],
  } as ListenerShape;
}

function mtlsCluster(name: string, san: string): ReturnType<typeof edsCluster> {
  return edsCluster(name, { transport_socket: { name: 'tls', typed_config: { '@type': UP, sni: 'server', common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: san }] } } } } } });
}

/** One HTTP/1.1 request from a chosen loopback source address. */
function requestFrom(localAddress: string, port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, path, method, localAddress, agent: false, headers: { host: 'svc' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

/** One h2c request (prior knowledge) from a chosen loopback source address. */
function h2From(localAddress: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: '127.0.0.1', port, localAddress }) });
    s.on('error', reject);
    const st = s.request({ ':path': path, ':method': 'GET', ':authority': 'svc' });
    st.on('response', (h) => { const code = Number(h[':status']); st.resume(); st.on('end', () => { s.close(); resolve(code); }); });
    st.on('error', reject);
    st.end();
  });
}

let serverRoots = '';
let backend: Backend;
let server: Proxy, good: Proxy, bad: Proxy;
let mtlsPort: number, plainPort: number, goodOut: number, badOut: number;

beforeAll(async () => {
  const ca = await makeCa();
  backend = await httpBackend('app');
  [mtlsPort, plainPort, goodOut, badOut] = [await freePort(), await freePort(), await freePort(), await freePort()];
  server = await startProxy({
    listeners: [mtlsInbound(mtlsPort), plainInbound(plainPort)],
    routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])],
    clusters: [edsCluster('app')], endpoints: [cla('app', [backend.port])],
  });
  const serverMaterial = await leaf(ca, SERVER_ID, '20');
  serverRoots = serverMaterial.rootsPem;
  server.identity = new TlsIdentity(serverMaterial);
  const client = async (port: number): Promise<Proxy> => startProxy({
    listeners: [httpListener('outbound', port, 'out')],
    routes: [routeConfig('out', [{ match: { prefix: '/' }, route: { cluster: 'mesh' } }])],
    clusters: [mtlsCluster('mesh', SERVER_ID)], endpoints: [cla('mesh', [mtlsPort])],
  });
  good = await client(goodOut);
  good.identity = new TlsIdentity(await leaf(ca, CLIENT_ID, '21'));
  bad = await client(badOut);
  bad.identity = new TlsIdentity(await leaf(ca, OTHER_ID, '22'));
});

afterAll(async () => {
  await good.close();
  await bad.close();
  await server.close();
  await backend.close();
});

describe('RBAC by mTLS principal, method and path', () => {
  it('admits the allowed principal on GET /api/*', async () => {
    const r = await request(goodOut, '/api/items');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).url).toBe('/api/items');
  });

  it('refuses another principal with 403 "RBAC: access denied" before reaching the app', async () => {
    const hits = backend.hits;
    const r = await request(badOut, '/api/items');
    expect(r.status).toBe(403);
    expect(r.body).toBe('RBAC: access denied');
    expect(backend.hits).toBe(hits);
  });

  it('refuses the allowed principal on another method, another path, a traversal out of /api and a DENY path', async () => {
    expect((await request(goodOut, '/api/items', { method: 'POST', body: 'x' })).status).toBe(403);
    expect((await request(goodOut, '/admin')).status).toBe(403);
    expect((await request(goodOut, '/api/%2e%2e/admin')).status).toBe(403);
    expect((await request(goodOut, '/api/debug/vars')).status).toBe(403);
    expect((await request(goodOut, '//api//debug')).status).toBe(403);
  });
});

describe('a forged principal', () => {
  it('a certificate from another CA naming the allowed SPIFFE id is not accepted', async () => {
    const port = await freePort();
    const forger = await startProxy({
      listeners: [httpListener('outbound', port, 'out')],
      routes: [routeConfig('out', [{ match: { prefix: '/' }, route: { cluster: 'mesh' } }])],
      clusters: [mtlsCluster('mesh', SERVER_ID)], endpoints: [cla('mesh', [mtlsPort])],
    });
    try {
      const rogue = await leaf(await makeCa(), CLIENT_ID, '30');
      // Trust the real server, present a cert from a rogue CA.
      forger.identity = new TlsIdentity({ ...rogue, rootsPem: `${rogue.rootsPem}${serverRoots}` });
      const hits = backend.hits;
      const r = await request(port, '/api/items');
      expect(r.status).not.toBe(200);
      expect(backend.hits).toBe(hits);
    } finally {
      await forger.close();
    }
  });
});

describe('RBAC by source IP (plaintext)', () => {
  it('admits 127.0.0.2 and refuses 127.0.0.3 on HTTP/1.1', async () => {
    expect((await requestFrom('127.0.0.2', plainPort, '/api/x')).status).toBe(200);
    const r = await requestFrom('127.0.0.3', plainPort, '/api/x');
    expect(r).toEqual({ status: 403, body: 'RBAC: access denied' });
    expect((await requestFrom('127.0.0.2', plainPort, '/api/../secret')).status).toBe(403);
  });

  it('enforces the same on HTTP/2 (h2c)', async () => {
    expect(await h2From('127.0.0.2', plainPort, '/api/x')).toBe(200);
    expect(await h2From('127.0.0.3', plainPort, '/api/x')).toBe(403);
    expect(await h2From('127.0.0.2', plainPort, '/api/debug')).toBe(403);
  });
});
