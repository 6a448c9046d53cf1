// weftctl plan, install/status/upgrade/uninstall for real, and "no CRDs", against the real
// cluster, run as child processes. The operator Deployment lands on kwok's simulated node and
// never runs, so lifecycle assertions are on the applied objects, not on operator behaviour.
// "No CRDs" goes through a loopback proxy in front of the real API server that hides the CRDs
// (the shared cluster's CRDs must not be deleted while other tests use them).
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { deleteCrds, ensureIstioCrds } from '../../helpers/crds.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';

jest.setTimeout(180_000);

const BIN = path.join(repoRoot, 'dist/src/cmd/weftctl.js');

interface Result { code: number; out: string; err: string }

function weftctl(args: string[], kubeconfig = kubeconfigPath): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--kubeconfig', kubeconfig, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

let ns: TestNamespace;
let dir: string;

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

let createdCrds: string[] = [];

beforeAll(async () => {
  ns = await createTestNamespace('cliplan');
  // plan dry-runs Istio objects, so their CRDs must exist (suites run in any order on a fresh cluster).
  createdCrds = await ensureIstioCrds(ns.clients);
  dir = mkdtempSync(path.join(os.tmpdir(), 'weftctl-plan-'));
  const c = ns.clients;
  await c.core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: 'reviews' }, spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] } } });
  for (const [name, labels, sa] of [['reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews'], ['productpage', { app: 'productpage' }, 'default']] as const) {
    if (sa !== 'default') await c.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    await c.apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { serviceAccountName: sa, containers: [{ name: 'app', image: `example/${name}:1` }] } },
        },
      },
    });
  }
  await waitFor('pods with IPs', async () => {
    const pods = await c.core.listNamespacedPod({ namespace: ns.name });
    return pods.items.length === 2 && pods.items.every((p) => p.status?.podIP) ? true : undefined;
  }, 60_000);
});

afterAll(async () => {
  await ns?.cleanup();
  if (ns) await deleteCrds(ns.clients, createdCrds);
});

const changeYaml = (nsName: string): string => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: ${nsName} }
spec:
  host: reviews
  subsets:
    - name: v1
      labels: { version: v1 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: ${nsName} }
spec:
  hosts: [reviews]
  http:
    - name: jason
      match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: reviews, subset: v1 } }]
    - route: [{ destination: { host: reviews } }]
`;

describe('weftctl plan', () => {
  it('shows the clusters and routes a DestinationRule + VirtualService add, without persisting them', async () => {
    const f = file('change.yaml', changeYaml(ns.name));
    const r = await weftctl(['plan', '-n', ns.name, '-f', f]);
    expect(r.err).toContain(`DestinationRule ${ns.name}/reviews is valid (server dry run)`);
    expect({ code: r.code, err: r.code === 0 ? '' : r.err }).toEqual({ code: 0, err: '' });
    const fqdn = `reviews.${ns.name}.svc.cluster.local`;
    expect(r.out).toMatch(/^WORKLOAD\s+KIND\s+NAME\s+CHANGE/m);
    expect(r.out).toMatch(new RegExp(`${ns.name}/productpage\\s+cluster\\s+outbound\\|9080\\|v1\\|${fqdn.replace(/\./g, '\\.')}\\s+\\+`));
    expect(r.out).toMatch(new RegExp(`${ns.name}/productpage\\s+route\\s+9080/${fqdn.replace(/\./g, '\\.')}:9080: jason .*\\+`));
    expect(r.out).toMatch(/workload\(s\) affected/);

    const j = await weftctl(['plan', '-n', ns.name, '-f', f, '-o', 'json']);
    expect(j.code).toBe(0);
    const parsed = JSON.parse(j.out) as { workloads: string[]; changes: { workload: string; kind: string; name: string; op: string }[] };
    expect(parsed.workloads).toEqual([`${ns.name}/productpage`, `${ns.name}/reviews-v1`]);
    expect(parsed.changes).toContainEqual({ workload: `${ns.name}/reviews-v1`, kind: 'cluster', name: `outbound|9080|v1|${fqdn}`, op: '+' });

    const y = await weftctl(['plan', '-n', ns.name, '-f', f, '-o', 'yaml']);
    expect(y.code).toBe(0);
    expect(y.out).toContain('changes:');

    // The dry run persisted nothing.
    const vs = await ns.clients.custom.listNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespace: ns.name }) as { items: unknown[] };
    expect(vs.items).toHaveLength(0);
  });

  it('shows authorization decisions that change for known callers', async () => {
    const f = file('authz.yaml', `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-only-from-nowhere }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules:
    - from: [{ source: { namespaces: [some-other-namespace] } }]
`);
    const r = await weftctl(['plan', '-n', ns.name, '-f', f]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`${ns.name}/reviews-v1\\s+authz\\s+from ${ns.name}/sa/default\\s+~\\s+ALLOW -> DENY`));
    expect(r.out).not.toMatch(new RegExp(`${ns.name}/productpage\\s+authz`));
  });

  it('a new Service adds a listener, routes and a cluster to every workload', async () => {
    const f = file('svc.yaml', `
