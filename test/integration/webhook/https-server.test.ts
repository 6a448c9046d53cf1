// The webhook's HTTPS edge on loopback: status codes and messages for malformed requests,
// health, hot TLS reload, and fuzzed bodies over a keep-alive connection.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createCA, issueServingCert, type KeyAndCert } from '../../../src/webhook/certs.js';
import { WebhookServer } from '../../../src/webhook/server.js';
import { reviewBody, samplePod } from '../../unit/webhook/fixtures.js';
import { fuzzCases } from '../../unit/webhook/fuzz-cases.js';

let ca: KeyAndCert;
let server: WebhookServer;
let port: number;
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });

interface Reply { status: number; json: Record<string, unknown> | undefined; text: string }

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method, ca: ca.certPem, servername: 'weft-webhook.weft-system.svc', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function servedCert(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'weft-webhook.weft-system.svc' }, () => {
      const pem = s.getPeerX509Certificate()!.fingerprint256;
      s.end();
      resolve(pem);
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  ca = await createCA(new Date(), 24 * 3600 * 1000);
  const leaf = await issueServingCert(ca, new Date(), 3600 * 1000, ['weft-webhook.weft-system.svc'], ['127.0.0.1']);
  server = new WebhookServer({
    injection: new Map([['default', defaultInjectionConfig()]]),
    defaultRevision: 'default',
    logger: silentLogger(),
    maxBodyBytes: 64 * 1024,
  });
  port = await server.listen(leaf, 0);
});

afterAll(async () => {
  agent.destroy();
  await server.close();
});

describe('webhook HTTPS server', () => {
  it('serves health and metrics', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, text: 'ok' });
    expect(await call('GET', '/readyz')).toMatchObject({ status: 200 });
    expect((await call('GET', '/metrics')).text).toContain('weft_webhook_reviews_total');
  });

  it('injects over HTTPS', async () => {
    const r = await call('POST', '/inject', reviewBody(samplePod()));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { allowed: true, patchType: 'JSONPatch' } });
  });

  it.each([
    ['bad JSON', '{not json', 'body is not valid JSON'],
    ['empty body', '', 'empty body'],
    ['wrong apiVersion', JSON.stringify({ apiVersion: 'v1', kind: 'AdmissionReview', request: {} }), 'expected apiVersion admission.k8s.io/v1'],
    ['missing request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'has no request object'],
    ['missing uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } }), 'request.uid is missing'],
  ])('answers %s with HTTP 400 and a clear message', async (_n, body, msg) => {
    for (const path of ['/inject', '/validate']) {
      const r = await call('POST', path, body);
      expect(r.status).toBe(400);
      expect(String(r.json?.error)).toContain(msg);
    }
  });

  it('denies a non-pod object with a specific message', async () => {
    const r = await call('POST', '/inject', reviewBody({ kind: 'ConfigMap' }, {}, { group: '', version: 'v1', kind: 'ConfigMap' }));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ response: { allowed: false, status: { message: 'the inject webhook handles only core/v1 Pod, got v1 ConfigMap' } } });
  });

  it('rejects oversized bodies, unknown revisions and unknown routes', async () => {
    expect((await call('POST', '/inject', 'x'.repeat(100 * 1024))).status).toBe(413);
    expect(await call('POST', '/inject/nope', reviewBody(samplePod()))).toMatchObject({ status: 404, json: { error: 'no injection config for revision "nope"' } });
    expect((await call('GET', '/inject')).status).toBe(404);
  });

  it('keeps serving after 1,000 fuzzed bodies on one keep-alive connection: each a valid review or a 400', async () => {
    const statuses = new Map<number, number>();
    for (const body of fuzzCases(1000, 7)) {
      const r = await call('POST', body.length % 2 ? '/inject' : '/validate', body);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) expect(r.json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { allowed: expect.any(Boolean) } });
      else expect(r.status).toBe(400);
    }
    expect([...statuses.keys()].sort()).toEqual([200, 400]);
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200 });
  });

  it('hot-reloads its certificate: new connections get the new one', async () => {
    const before = await servedCert();
    const leaf2 = await issueServingCert(ca, new Date(), 3600 * 1000, ['weft-webhook.weft-system.svc'], ['127.0.0.1']);
    server.setTls(leaf2, new Date(Date.now() + 3600 * 1000));
    const after = await servedCert();
    expect(after).not.toBe(before);
    expect(after).toBe(new X509Certificate(leaf2.certPem).fingerprint256);
    expect((await call('GET', '/metrics')).text).toContain('weft_webhook_cert_expiry_timestamp_seconds');
  });
});
