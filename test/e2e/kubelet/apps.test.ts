// E2E: the sample-app images (TCP echo, gRPC echo) run on the process kubelet and answer
// from their pod IPs; token rotation of projected volumes; pod start latency.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { startProcessKubelet, onProcessNode, repoRoot, type ProcessKubeletHandle } from './start.js';
import { downwardEnv, echoPod, isReady, waitForDefaultSA, waitForPod } from './pods.js';
import { loadEchoPackage } from '../../fixtures/apps/echo-proto.js';
import { PodVolumes } from '../../../hack/process-kubelet/volumes.js';
import { silentLogger } from '../../../src/log/logger.js';

let kubelet: ProcessKubeletHandle;
let ns: TestNamespace;

beforeAll(async () => {
  kubelet = await startProcessKubelet();
  ns = await createTestNamespace('pk-apps');
  await waitForDefaultSA(ns.clients, ns.name);
}, 120_000);

afterAll(async () => {
  await ns?.cleanup();
  await waitFor('test pods gone', async () => (await ns.clients.core.listNamespacedPod({ namespace: ns.name })).items.length === 0, 60_000).catch(() => undefined);
  await kubelet?.stop();
}, 120_000);

function appPod(name: string, image: string, port: number): V1Pod {
  return {
    metadata: { name },
    spec: {
      ...onProcessNode,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'app', image, env: [...downwardEnv, { name: 'VERSION', value: 'v7' }], ports: [{ containerPort: port }], readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } }],
    },
  };
}

describe('sample apps on the process kubelet', () => {
  it('tcp-echo identifies itself and echoes bytes', async () => {
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: appPod('tcp', 'weft-test/tcp-echo:1', 9000) });
    const ip = (await waitForPod(ns.clients, ns.name, 'tcp', 'Ready', isReady)).status?.podIP ?? '';
    expect(ip.startsWith('10.88.')).toBe(true);
    const got = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const s = net.connect({ host: ip, port: 9000, timeout: 3000 }, () => s.write('ping\n'));
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('ping\n')) {
          s.destroy();
          resolve(buf);
        }
      });
      s.on('timeout', () => s.destroy(new Error('timeout')));
      s.on('error', reject);
    });
    expect(got).toBe('tcp v7\nping\n');
  });

  it('grpc-echo answers a unary call with its pod name and version', async () => {
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: appPod('grpc', 'weft-test/grpc-echo:1', 9090) });
    const ip = (await waitForPod(ns.clients, ns.name, 'grpc', 'Ready', isReady)).status?.podIP ?? '';
    const pkg = loadEchoPackage();
    const client = new pkg.weft.test.Echo(`${ip}:9090`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Echo(req: { message: string }, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { message: string; pod: string; version: string }) => void): void;
    };
    try {
      const r = await new Promise<{ message: string; pod: string; version: string }>((resolve, reject) =>
        client.Echo({ message: 'hi' }, { deadline: Date.now() + 5000 }, (e, res) => (e || !res ? reject(e ?? new Error('empty')) : resolve(res))),
      );
      expect(r).toEqual({ message: 'hi', pod: 'grpc', version: 'v7' });
    } finally {
      client.close();
    }
  });

  it('measures pod start latency: 5 echo pods from create to Ready', async () => {
    const t0 = Date.now();
    const names = ['lat-0', 'lat-1', 'lat-2', 'lat-3', 'lat-4'];
    await Promise.all(names.map((n) => ns.clients.core.createNamespacedPod({ namespace: ns.name, body: echoPod(n) })));
    const times: number[] = [];
    await Promise.all(names.map(async (n) => {
      await waitForPod(ns.clients, ns.name, n, 'Ready', isReady, 30_000);
      times.push(Date.now() - t0);
    }));
    const total = Date.now() - t0;
    process.stdout.write(`process-kubelet: 5 echo pods create->Ready: first ${Math.min(...times)} ms, all ${total} ms (readiness period 1s)\n`);
    expect(total).toBeLessThan(20_000);
  });
});

describe("Weft's own image", () => {
  // Runs once src/cmd/weft.ts is built (another issue owns it); skipped before that.
  const weftJs = path.join(repoRoot, 'dist/src/cmd/weft.js');
  (fs.existsSync(weftJs) ? it : it.skip)('runs */weft:<package version> as node dist/src/cmd/weft.js', async () => {
    const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const pod: V1Pod = { metadata: { name: 'weft-help' }, spec: { ...onProcessNode, restartPolicy: 'Never', containers: [{ name: 'weft', image: `ghcr.io/weft/weft:${version}`, args: ['--help'] }] } };
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'weft-help', 'finished', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed', 30_000);
    expect(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
  });
});

describe('projected token rotation', () => {
  it('rewrites the token file at 80% of its lifetime', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-token-'));
    let issued = 0;
    const pod: V1Pod = {
      metadata: { name: 'p', namespace: 'n', uid: 'u' },
      spec: { containers: [], volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { audience: 'weft-ca', expirationSeconds: 600, path: 'tok' } }] } }] },
    };
    const audiences: Array<string | undefined> = [];
    const vols = new PodVolumes(pod, dir, '10.88.1.9', '10.89.0.20', {
      lookup: { secret: async () => undefined, configMap: async () => undefined },
      requestToken: async (_ns, _sa, _pod, audience) => {
        audiences.push(audience);
        issued++;
        return { token: `token-${issued}`, expiresAt: new Date(Date.now() + 500) };
      },
      logger: silentLogger(),
      minRefreshMs: 50,
    });
    try {
      await vols.setup();
      const file = path.join(vols.sourceOf('t'), 'tok');
      expect(fs.readFileSync(file, 'utf8')).toBe('token-1');
      await waitFor('token rotated twice', async () => fs.readFileSync(file, 'utf8') === 'token-3', 5_000, 50);
      expect(audiences.every((a) => a === 'weft-ca')).toBe(true);
    } finally {
      vols.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