apiVersion: v1
kind: Service
metadata: { name: ratings }
spec:
  selector: { app: ratings }
  ports: [{ name: http, port: 9555 }]
`);
    const r = await weftctl(['plan', '-n', ns.name, '-f', f, '-o', 'json']);
    expect(r.code).toBe(0);
    const changes = (JSON.parse(r.out) as { changes: { workload: string; kind: string; name: string; op: string }[] }).changes;
    const forProductpage = changes.filter((c) => c.workload === `${ns.name}/productpage`);
    expect(forProductpage).toContainEqual({ workload: `${ns.name}/productpage`, kind: 'cluster', name: `outbound|9555||ratings.${ns.name}.svc.cluster.local`, op: '+' });
    expect(forProductpage.some((c) => c.kind === 'listener' && c.name.endsWith('9555') && c.op === '+')).toBe(true);
    await expect(ns.clients.core.readNamespacedService({ name: 'ratings', namespace: ns.name })).rejects.toBeDefined();
  });

  it('a change with no effect says so; --delete of a missing object and an invalid object exit 2', async () => {
    const noop = file('noop.yaml', `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: elsewhere }
spec:
  hosts: [nothing.example.com]
  gateways: [some-gateway]
  http: [{ route: [{ destination: { host: nothing.example.com } }] }]
`);
    const r = await weftctl(['plan', '-n', ns.name, '-f', noop]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('No proxy config changes for 2 workload(s).');

    const del = await weftctl(['plan', '-n', ns.name, '--delete', '-f', noop]);
    expect(del.code).toBe(2);
    expect(del.err).toMatch(/dry run delete VirtualService .*elsewhere: the API server rejected it \(404\)/);

    const bad = file('bad.yaml', `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bad }
spec:
  hosts: reviews
