// weftctl against the real local cluster, run as a child process: exit codes and output.
// Cluster-scoped objects (webhook configurations) get unique names and a namespaceSelector
// that matches only this test's namespace, and are deleted afterwards.
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { makeServingMaterial } from '../../helpers/tls.js';

jest.setTimeout(120_000); // each case spawns several weftctl processes

const BIN = path.join(repoRoot, 'dist/src/cmd/weftctl.js');

interface Result { code: number; out: string; err: string }

function weftctl(args: string[], kubeconfig = kubeconfigPath): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--kubeconfig', kubeconfig, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

let ns: TestNamespace;
let dir: string;

beforeAll(async () => {
  ns = await createTestNamespace('cli');
  dir = mkdtempSync(path.join(os.tmpdir(), 'weftctl-'));
  const c = ns.clients;
  await c.core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: 'reviews' }, spec: { selector: { app: 'reviews' }, ports: [{ port: 9080 }] } } });
  await c.core.createNamespacedPod({ namespace: ns.name, body: { metadata: { name: 'reviews-v1', labels: { app: 'reviews', version: 'v1' } }, spec: { containers: [{ name: 'app', image: 'example/reviews:1' }] } } });
});

afterAll(async () => {
  await ns?.cleanup();
});

describe('weftctl basics', () => {
  it('version talks to the cluster', async () => {
    const r = await weftctl(['version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/kubernetes version: v1\.\d+/);
  });

  it('bad flags exit 2 with usage help', async () => {
    const r = await weftctl(['status', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--frobnicate'");
  });

  it('no cluster: exit 3 with a hint', async () => {
    const kc = readFileSync(kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1');
    const dead = path.join(dir, 'dead-kubeconfig');
    writeFileSync(dead, kc);
    for (const cmd of [['status'], ['check'], ['analyze'], ['version']]) {
      const r = await weftctl(cmd, dead);
      expect(r.code).toBe(3);
      expect(r.err).toContain('cannot reach the Kubernetes API server at https://127.0.0.1:1');
    }
  });

  it('an unknown --context exits 2', async () => {
    const r = await weftctl(['--context', 'nope', 'status']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('context "nope" not found');
  });
});

describe('weftctl check', () => {
  it('--pre passes on this cluster', async () => {
    const r = await weftctl(['check', '--pre']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('√ can reach the API server');
    expect(r.out).toContain('√ can create customresourcedefinitions.apiextensions.k8s.io');
    expect(r.out).toMatch(/Status check results are √/);
  });

  it('reports a bad webhook caBundle and a caBundle that does not verify the server', async () => {
    const good = await makeServingMaterial();
    const other = await makeServingMaterial();
    const server = https.createServer({ cert: good.certPem, key: good.keyPem }, (_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const name = `weft-clitest-${ns.name}`;
    const hook = (n: string, caBundle: string): Record<string, unknown> => ({
      name: `${n}.cli.weft.dev`, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 2,
      clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    });
    await ns.clients.admissionReg.createValidatingWebhookConfiguration({ body: {
      metadata: { name },
      webhooks: [
        hook('good', Buffer.from(good.caPem).toString('base64')),
        hook('wrongca', Buffer.from(other.caPem).toString('base64')),
        hook('garbage', Buffer.from('this is not a certificate').toString('base64')),
      ] as never,
    } });
    try {
      const r = await weftctl(['check']);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`√ ${name}/good.cli.weft.dev: https://127.0.0.1:${port}/validate answers TLS verified by its caBundle`);
      expect(r.out).toContain(`× ${name}/wrongca.cli.weft.dev: https://127.0.0.1:${port}/validate TLS verification failed`);
      expect(r.out).toContain(`× ${name}/garbage.cli.weft.dev: caBundle is not a base64 PEM certificate`);
      expect(r.out).toContain('hint:');
      const j = await weftctl(['check', '-o', 'json']);
      const results = JSON.parse(j.out) as { name: string; status: string }[];
      expect(results.find((x) => x.name === `${name}/garbage.cli.weft.dev caBundle`)?.status).toBe('fail');
    } finally {
      await ns.clients.admissionReg.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
      await new Promise((r) => server.close(r));
    }
  });
});

describe('weftctl analyze', () => {
  beforeAll(async () => {
    await waitFor('pod listed', async () => (await ns.clients.core.listNamespacedPod({ namespace: ns.name })).items.length === 1);
  });

  it('finds problems in files against the live registry (exit 1)', async () => {
    const f = path.join(dir, 'bad.yaml');
    writeFileSync(f, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
    - route: [{ destination: { host: reviews, subset: v3 } }]
    - match: [{ uri: { prefix: /api } }]
      route: [{ destination: { host: reviewz } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`);
    const r = await weftctl(['-n', ns.name, 'analyze', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`Error [WEFT-A0001] (VirtualService ${ns.name}/reviews spec.http[1].route[0].destination.host)`);
    expect(r.out).toContain('Error [WEFT-A0002]');
    expect(r.out).toContain('Warning [WEFT-A0003]');
    expect(r.out).toContain('Warning [WEFT-A0005]');
    expect(r.out).not.toContain('subset "v1" selects no pods');
    const j = await weftctl(['analyze', '-n', ns.name, '-f', f, '-o', 'json']);
    expect((JSON.parse(j.out) as { code: string }[]).map((x) => x.code)).toContain('WEFT-A0003');
  });

  it('passes clean files (exit 0) and --failure-threshold Warning fails on warnings', async () => {
    const f = path.join(dir, 'good.yaml');
    writeFileSync(f, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v1 } }] }] }
`);
    const ok = await weftctl(['analyze', '-n', ns.name, '-f', f]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('No validation issues found');
    const w = path.join(dir, 'warn.yaml');
    writeFileSync(w, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: oops }
spec: { action: ALLOW, selector: { matchLabels: { app: reviews } }, rules: [] }
`);
    expect((await weftctl(['analyze', '-n', ns.name, '-f', w])).code).toBe(0);
    const strict = await weftctl(['analyze', '-n', ns.name, '-f', w, '--failure-threshold', 'Warning']);
    expect(strict.code).toBe(1);
    expect(strict.out).toContain('WEFT-A0010');
  });

  it('PeerAuthentication STRICT with an unmeshed pod in the namespace', async () => {
    const f = path.join(dir, 'pa.yaml');
    writeFileSync(f, 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default }\nspec: { mtls: { mode: STRICT } }\n');
    const r = await weftctl(['analyze', '-n', ns.name, '-f', f]);
    expect(r.out).toContain('WEFT-A0009');
    expect(r.out).toContain(`${ns.name}/reviews-v1`);
  });

  it('the cluster-wide scan runs', async () => {
    const r = await weftctl(['analyze', '-A', '-o', 'json']);
    expect([0, 1]).toContain(r.code);
    expect(Array.isArray(JSON.parse(r.out))).toBe(true);
  });
});

describe('weftctl status, kube-inject, install, proxy', () => {
  it('status prints the one-screen summary', async () => {
    const r = await weftctl(['status']);
    expect(r.code).toBe(0);
    for (const h of ['MESH', 'COMPONENTS', 'PROXIES', 'CERTIFICATES']) expect(r.out).toContain(h);
    const y = await weftctl(['status', '-o', 'json']);
    expect(JSON.parse(y.out)).toHaveProperty('proxiesByVersion');
  });

  it('kube-inject --defaults injects a Deployment; bad input exits 2', async () => {
    const f = path.join(dir, 'deploy.yaml');
    writeFileSync(f, `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: nginx }] }
`);
    const r = await weftctl(['kube-inject', '--defaults', '-f', f]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('name: weft-proxy');
    expect(r.out).toContain('sidecar.weft.dev/status');
    const bad = path.join(dir, 'bad-inject.yaml');
    writeFileSync(bad, 'kind: Deployment\n');
    const b = await weftctl(['kube-inject', '--defaults', '-f', bad]);
    expect(b.code).toBe(2);
    expect(b.err).toContain('missing apiVersion');
  });

  it('install --dry-run validates the CRDs and MeshConfig on the server without persisting', async () => {
    const r = await weftctl(['install', '--dry-run', '--skip-operator', '--set', 'version=0.1.0']);
    expect(r.err).toContain('[1/3] CRDs (dry run)');
    expect(r.err).toContain('CustomResourceDefinition virtualservices.networking.istio.io');
    expect(r.code).toBe(0);
    expect(r.out).toContain('install validated (dry run)');
    const bad = await weftctl(['install', '--dry-run', '--set', 'security.mtlsMode=SOMETIMES']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('spec.security.mtlsMode');
  });

  it('upgrade rejects a bad version before touching the cluster', async () => {
    const r = await weftctl(['upgrade', '--version', 'latest']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('semantic version');
  });

  it('proxy-status / proxy-config explain pods without sidecars', async () => {
    const s = await weftctl(['proxy-status', '-n', ns.name]);
    expect(s.code).toBe(0);
    expect(s.err).toContain('no injected pods');
    const c = await weftctl(['proxy-config', 'clusters', 'reviews-v1', '-n', ns.name]);
    expect(c.code).toBe(1);
    expect(c.err).toContain('has no Weft sidecar');
    const missing = await weftctl(['proxy-config', 'clusters', 'nope', '-n', ns.name]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`pod ${ns.name}/nope not found`);
  });
});
