import 'reflect-metadata';
import { describe, it, expect, beforeAll } from '@jest/globals';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import {
  caBundleCheck, certificateCheck, crdsCheck, formatChecks, kubernetesVersionCheck, proxySyncCheck, summarize,
  uninjectedPodsCheck, versionSkewCheck, webhookReachabilityCheck,
} from '../../../src/cli/check/checks.js';
import { painter } from '../../../src/cli/io.js';
import { isWeftWebhook, probeTarget } from '../../../src/cli/commands/check.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

async function cert(notBefore: Date, notAfter: Date): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=test', notBefore, notAfter, keys, signingAlgorithm: alg });
  return c.toString('pem');
}

let longPem = '';
let shortPem = '';
let expiredPem = '';
let futurePem = '';
beforeAll(async () => {
  longPem = await cert(new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + 365 * DAY));
  shortPem = await cert(new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + 10 * DAY));
  expiredPem = await cert(new Date(NOW.getTime() - 10 * DAY), new Date(NOW.getTime() - DAY));
  futurePem = await cert(new Date(NOW.getTime() + DAY), new Date(NOW.getTime() + 10 * DAY));
});

describe('kubernetesVersionCheck', () => {
  it('passes new, fails old, warns on garbage', () => {
    expect(kubernetesVersionCheck('v1.36.3').status).toBe('pass');
    expect(kubernetesVersionCheck('v1.28.0').status).toBe('fail');
    expect(kubernetesVersionCheck('v1.28.0').hint).toContain('1.29');
    expect(kubernetesVersionCheck('weird').status).toBe('warn');
  });
});

describe('crdsCheck', () => {
  it('fails missing and not-established CRDs', () => {
    const r = crdsCheck(['a', 'b', 'c'], [{ name: 'a', established: true }, { name: 'b', established: false }]);
    expect(r.map((x) => x.status)).toEqual(['pass', 'fail', 'fail']);
  });
});

describe('certificateCheck', () => {
  it('passes a long-lived cert, warns under 30 days, fails expired and not-yet-valid', () => {
    expect(certificateCheck('c', 'n', longPem, NOW).status).toBe('pass');
    const s = certificateCheck('c', 'n', shortPem, NOW);
    expect(s.status).toBe('warn');
    expect(s.message).toContain('expires in 10d');
    expect(certificateCheck('c', 'n', expiredPem, NOW).status).toBe('fail');
    expect(certificateCheck('c', 'n', futurePem, NOW).status).toBe('fail');
    expect(certificateCheck('c', 'n', `${longPem}\n${shortPem}`, NOW).status).toBe('warn');
  });
  it('fails missing and garbage input', () => {
    expect(certificateCheck('c', 'n', undefined, NOW).status).toBe('fail');
    expect(certificateCheck('c', 'n', 'hello', NOW).message).toContain('not a valid PEM');
  });
});

describe('caBundleCheck', () => {
  it('validates base64 PEM bundles', () => {
    expect(caBundleCheck('w', Buffer.from(longPem).toString('base64'), NOW).status).toBe('pass');
    expect(caBundleCheck('w', undefined, NOW).status).toBe('fail');
    const bad = caBundleCheck('w', Buffer.from('not a cert').toString('base64'), NOW);
    expect(bad.status).toBe('fail');
    expect(bad.message).toContain('not a base64 PEM');
  });
});

describe('webhook helpers', () => {
  it('probes only loopback URLs', () => {
    expect(probeTarget('https://127.0.0.1:9443/inject')).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(typeof probeTarget('https://10.0.0.1/inject')).toBe('string');
    expect(typeof probeTarget(undefined)).toBe('string');
  });
  it('recognises Weft webhooks', () => {
    expect(isWeftWebhook({ metadata: { name: 'weft-sidecar-injector' } })).toBe(true);
    expect(isWeftWebhook({ metadata: { name: 'x', labels: { 'app.kubernetes.io/managed-by': 'weft-operator' } } })).toBe(true);
    expect(isWeftWebhook({ metadata: { name: 'other' } })).toBe(false);
  });
  it('explains TLS and connection failures differently', () => {
    expect(webhookReachabilityCheck({ webhook: 'w', url: 'u', error: 'self-signed certificate' }).hint).toContain('caBundle');
    expect(webhookReachabilityCheck({ webhook: 'w', url: 'u', error: 'connect ECONNREFUSED' }).hint).toContain('running');
    expect(webhookReachabilityCheck({ webhook: 'w', skipped: 'not loopback' }).status).toBe('skip');
    expect(webhookReachabilityCheck({ webhook: 'w', url: 'u' }).status).toBe('pass');
  });
});

describe('data plane checks', () => {
  it('version skew', () => {
    expect(versionSkewCheck(undefined, [], 1).status).toBe('skip');
    expect(versionSkewCheck('1.2.0', [{ pod: 'a', version: '1.2.0' }], 1).status).toBe('pass');
    expect(versionSkewCheck('1.2.0', [{ pod: 'a', version: '1.1.0' }], 1).status).toBe('warn');
    const f = versionSkewCheck('1.4.0', [{ pod: 'a', version: '1.1.0' }], 1);
    expect(f.status).toBe('fail');
    expect(f.message).toContain('a@1.1.0');
  });
  it('uninjected pods', () => {
    expect(uninjectedPodsCheck([]).status).toBe('pass');
    expect(uninjectedPodsCheck(['ns/a']).status).toBe('warn');
  });
  it('proxy sync', () => {
    expect(proxySyncCheck('none', undefined).status).toBe('skip');
    expect(proxySyncCheck('x', [{ proxy: 'p', types: { CDS: 'SYNCED' } }]).status).toBe('pass');
    expect(proxySyncCheck('x', [{ proxy: 'p', types: { CDS: 'STALE' } }]).status).toBe('warn');
    expect(proxySyncCheck('x', [{ proxy: 'p', types: { LDS: 'NACK' }, error: 'bad' }]).status).toBe('fail');
  });
});

describe('formatChecks', () => {
  it('groups by category with icons and hints, no colour when off', () => {
    const results = [kubernetesVersionCheck('v1.36.0'), uninjectedPodsCheck(['ns/a']), kubernetesVersionCheck('v1.20.0')];
    const out = formatChecks(results, painter(false));
    expect(out).toContain('kubernetes\n----------\n√ Kubernetes v1.36.0');
    expect(out).toContain('‼ 1 pod(s)');
    expect(out).toContain('    hint:');
    expect(out).toContain('× (1 failed, 1 warnings, 1 passed)');
    expect(out).not.toContain('\u001b[');
    expect(formatChecks(results, painter(true))).toContain('\u001b[31m');
    expect(summarize(results)).toEqual({ pass: 1, warn: 1, fail: 1, skip: 0 });
  });
});
