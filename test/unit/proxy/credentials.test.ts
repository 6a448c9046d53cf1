// Gateway TLS credentials (credentialName): parsing Secret data, the SDS name on a
// DownstreamTlsContext, and the store's load / refresh / keep-last-good / forget behaviour.
import { describe, expect, it } from '@jest/globals';
import { credentialFromSecretData, CredentialStore, type TlsCredential } from '../../../src/proxy/credentials.js';
import { buildListener, credentialSecretName } from '../../../src/proxy/config/build.js';
import { credentialNames } from '../../../src/proxy/proxy.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import { silentLogger } from '../../../src/log/logger.js';
import { makeServingMaterial } from '../../helpers/tls.js';
import { HCM_TYPE } from './fixtures.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

describe('credentialFromSecretData', () => {
  const cert = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n';
  const key = '-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n';
  it('reads kubernetes.io/tls keys and Istio generic cert/key', () => {
    expect(credentialFromSecretData({ 'tls.crt': b64(cert), 'tls.key': b64(key) })).toEqual({ certPem: cert, keyPem: key });
    expect(credentialFromSecretData({ cert: b64(cert), key: b64(key) })).toEqual({ certPem: cert, keyPem: key });
  });
  it('carries a MUTUAL client CA from ca.crt (or cacert) in the same Secret; a non-PEM one is ignored', () => {
    expect(credentialFromSecretData({ 'tls.crt': b64(cert), 'tls.key': b64(key), 'ca.crt': b64(cert) })).toEqual({ certPem: cert, keyPem: key, caPem: cert });
    expect(credentialFromSecretData({ cert: b64(cert), key: b64(key), cacert: b64(cert) })).toEqual({ certPem: cert, keyPem: key, caPem: cert });
    expect(credentialFromSecretData({ 'tls.crt': b64(cert), 'tls.key': b64(key), 'ca.crt': b64('junk') })).toEqual({ certPem: cert, keyPem: key });
  });
  it.each([
    ['no data', undefined], ['no key', { 'tls.crt': b64(cert) }], ['no cert', { 'tls.key': b64(key) }],
    ['not PEM', { 'tls.crt': b64('hello'), 'tls.key': b64('world') }],
  ])('refuses %s', (_what, data) => expect(credentialFromSecretData(data as Record<string, string> | undefined)).toBeUndefined());
});

describe('credentialName on a downstream TLS context', () => {
  it('default is the workload identity; other SDS names are Secrets (kubernetes:// prefix allowed)', () => {
    expect(credentialSecretName('default')).toBeUndefined();
    expect(credentialSecretName(undefined)).toBeUndefined();
    expect(credentialSecretName('httpbin-credential')).toBe('httpbin-credential');
    expect(credentialSecretName('kubernetes://httpbin-credential')).toBe('httpbin-credential');
  });
  it('rejects a name no Secret can have', () => {
    expect(() => credentialSecretName('../etc/passwd')).toThrow('names no valid Secret');
    expect(() => credentialSecretName('Upper_Case')).toThrow('names no valid Secret');
  });
  it('the listener model and credentialNames carry it', () => {
    const l = {
      name: '0.0.0.0_443', address: { socket_address: { address: '0.0.0.0', port_value: 443 } },
      filter_chains: [{
        filter_chain_match: { server_names: ['httpbin.example.com'] },
        transport_socket: { name: 'tls', typed_config: { '@type': TLS_TYPE, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'httpbin-credential' }] } } },
        filters: [{ name: 'hcm', typed_config: { '@type': HCM_TYPE, rds: { route_config_name: 'http.443' } } }],
      }],
    };
    expect(buildListener(l as never).filterChains[0]!.tls).toEqual({ requireClientCert: false, expectedSans: [], alpn: [], credentialName: 'httpbin-credential' });
    expect(credentialNames(buildProxyConfig({ listeners: [l] } as never))).toEqual(['httpbin-credential']);
  });
});

describe('CredentialStore', () => {
  it('loads wanted names, keeps the last good context when a refresh fails, drops a deleted Secret, forgets unused names', async () => {
    const m = await makeServingMaterial(['httpbin.example.com'], []);
    const good: TlsCredential = { certPem: m.certPem, keyPem: m.keyPem };
    let answer: 'good' | 'error' | 'missing' = 'good';
    const calls: string[] = [];
    const store = new CredentialStore(async (name) => {
      calls.push(name);
      if (answer === 'error') throw new Error('api server away');
      return answer === 'good' && name === 'a' ? good : undefined;
    }, silentLogger(), 3_600_000);
    await store.want(['a', 'b']);
    expect(store.get('a')).toBeDefined();
    expect(store.get('b')).toBeUndefined(); // no such Secret
    await store.want(['a', 'b']); // already wanted: no refetch
    expect(calls.sort()).toEqual(['a', 'b']);
    answer = 'error';
    await store.refresh();
    expect(store.get('a')).toBeDefined(); // kept
    answer = 'missing';
    await store.refresh();
    expect(store.get('a')).toBeUndefined(); // the Secret is gone: serve nothing, as Envoy does
    answer = 'good';
    await store.want(['a']);
    await store.refresh();
    expect(store.get('a')).toBeDefined();
    await store.want([]);
    expect(store.get('a')).toBeUndefined();
    store.close();
  });
  it('a certificate that does not match its key is not loaded', async () => {
    const m1 = await makeServingMaterial(['a.example.com'], []);
    const m2 = await makeServingMaterial(['b.example.com'], []);
    const store = new CredentialStore(async () => ({ certPem: m1.certPem, keyPem: m2.keyPem }), silentLogger(), 3_600_000);
    await store.want(['x']);
    expect(store.get('x')).toBeUndefined();
    store.close();
  });
});
