import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { webcrypto } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { TlsIdentity, type TlsMaterial } from '../../../src/proxy/tls.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { cla, edsCluster, HCM_TYPE, httpListener, routeConfig, TCP_TYPE } from '../../unit/proxy/fixtures.js';
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

let backend: Backend;
let serverProxy: Proxy, clientProxy: Proxy;
let inboundPort: number, outboundPort: number, permissivePort: number;
let ca: Awaited<ReturnType<typeof makeCa>>;

beforeAll(async () => {
  ca = await makeCa();
  backend = await httpBackend('app');
  inboundPort = await freePort();
  outboundPort = await freePort();
  permissivePort = await freePort();
  serverProxy = await startProxy({
    listeners: [mtlsListener('inbound', inboundPort, 'in', [CLIENT_ID]), permissiveListener('permissive', permissivePort, 'in')],
    routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])],
    clusters: [edsCluster('app')], endpoints: [cla('app', [backend.port])],
  });
  serverProxy.identity = new TlsIdentity(await leaf(ca, SERVER_ID, '10'));
  clientProxy = await startProxy({
    listeners: [httpListener('outbound', outboundPort, 'out')],
    routes: [routeConfig('out', [
      { match: { prefix: '/wrong' }, route: { cluster: 'wrong' } },
      { match: { prefix: '/permissive' }, route: { cluster: 'permissive' } },
      { match: { prefix: '/' }, route: { cluster: 'mesh' } },
    ])],
    clusters: [mtlsCluster('mesh', SERVER_ID), mtlsCluster('wrong', 'spiffe://cluster.local/ns/default/sa/someone-else'), mtlsCluster('permissive', SERVER_ID)],
    endpoints: [cla('mesh', [inboundPort]), cla('wrong', [inboundPort]), cla('permissive', [permissivePort])],
  });
  clientProxy.identity = new TlsIdentity(await leaf(ca, CLIENT_ID, '11'));
});

afterAll(async () => {
  await clientProxy.close();
  await serverProxy.close();
  await backend.close();
});

describe('mTLS between two proxies', () => {
  it('carries requests with SPIFFE verification both ways and sets a sanitised XFCC', async () => {
    const r = await request(outboundPort, '/hello', { headers: { 'x-forwarded-client-cert': 'By=evil;URI=spiffe://forged' } });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    expect(seen.headers['x-forwarded-client-cert']).toBe(`By=;URI=${CLIENT_ID}`);
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
