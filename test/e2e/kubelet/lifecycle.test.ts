// E2E: starting the process kubelet twice is safe, and stopping it leaves nothing behind
// (no netns, veth, processes, pod objects, Node, pid file or state dir).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { pidFile, repoRoot, startProcessKubelet, PROCESS_NODE, type ProcessKubeletHandle } from './start.js';
import { echoPod, isReady, waitForDefaultSA, waitForPod } from './pods.js';
import { podNetNames } from '../../../hack/process-kubelet/netns.js';

let ns: TestNamespace;
let first: ProcessKubeletHandle | undefined;

beforeAll(async () => {
  ns = await createTestNamespace('pk-life');
  await waitForDefaultSA(ns.clients, ns.name);
}, 60_000);

afterAll(async () => {
  await first?.stop();
  await ns?.cleanup();
}, 120_000);

describe('process kubelet lifecycle', () => {
  it('reuses a running kubelet on a second start, and stop() of the reuser leaves it running', async () => {
    first = await startProcessKubelet();
    const second = await startProcessKubelet();
    expect(second.reused).toBe(true);
    expect(second.pid).toBe(first.pid);
    await second.stop();
    expect(fs.readFileSync(pidFile, 'utf8').trim()).toBe(String(first.pid));
    process.kill(first.pid, 0); // still alive
  });

  it('stops cleanly with a running pod: no netns, veth, process, pod, Node or pid file left', async () => {
    if (!first) throw new Error('kubelet not started');
    const mountPoint = `/weft-pk-life-${process.pid}/nested`;
    expect(fs.existsSync(mountPoint)).toBe(false);
    const body = echoPod('survivor', { volumes: [{ name: 'scratch', emptyDir: {} }] });
    body.spec!.containers[0]!.volumeMounts = [{ name: 'scratch', mountPath: mountPoint }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body });
    const pod = await waitForPod(ns.clients, ns.name, 'survivor', 'Ready', isReady);
    const names = podNetNames(pod.metadata?.uid ?? '');
    const pids = execFileSync('ip', ['netns', 'pids', names.netns], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    const t0 = Date.now();
    await first.stop();
    const stopMs = Date.now() - t0;
    first = undefined;
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain('wpk-');
    expect(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })).not.toContain('wpkv');
    for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    expect(fs.existsSync(path.join(repoRoot, '.cluster', 'process-kubelet'))).toBe(false);
    expect(fs.existsSync(`/etc/netns/${names.netns}`)).toBe(false);
    expect(fs.existsSync(path.dirname(mountPoint))).toBe(false); // mount points it created on the host
    await waitFor('pod object gone', async () => (await ns.clients.core.listNamespacedPod({ namespace: ns.name })).items.length === 0, 30_000);
    const nodes = await ns.clients.core.listNode();
    expect(nodes.items.map((n) => n.metadata?.name)).not.toContain(PROCESS_NODE);
    expect(stopMs).toBeLessThan(15_000);
  });
});
