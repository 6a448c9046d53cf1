// Istio's secure-ingress task, MUTUAL section: a Gateway server with tls.mode MUTUAL and a
// credentialName Secret holding tls.crt, tls.key and ca.crt. Clients must present a certificate
// that chains to that ca.crt; no certificate, or one from another CA, is refused at the handshake.
// The same again with the Secrets in the real API server, read by the gateway's own fetcher:
// the client CA in a separate `<credentialName>-cacert` Secret (Istio's other layout).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import { silentLogger } from '../../../src/log/logger.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { CredentialStore, credentialFromSecretData, type CredentialFetcher } from '../../../src/proxy/credentials.js';
import { kubeSecretFetcher } from '../../../src/proxy/kube-credentials.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { makeServingMaterial, type ServingMaterial } from '../../helpers/tls.js';
import { cla, edsCluster, HCM_TYPE, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, type Backend } from './helpers.js';

const DOWN = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** The listener the control plane renders for a MUTUAL Gateway server (src/xds/translate/listeners.ts). */
function mutualListener(port: number): ListenerShape {
  return {
    name: `0.0.0.0_${port}`, address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filters: [{ name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: 'gw', rds: { route_config_name: 'gw' } } }],
      transport_socket: {
        name: 'tls',
        typed_config: {
          '@type': DOWN, require_client_certificate: { value: true },
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'kubernetes://httpbin-credential' }],
            validation_context_sds_secret_config: { name: 'kubernetes://httpbin-credential-cacert' },
          },
        },
      },
    }],
  };
}

interface Gateway { proxy: Proxy; store: CredentialStore; port: number }

async function startGateway(fetch: CredentialFetcher): Promise<Gateway> {
  const port = await freePort();
  const store = new CredentialStore(fetch, silentLogger(), 3_600_000);
  const proxy = new Proxy({ logger: silentLogger(), bindAddress: '127.0.0.1', credentials: store });
  await proxy.apply(buildProxyConfig({
    listeners: [mutualListener(port)],
    routes: [routeConfig('gw', [{ match: { prefix: '/' }, route: { cluster: 'httpbin' } }])],
    clusters: [edsCluster('httpbin')], endpoints: [cla('httpbin', [backend.port])],
  }));
  return { proxy, store, port };
}

let backend: Backend;
let server: ServingMaterial;
let client: ServingMaterial;
let stranger: ServingMaterial;

beforeAll(async () => {
  server = await makeServingMaterial(['httpbin.example.com']);
  client = await makeServingMaterial(['client.example.com'], [], { clientAuth: true });
  stranger = await makeServingMaterial(['stranger.example.com'], [], { clientAuth: true });
  backend = await httpBackend('httpbin');
});

afterAll(async () => {
  await backend.close();
});

/** One HTTPS GET to the gateway with an optional client certificate: the status, or the handshake's error. */
function get(port: number, cert?: ServingMaterial): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/status/418', servername: 'httpbin.example.com', ca: server.caPem, agent: false,
      checkServerIdentity: () => undefined, timeout: 3000, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.end();
  });
}

/** The three MUTUAL outcomes against one gateway. */
function mutualCases(gateway: () => Gateway): void {
  it('a client certificate signed by the client CA gets through', async () => {
    const before = backend.hits;
    expect(await get(gateway().port, client)).toBe(200);
    expect(backend.hits).toBeGreaterThan(before);
  });

  it('no client certificate is refused at the handshake', async () => {
    const before = backend.hits;
    expect(String(await get(gateway().port))).toMatch(/^error: /);
    expect(backend.hits).toBe(before);
  });

  it('a client certificate from another CA is refused', async () => {
    const before = backend.hits;
    expect(String(await get(gateway().port, stranger))).toMatch(/^error: /);
    expect(backend.hits).toBe(before);
  });
}

describe('gateway MUTUAL TLS (credentialName with ca.crt)', () => {
  let gw: Gateway;
  beforeAll(async () => {
    // The Secret as `kubectl create secret generic httpbin-credential --from-file=tls.crt --from-file=tls.key --from-file=ca.crt` makes it.
    const secret = { 'tls.crt': b64(server.certPem), 'tls.key': b64(server.keyPem), 'ca.crt': b64(client.caPem) };
    gw = await startGateway(async (name) => (name === 'httpbin-credential' ? credentialFromSecretData(secret) : undefined));
  });
  afterAll(async () => { await gw.proxy.close(); gw.store.close(); });
  mutualCases(() => gw);
});

describe('gateway MUTUAL TLS, client CA in a separate <credentialName>-cacert Secret (real API server)', () => {
  let ns: TestNamespace;
  let gw: Gateway;
  beforeAll(async () => {
    ns = await createTestNamespace('gw-cacert');
    const create = (name: string, data: Record<string, string>): Promise<unknown> =>
      ns.clients.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name }, data } });
    // kubectl create -n <ns> secret tls httpbin-credential --key=... --cert=...
    await create('httpbin-credential', { 'tls.crt': b64(server.certPem), 'tls.key': b64(server.keyPem) });
    // kubectl create -n <ns> secret generic httpbin-credential-cacert --from-file=cacert=...
    await create('httpbin-credential-cacert', { cacert: b64(client.caPem) });
    gw = await startGateway(kubeSecretFetcher(ns.name, ns.clients.config));
  });
  afterAll(async () => { await gw.proxy.close(); gw.store.close(); await ns.cleanup(); });

  it('the fetcher joins the two Secrets; the credential\'s own ca.crt would win', async () => {
    const fetch = kubeSecretFetcher(ns.name, ns.clients.config);
    expect((await fetch('httpbin-credential'))?.caPem).toBe(client.caPem);
    const own = { 'tls.crt': b64(server.certPem), 'tls.key': b64(server.keyPem), 'ca.crt': b64(stranger.caPem) };
    await ns.clients.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'both' }, data: own } });
    await ns.clients.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'both-cacert' }, data: { cacert: b64(client.caPem) } } });
    expect((await fetch('both'))?.caPem).toBe(stranger.caPem);
    expect(await fetch('no-such-credential')).toBeUndefined();
  });

  mutualCases(() => gw);
});
