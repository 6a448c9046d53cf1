import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { webcrypto } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { TlsIdentity, type TlsMaterial } from '../../../src/proxy/tls.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { cla, edsCluster, HCM_TYPE, httpListener, routeConfig, TCP_TYPE, tcpListener } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, rawExchange, request, startProxy, type Backend } from './helpers.js';

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

function mtlsListener(name: string, port: number, rds: string, sans: string[]): ListenerShape {
  return {
    name, address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filter_chain_match: { transport_protocol: 'tls' },
      filters: [{ name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: name, rds: { route_config_name: rds } } }],
      transport_socket: { name: 'tls', typed_config: { '@type': DOWN, require_client_certificate: { value: true }, common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: sans.map((exact) => ({ exact })) } } } } },
    }],
  };
}

function permissiveListener(name: string, port: number, rds: string): ListenerShape {
  const strict = mtlsListener(name, port, rds, [CLIENT_ID]);
  strict.filter_chains!.push({
    filter_chain_match: { transport_protocol: 'raw_buffer' },
    filters: [{ name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: name, rds: { route_config_name: rds } } }],
  });
  return strict;
}

function mtlsCluster(name: string, san: string): ReturnType<typeof edsCluster> {
  return edsCluster(name, { transport_socket: { name: 'tls', typed_config: { '@type': UP, sni: 'server', common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: san }] } } } } } });
}

/** An h2c (prior knowledge) backend, like a gRPC server: answers with the path and whether the peer spoke HTTP/2. */
async function h2Backend(): Promise<{ port: number; close(): Promise<void> }> {
  const srv = http2.createServer();
  srv.on('stream', (st, h) => { st.respond({ ':status': 200, 'content-type': 'application/json' }); st.end(JSON.stringify({ path: h[':path'], h2: true })); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

/** One h2c request (prior knowledge) to the client proxy. */
async function h2Get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = s.request({ ':path': urlPath });
      const timer = setTimeout(() => { req.close(); reject(new Error('h2 request timed out')); }, 5000);
      let status = 0;
      let body = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.setEncoding('utf8');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => { clearTimeout(timer); resolve({ status, body }); });
      req.on('error', (e) => { clearTimeout(timer); reject(e); });
      req.end();
    });
  } finally {
    s.close();
  }
}

let backend: Backend;
let backendH2: Awaited<ReturnType<typeof h2Backend>>;
let inboundH2Port: number;
let serverProxy: Proxy, clientProxy: Proxy;
let inboundPort: number, outboundPort: number, permissivePort: number;
let ca: Awaited<ReturnType<typeof makeCa>>;

beforeAll(async () => {
  ca = await makeCa();
  backend = await httpBackend('app');
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(d)); // echo
    socket.on('error', () => undefined);
  });
  inboundPort = await freePort();
  outboundPort = await freePort();
  permissivePort = await freePort();
  backendH2 = await h2Backend();
  inboundH2Port = await freePort();
  serverProxy = await startProxy({
    listeners: [mtlsListener('inbound', inboundPort, 'in', [CLIENT_ID]), permissiveListener('permissive', permissivePort, 'in'), mtlsListener('inbound-h2', inboundH2Port, 'in-h2', [CLIENT_ID])],
    routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'app' } }]), routeConfig('in-h2', [{ match: { prefix: '/' }, route: { cluster: 'app-h2' } }])],
    clusters: [edsCluster('app'), edsCluster('app-h2', { http2_protocol_options: {} })], endpoints: [cla('app', [backend.port]), cla('app-h2', [backendH2.port])],
  });
  serverProxy.identity = new TlsIdentity(await leaf(ca, SERVER_ID, '10'));
  clientProxy = await startProxy({
    listeners: [httpListener('outbound', outboundPort, 'out')],
    routes: [routeConfig('out', [
      { match: { prefix: '/wrong' }, route: { cluster: 'wrong' } },
      { match: { prefix: '/permissive' }, route: { cluster: 'permissive' } },
      { match: { prefix: '/grpc' }, route: { cluster: 'mesh-h2' } },
      { match: { prefix: '/' }, route: { cluster: 'mesh' } },
    ])],
    clusters: [
      mtlsCluster('mesh', SERVER_ID), mtlsCluster('wrong', 'spiffe://cluster.local/ns/default/sa/someone-else'), mtlsCluster('permissive', SERVER_ID),
      { ...mtlsCluster('mesh-h2', SERVER_ID), http2_protocol_options: {} },
    ],
    endpoints: [cla('mesh', [inboundPort]), cla('wrong', [inboundPort]), cla('permissive', [permissivePort]), cla('mesh-h2', [inboundH2Port])],
  });
  clientProxy.identity = new TlsIdentity(await leaf(ca, CLIENT_ID, '11'));
});