`);
    const b = await weftctl(['plan', '-n', ns.name, '-f', bad]);
    expect(b.code).toBe(2);
    expect(b.err).toContain('dry run apply VirtualService');
    expect(b.err).toContain('the API server rejected it');
  });

  it('bad flags and missing input exit 2', async () => {
    const noFile = await weftctl(['plan']);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toContain('plan needs the change: pass -f <file>');
    const missing = await weftctl(['plan', '-f', path.join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no such file or directory');
    const flag = await weftctl(['plan', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain("unknown option '--bogus'");
  });
});

// ---------------------------------------------------------------------------------------

describe('weftctl install / status / upgrade / uninstall for real', () => {
  const mcName = `cli-${Math.random().toString(16).slice(2, 8)}`;
  const mcApi = { group: 'operator.weft.dev', version: 'v1alpha1', plural: 'meshconfigs' };

  afterAll(async () => {
    // Nothing runs the operator, so make sure our MeshConfig does not linger behind a finalizer.
    const custom = ns.clients.custom;
    await custom.patchClusterCustomObject({ ...mcApi, name: mcName, body: { metadata: { finalizers: null } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)).catch(() => undefined);
    await custom.deleteClusterCustomObject({ ...mcApi, name: mcName }).catch(() => undefined);
  });

  it('installs, reports status, patches the version, and uninstalls', async () => {
    const mcFile = file('mc.yaml', `apiVersion: operator.weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: ${mcName} }\nspec: { version: 0.1.0 }\n`);
    const inst = await weftctl(['install', '-f', mcFile]);
    expect(inst.err).toContain('[1/3] CRDs');
    expect(inst.err).toContain('✔ CustomResourceDefinition meshconfigs.operator.weft.dev');
    expect(inst.err).toContain('[2/3] operator');
    expect(inst.err).toMatch(/✔ Deployment weft-system\/weft-operator/);
    expect(inst.err).toContain(`✔ MeshConfig ${mcName}`);
    expect(inst.code).toBe(0);
    expect(inst.out).toContain('Weft 0.1.0 installed');

    const c = ns.clients;
    const dep = await c.apps.readNamespacedDeployment({ name: 'weft-operator', namespace: 'weft-system' });
    expect(dep.spec?.template.spec?.containers[0]?.name).toBeDefined();
    const mc = (await c.custom.getClusterCustomObject({ ...mcApi, name: mcName })) as { spec: { version: string }; metadata: { managedFields?: { manager?: string }[] } };
    expect(mc.spec.version).toBe('0.1.0');
    expect(mc.metadata.managedFields?.some((m) => m.manager === 'weftctl')).toBe(true);

    const st = await weftctl(['status']);
    expect(st.code).toBe(0);
    expect(st.out).toContain(mcName);
    expect(st.out).toMatch(/weft-operator/);

    const up = await weftctl(['upgrade', '--name', mcName, '--version', '0.2.0', '--wait', '--timeout', '3s']);
    expect(up.err).toContain(`MeshConfig ${mcName}: spec.version 0.1.0 -> 0.2.0`);
    expect(up.code).toBe(1);
    expect(up.err).toContain(`timed out after 3s waiting for MeshConfig ${mcName} to become Ready; see \`weftctl status\``);
    const after = (await c.custom.getClusterCustomObject({ ...mcApi, name: mcName })) as { spec: { version: string } };
    expect(after.spec.version).toBe('0.2.0');

    const upNoWait = await weftctl(['upgrade', '--name', mcName, '--version', '0.2.1']);
    expect(upNoWait.code).toBe(0);
    expect(upNoWait.out).toContain('upgrade to 0.2.1 started');

    const un = await weftctl(['uninstall', '--name', mcName, '--timeout', '5s']);
    expect(un.err).toContain('[1/3] MeshConfigs (1)');
    expect(un.err).toMatch(/deleted Deployment weft-system\/weft-operator/);
    expect(un.err).toContain('[3/3] CRDs (kept; use --purge to delete)');
    expect(un.code).toBe(0);
    expect(un.out).toContain('Weft uninstalled');
    await expect(c.apps.readNamespacedDeployment({ name: 'weft-operator', namespace: 'weft-system' })).rejects.toBeDefined();
    // The CRDs stay.
    await c.apiext.readCustomResourceDefinition({ name: 'meshconfigs.operator.weft.dev' });
  });

  it('lifecycle bad flags exit 2', async () => {
    const a = await weftctl(['install', '--timeout', 'soon']);
    expect(a.code).toBe(2);
    expect(a.err).toContain('--timeout soon: use e.g. 90s or 5m');
    const b = await weftctl(['upgrade']);
    expect(b.code).toBe(2);
    expect(b.err).toContain("required option '--version <version>' not specified");
    const d = await weftctl(['uninstall', '--purge=yes']);
    expect(d.code).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------

describe('a cluster without the CRDs (through a proxy that hides them)', () => {
  let server: http.Server;
  let kc: string;

  beforeAll(async () => {
    const real = new k8s.KubeConfig();
    real.loadFromFile(kubeconfigPath);
    const upstream = new URL(real.getCurrentCluster()!.server);
    const tls: https.RequestOptions = {};
    await real.applyToHTTPSOptions(tls);
    const hidden = /^\/apis\/(operator\.weft\.dev|networking\.istio\.io|security\.istio\.io)(\/|$)|^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/./;
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      const p = url.split('?')[0] ?? '';
      if (hidden.test(p)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 }));
        return;
      }
      if (p === '/apis/apiextensions.k8s.io/v1/customresourcedefinitions') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'CustomResourceDefinitionList', apiVersion: 'apiextensions.k8s.io/v1', metadata: {}, items: [] }));
        return;
      }
      const headers = { ...req.headers, host: upstream.host };
      const up = https.request({ ...tls, hostname: upstream.hostname, port: upstream.port, method: req.method, path: url, headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kc = file('no-crds-kubeconfig', `apiVersion: v1
kind: Config
clusters: [{ name: hidden, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: anon, user: {} }]
contexts: [{ name: hidden, context: { cluster: hidden, user: anon } }]
current-context: hidden
`);
  });

  afterAll(async () => {
    await new Promise<void>((r) => server?.close(() => r()));
  });

  it('check fails naming each missing CRD and the fix', async () => {
    const r = await weftctl(['check'], kc);
    expect(r.code).toBe(1);
    expect(r.out).toContain('CRD meshconfigs.operator.weft.dev is not installed');
    expect(r.out).toContain('run `weftctl install`');
  });

  it('check --pre passes (nothing installed yet)', async () => {
    const r = await weftctl(['check', '--pre'], kc);
    expect(r.out).toContain('no Weft CRDs installed yet');
  });

  it('status and upgrade say there is no MeshConfig', async () => {
    const s = await weftctl(['status'], kc);
    expect(s.code).toBe(0);
    expect(s.out).toContain('no MeshConfig: Weft is not installed (weftctl install)');
    const u = await weftctl(['upgrade', '--version', '0.2.0'], kc);
    expect(u.code).toBe(1);
    expect(u.err).toContain('no MeshConfig found: run `weftctl install` first');
  });

  it('plan against a cluster without the Istio CRDs is rejected with a clear message', async () => {
    const f = file('vs-nocrd.yaml', changeYaml(ns.name));
    const r = await weftctl(['plan', '-f', f], kc);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/dry run apply DestinationRule .*rejected it \(404\)/);
  });

  it('no cluster at all: plan, install, upgrade, uninstall and proxy-status exit 3', async () => {
    const dead = file('dead-kubeconfig', `apiVersion: v1
kind: Config
clusters: [{ name: dead, cluster: { server: "https://127.0.0.1:1" } }]
users: [{ name: anon, user: {} }]
contexts: [{ name: dead, context: { cluster: dead, user: anon } }]
current-context: dead
`);
    const f = file('vs-dead.yaml', changeYaml('default'));
    for (const args of [['plan', '-f', f], ['install'], ['upgrade', '--version', '0.2.0'], ['uninstall'], ['proxy-status'], ['proxy-config', 'clusters', 'some-pod']]) {
      const r = await weftctl(args, dead);
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.err).toContain('cannot reach the Kubernetes API server at https://127.0.0.1:1');
    }
  });
});