afterAll(async () => {
  await clientProxy.close();
  await serverProxy.close();
  await backend.close();
  await backendH2.close();
});

describe('mTLS between two proxies', () => {
  it('carries requests with SPIFFE verification both ways and sets a sanitised XFCC', async () => {
    const r = await request(outboundPort, '/hello', { headers: { 'x-forwarded-client-cert': 'By=evil;URI=spiffe://forged' } });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-client-cert']).toBe(`By=;URI=${CLIENT_ID}`);
  });

  it('carries HTTP/2 (gRPC\'s transport) from an h2c client over the mTLS hop to an h2c backend', async () => {
    const r = await h2Get(outboundPort, '/grpc/echo.Echo/Unary');
    expect(r).toEqual({ status: 200, body: JSON.stringify({ path: '/grpc/echo.Echo/Unary', h2: true }) });
  });

  it('carries a WebSocket upgrade over the mTLS hop (the inbound side is STRICT: plaintext would be refused)', async () => {
    const s = net.connect(outboundPort, '127.0.0.1');
    const got = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`no echo within 3 s, got ${JSON.stringify(buf)}`)), 3000);
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n\r\n') && !buf.includes('ping')) s.write('ping-frame');
        if (buf.includes('ping-frame')) { clearTimeout(timer); resolve(buf); }
      });
      s.on('error', (e) => { clearTimeout(timer); reject(e); });
      s.write('GET /ws HTTP/1.1\r\nhost: svc\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: x\r\n\r\n');
    }).finally(() => s.destroy());
    expect(got).toContain('101 Switching Protocols');
    expect(got).toContain('ping-frame');
  });

  it('rejects a server whose SAN is not the expected one', async () => {
    const r = await request(outboundPort, '/wrong');
    expect(r.status).toBe(503);
  });

  it('carries a request body across the mTLS hop (head and body go out as separate TLS writes)', async () => {
    const body = 'b'.repeat(64 * 1024);
    const r = await request(outboundPort, '/upload', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { body: string }).body).toBe(body);
  });

  it('on a TLS connection, a request the raw path does not take (HTTP/1.0) is handed to node:http after a raw one', async () => {
    const m = await leaf(ca, CLIENT_ID, '12');
    const reply = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({
        host: '127.0.0.1', port: inboundPort, cert: m.certChainPem, key: m.keyPem, ca: m.rootsPem, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined,
      }, () => c.write('GET /raw HTTP/1.1\r\nhost: app\r\n\r\nGET /old HTTP/1.0\r\nhost: app\r\n\r\n'));
      let got = '';
      c.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      c.on('close', () => resolve(got));
      c.on('error', reject);
      setTimeout(() => { c.destroy(); resolve(got); }, 3000);
    });
    expect(reply).toContain('"url":"/raw"');
    expect(reply).toContain('"url":"/old"');
    expect(reply.match(/HTTP\/1.1 200/g)?.length).toBe(2);
  });

  it('STRICT: plaintext to the mTLS port is rejected', async () => {
    const r = await rawExchange(inboundPort, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(r.closed).toBe(true);
    expect(r.reply).toBe('');
  });

  it('PERMISSIVE: the same port accepts mTLS and plaintext, by detection', async () => {
    const viaMtls = await request(outboundPort, '/permissive');
    expect(viaMtls.status).toBe(200);
    expect((JSON.parse(viaMtls.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toBe(`By=;URI=${CLIENT_ID}`);
    const plain = await request(permissivePort, '/plain', { headers: { 'x-forwarded-client-cert': 'URI=spiffe://forged' } });
    expect(plain.status).toBe(200);
    expect((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('rotates the certificate under load with zero failed requests', async () => {
    let failed = 0;
    let total = 0;
    let stop = false;
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop && total < 3000) {
        const r = await request(outboundPort, '/load');
        total++;
        if (r.status !== 200) failed++;
      }
    });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      serverProxy.identity!.update(await leaf(ca, SERVER_ID, `2${i}`));
      clientProxy.identity!.update(await leaf(ca, CLIENT_ID, `3${i}`));
    }
    stop = true;
    await Promise.all(loops);
    expect(total).toBeGreaterThan(50);
    expect(failed).toBe(0);
    expect(serverProxy.identity!.generation).toBe(3);
  });
});

describe('TLS passthrough (SNI routing on a TCP chain)', () => {
  let echo: tls.Server;
  let proxy: Proxy;
  let port: number;

  beforeAll(async () => {
    const m = await leaf(ca, SERVER_ID, '40');
    echo = tls.createServer({ cert: m.certChainPem, key: m.keyPem }, (s) => {
      s.on('data', (d: Buffer) => s.write(`pong:${d.toString()}`));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    port = await freePort();
    proxy = await startProxy({
      listeners: [{
        name: 'sni', address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{
          filter_chain_match: { transport_protocol: 'tls', server_names: ['echo.example'] },
          filters: [{ name: 'tcp', typed_config: { '@type': TCP_TYPE, stat_prefix: 'sni', cluster: 'echo' } }],
        }],
      }],
      clusters: [edsCluster('echo')], endpoints: [cla('echo', [(echo.address() as net.AddressInfo).port])],
    });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  it('replays the ClientHello read for detection to the upstream, which completes the handshake', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'echo.example', ca: ca.cert.toString('pem'), checkServerIdentity: () => undefined }, () => c.write('ping'));
      c.on('data', (d: Buffer) => { resolve(d.toString()); c.destroy(); });
      c.on('error', reject);
      setTimeout(() => { c.destroy(); reject(new Error('no reply')); }, 5000).unref();
    });
    expect(reply).toBe('pong:ping');
  });
});

// The listener hands the HTTP/2 and TCP layers the verified peer and the direction.
describe('metrics of mTLS peers over HTTP/2 and TCP (through the listener)', () => {
  let tcpEcho: net.Server;
  let greeter: net.Server;
  let proxy: Proxy;
  let outbound: Proxy;
  let h2Port: number, tcpPort: number, greeterPort: number, outboundTcpPort: number;
  let client: TlsMaterial;

  beforeAll(async () => {
    tcpEcho = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => undefined); });
    await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', () => r()));
    // A server-first protocol (SMTP/MySQL-like): the app speaks before the client sends a byte.
    greeter = net.createServer((s) => { s.write('220 hello\r\n'); s.on('data', (d) => s.write(d)); s.on('error', () => undefined); });
    await new Promise<void>((r) => greeter.listen(0, '127.0.0.1', () => r()));
    h2Port = await freePort();
    tcpPort = await freePort();
    greeterPort = await freePort();
    const tcpChain = mtlsListener('inbound_tcp', tcpPort, 'unused', [CLIENT_ID]);
    tcpChain.filter_chains![0]!.filters = [{ name: 'tcp', typed_config: { '@type': TCP_TYPE, stat_prefix: 'inbound_tcp', cluster: 'db' } }];
    const greeterChain = mtlsListener('inbound_greeter', greeterPort, 'unused', [CLIENT_ID]);
    greeterChain.filter_chains![0]!.filters = [{ name: 'tcp', typed_config: { '@type': TCP_TYPE, stat_prefix: 'inbound_greeter', cluster: 'greeter' } }];
    proxy = await startProxy({
      listeners: [mtlsListener('inbound_h2', h2Port, 'in', [CLIENT_ID]), tcpChain, greeterChain],
      routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])],
      clusters: [edsCluster('app'), edsCluster('db'), edsCluster('greeter')],
      endpoints: [cla('app', [backend.port]), cla('db', [(tcpEcho.address() as net.AddressInfo).port]), cla('greeter', [(greeter.address() as net.AddressInfo).port])],
    });
    proxy.identity = new TlsIdentity(await leaf(ca, SERVER_ID, '50'));
    client = await leaf(ca, CLIENT_ID, '51');
    // The client side: a sidecar's outbound TCP listener whose cluster originates mTLS.
    outboundTcpPort = await freePort();
    outbound = await startProxy({
      listeners: [tcpListener('outbound_tcp', outboundTcpPort, 'mesh-greeter')],
      routes: [], clusters: [mtlsCluster('mesh-greeter', SERVER_ID)], endpoints: [cla('mesh-greeter', [greeterPort])],
    });
    outbound.identity = new TlsIdentity(await leaf(ca, CLIENT_ID, '52'));
  });

  afterAll(async () => {
    await outbound.close();
    await proxy.close();
    await new Promise<void>((r) => tcpEcho.close(() => r()));
    await new Promise<void>((r) => greeter.close(() => r()));
  });

  it('TCP over mTLS to a server-first app: the greeting arrives before the client sends anything', async () => {
    const greeting = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({
        host: '127.0.0.1', port: greeterPort, cert: client.certChainPem, key: client.keyPem, ca: client.rootsPem,
        ALPNProtocols: ['istio-peer-exchange', 'istio'], checkServerIdentity: () => undefined,
      });
      const timer = setTimeout(() => { c.destroy(); reject(new Error('no greeting within 3 s')); }, 3000);
      c.setEncoding('utf8');
      c.on('data', (d: string) => { clearTimeout(timer); c.end(); resolve(d); });
      c.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    expect(greeting).toBe('220 hello\r\n');
  });

  it('sidecar to sidecar: the outbound TCP proxy originates mTLS to a STRICT peer, and the server speaks first', async () => {
    const opened = (): number => proxy.stats.sum('istio_tcp_connections_opened_total', { ...peer, destination_service: 'greeter', connection_security_policy: 'mutual_tls' });
    const before = opened();
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: outboundTcpPort });
      let buf = '';
      const timer = setTimeout(() => { c.destroy(); reject(new Error(`no echo within 3 s, got ${JSON.stringify(buf)}`)); }, 3000);
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        buf += d;
        if (buf === '220 hello\r\n') c.write('ping\n');
        if (buf.endsWith('ping\n')) { clearTimeout(timer); c.end(); resolve(buf); }
      });
      c.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    expect(got).toBe('220 hello\r\nping\n');
    expect(opened() - before).toBe(1);
  });

  const peer = { reporter: 'destination', source_principal: CLIENT_ID, source_workload_namespace: 'default' };

  it('HTTP/2 over mTLS: inbound istio_requests_total names the client\'s SPIFFE id', async () => {
    const session = http2.connect(`https://127.0.0.1:${h2Port}`, { cert: client.certChainPem, key: client.keyPem, ca: client.rootsPem, checkServerIdentity: () => undefined });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/h2', ':authority': 'svc' });
        req.on('response', (h) => { req.resume(); req.on('end', () => resolve(Number(h[':status']))); });
        req.on('error', reject);
        req.end('x'.repeat(300));
      });
      expect(status).toBe(200);
    } finally { session.close(); }
    expect(proxy.stats.sum('istio_requests_total', { ...peer, destination_service: 'app' })).toBe(1);
  }, 5000);

  it('TCP over mTLS: the connection counters carry the peer and connection_security_policy="mutual_tls"', async () => {
    await new Promise<void>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: tcpPort, cert: client.certChainPem, key: client.keyPem, ca: client.rootsPem, checkServerIdentity: () => undefined }, () => c.write('ping'));
      c.on('data', () => c.end());
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    const deadline = Date.now() + 2000;
    while (proxy.stats.sum('istio_tcp_connections_closed_total') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(proxy.stats.sum('istio_tcp_connections_closed_total', { ...peer, destination_service: 'db', connection_security_policy: 'mutual_tls' })).toBe(1);
  });
});
