// E2E: the process kubelet runs real pods as processes in network namespaces on node
// weft-proc-0, and the real API server / controller-manager see them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { startProcessKubelet, onProcessNode, PROCESS_NODE, repoRoot, type ProcessKubeletHandle } from './start.js';
import { downwardEnv, echoPod, httpGet, isReady, waitForDefaultSA, waitForPod } from './pods.js';
import { cidrContains } from '../../../hack/process-kubelet/ipam.js';
import { podNetNames } from '../../../hack/process-kubelet/netns.js';

let kubelet: ProcessKubeletHandle;
let ns: TestNamespace;

function kubeletStateDir(): string {
  return path.join(process.env.WEFT_CLUSTER_DIR ?? path.join(repoRoot, '.cluster'), 'process-kubelet');
}

function netnsList(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

beforeAll(async () => {
  kubelet = await startProcessKubelet();
  ns = await createTestNamespace('pk-e2e');
  await waitForDefaultSA(ns.clients, ns.name);
}, 120_000);

afterAll(async () => {
  await ns?.cleanup();
  // Let the kubelet finalize this namespace's pods before it stops.
  await waitFor('test pods gone', async () => {
    const l = await ns.clients.core.listNamespacedPod({ namespace: ns.name });
    return l.items.length === 0;
  }, 60_000).catch(() => undefined);
  await kubelet?.stop();
}, 120_000);

describe('process kubelet', () => {
  it('registers a tainted, labelled, Ready node with a podCIDR in the pod CIDR', async () => {
    const node = await ns.clients.core.readNode({ name: PROCESS_NODE });
    expect(node.metadata?.labels?.['weft.dev/process-kubelet']).toBe('true');
    expect(node.spec?.taints).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'weft.dev/process-kubelet', effect: 'NoSchedule' })]));
    expect(node.status?.addresses).toEqual(expect.arrayContaining([{ type: 'InternalIP', address: '10.89.0.20' }]));
    expect(cidrContains('10.88.0.0/16', kubelet.podCIDR.split('/')[0] ?? '')).toBe(true);
  });

  it('runs an echo pod: Running, Ready, IP in the podCIDR, answers with its name', async () => {
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: echoPod('echo-a') });
    const pod = await waitForPod(ns.clients, ns.name, 'echo-a', 'Ready', isReady);
    const ip = pod.status?.podIP ?? '';
    expect(cidrContains(kubelet.podCIDR, ip)).toBe(true);
    expect(pod.status?.podIPs).toEqual([{ ip }]);
    const r = await httpGet(ip, 8080, '/hello');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { pod: string; namespace: string; podIP: string; path: string; uid: number };
    expect(body).toMatchObject({ pod: 'echo-a', namespace: ns.name, podIP: ip, path: '/hello', uid: 0 });
    const cs = pod.status?.containerStatuses?.[0];
    expect(cs?.state?.running).toBeDefined();
    expect(cs?.ready).toBe(true);
  });

  it('runs an init container that writes into an emptyDir the app serves, as runAsUser', async () => {
    const pod = echoPod('echo-init', {
      securityContext: { runAsUser: 1337, runAsGroup: 1337 },
      volumes: [{ name: 'data', emptyDir: {} }],
      initContainers: [{ name: 'write', image: 'weft-test/shell:1', command: ['sh', '-c', 'echo "written by $(id -u) in $POD_NAME" > /data/index.html'], env: downwardEnv, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
    });
    const c = pod.spec!.containers[0]!;
    c.env = [...(c.env ?? []), { name: 'SERVE_DIR', value: '/data' }];
    c.volumeMounts = [{ name: 'data', mountPath: '/data', readOnly: true }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'echo-init', 'Ready', isReady);
    expect(p.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const r = await httpGet(p.status?.podIP ?? '', 8080, '/files/index.html');
    expect(r.body.trim()).toBe('written by 1337 in echo-init');
    expect((JSON.parse((await httpGet(p.status?.podIP ?? '', 8080, '/')).body) as { uid: number }).uid).toBe(1337);
  });

  it('fails a pod with an unknown image with a clear reason', async () => {
    const pod = echoPod('bad-image');
    pod.spec!.containers[0]!.image = 'example.com/nope:9';
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'bad-image', 'ErrImagePull', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull');
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe("image example.com/nope:9 is not in the process kubelet's image table");
    expect(p.status?.phase).toBe('Pending');
  });

  it('fails a restartPolicy=Never pod whose init container exits non-zero', async () => {
    const pod = echoPod('init-fails', { restartPolicy: 'Never', initContainers: [{ name: 'boom', image: 'weft-test/shell:1', command: ['sh', '-c', 'exit 7'] }] });
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'init-fails', 'Failed', (x) => x.status?.phase === 'Failed');
    expect(p.status?.reason).toBe('InitContainerFailed');
    expect(p.status?.message).toBe('init container boom exited with code 7');
    expect(p.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(7);
    expect(p.status?.containerStatuses?.[0]?.state?.running).toBeUndefined();
  });

  it('mounts a projected token with audience weft-ca that TokenReview accepts, and the default kube-api-access volume', async () => {
    const pod = echoPod('token');
    pod.spec!.volumes = [{ name: 'weft-token', projected: { sources: [{ serviceAccountToken: { audience: 'weft-ca', expirationSeconds: 600, path: 'weft-ca' } }] } }];
    pod.spec!.containers[0]!.volumeMounts = [{ name: 'weft-token', mountPath: '/var/run/secrets/tokens', readOnly: true }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'token', 'Ready', isReady);
    const ip = p.status?.podIP ?? '';
    const token = (await httpGet(ip, 8080, '/file?path=/var/run/secrets/tokens/weft-ca')).body;
    expect(token.split('.')).toHaveLength(3);
    const review = await ns.clients.authn.createTokenReview({ body: { spec: { token, audiences: ['weft-ca'] } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.audiences).toEqual(['weft-ca']);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns.name}:default`);
    expect(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['token']);
    const wrong = await ns.clients.authn.createTokenReview({ body: { spec: { token, audiences: ['someone-else'] } } });
    expect(wrong.status?.authenticated).toBeFalsy();
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    expect((await httpGet(ip, 8080, `/file?path=${sa}/namespace`)).body).toBe(ns.name);
    expect((await httpGet(ip, 8080, `/file?path=${sa}/ca.crt`)).body).toContain('BEGIN CERTIFICATE');
    expect((await httpGet(ip, 8080, `/file?path=${sa}/token`)).body.split('.')).toHaveLength(3);
  });

  it('gives pods API access through the forwarder (in-cluster config)', async () => {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const pod = echoPod('api-access', { restartPolicy: 'Never' });
    pod.spec!.containers = [{
      name: 'curl',
      image: 'weft-test/shell:1',
      command: ['sh', '-c', `curl -sf -m 5 --cacert ${sa}/ca.crt -H "Authorization: Bearer $(cat ${sa}/token)" https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version`],
    }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'api-access', 'finished', (x) => x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    expect(p.status?.phase).toBe('Succeeded');
  });

  it('runs an iptables init container inside the pod netns', async () => {
    const pod = echoPod('iptables', {
      initContainers: [{ name: 'iptables', image: 'weft-test/shell:1', command: ['iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9999', '-j', 'REDIRECT', '--to-ports', '8080'] }],
    });
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'iptables', 'Ready', isReady);
    const { netns } = podNetNames(p.metadata?.uid ?? '');
    expect(execFileSync('ip', ['netns', 'exec', netns, 'iptables', '-t', 'nat', '-S', 'OUTPUT'], { encoding: 'utf8' })).toContain('--dport 9999 -j REDIRECT --to-ports 8080');
    // The host's own nat table is untouched.
    expect(execFileSync('iptables', ['-t', 'nat', '-S', 'OUTPUT'], { encoding: 'utf8' })).not.toContain('--dport 9999');
    // The redirect really works inside the pod: 127.0.0.1:9999 lands on the echo server.
    const out = execFileSync('ip', ['netns', 'exec', netns, 'curl', '-s', '-m', '3', 'http://127.0.0.1:9999/via-redirect'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ pod: 'iptables', path: '/via-redirect' });
  });

  it('starts a native sidecar before the app and stops it after the app', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-order-'));
    fs.chmodSync(dir, 0o777);
    try {
      const loop = (who: string): string => `echo ${who}-start >> /order/log; trap 'echo ${who}-stop >> /order/log; exit 0' TERM; while true; do sleep 0.1; done`;
      const pod = echoPod('sidecar', {
        volumes: [{ name: 'order', hostPath: { path: dir } }],
        initContainers: [{ name: 'side', image: 'weft-test/shell:1', restartPolicy: 'Always', command: ['sh', '-c', loop('sidecar')], volumeMounts: [{ name: 'order', mountPath: '/order' }] }],
      });
      pod.spec!.containers.push({ name: 'app', image: 'weft-test/shell:1', command: ['sh', '-c', loop('app')], volumeMounts: [{ name: 'order', mountPath: '/order' }] });
      await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
      const p = await waitForPod(ns.clients, ns.name, 'sidecar', 'Ready', isReady);
      expect(p.status?.initContainerStatuses?.[0]).toMatchObject({ name: 'side', started: true });
      expect(p.status?.initContainerStatuses?.[0]?.state?.running).toBeDefined();
      await ns.clients.core.deleteNamespacedPod({ name: 'sidecar', namespace: ns.name });
      await waitFor('sidecar pod gone', async () => !(await ns.clients.core.listNamespacedPod({ namespace: ns.name, fieldSelector: 'metadata.name=sidecar' })).items.length, 30_000);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n')).toEqual(['sidecar-start', 'app-start', 'app-stop', 'sidecar-stop']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs postStart and preStop exec hooks inside the container', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-hooks-'));
    try {
      const pod = echoPod('hooks', { volumes: [{ name: 'order', hostPath: { path: dir } }] });
      const c = pod.spec!.containers[0]!;
      c.volumeMounts = [{ name: 'order', mountPath: '/order' }];
      c.lifecycle = {
        postStart: { exec: { command: ['sh', '-c', 'echo post-start >> /order/log'] } },
        preStop: { exec: { command: ['sh', '-c', 'echo pre-stop >> /order/log'] } },
      };
      await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
      await waitForPod(ns.clients, ns.name, 'hooks', 'Ready', isReady);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).toBe('post-start\n');
      await ns.clients.core.deleteNamespacedPod({ name: 'hooks', namespace: ns.name });
      await waitFor('hooks pod gone', async () => !(await ns.clients.core.listNamespacedPod({ namespace: ns.name, fieldSelector: 'metadata.name=hooks' })).items.length, 30_000);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).toBe('post-start\npre-stop\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries volume setup until a missing secret appears', async () => {
    const pod = echoPod('late-secret', { volumes: [{ name: 's', secret: { secretName: 'late' } }] });
    pod.spec!.containers[0]!.volumeMounts = [{ name: 's', mountPath: '/etc/late' }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const waiting = await waitForPod(ns.clients, ns.name, 'late-secret', 'FailedMount', (x) => x.status?.reason === 'FailedMount');
    expect(waiting.status?.message).toContain('secret volume source not found');
    await ns.clients.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'late' }, stringData: { k: 'v' } } });
    const p = await waitForPod(ns.clients, ns.name, 'late-secret', 'Ready', isReady, 30_000);
    expect((await httpGet(p.status?.podIP ?? '', 8080, '/file?path=/etc/late/k')).body).toBe('v');
    expect(p.status?.reason).toBeUndefined();
  });

  it('restarts a crashing container with backoff and reports the last exit', async () => {
    const pod = echoPod('crash');
    pod.spec!.containers = [{ name: 'crash', image: 'weft-test/shell:1', command: ['sh', '-c', 'sleep 0.2; exit 3'] }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'crash', 'restarted twice', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2, 30_000);
    expect(p.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(3);
  });

  it('builds an EndpointSlice with both pod IPs of a 2-replica Deployment behind a Service', async () => {
    const labels = { app: 'web' };
    const tmpl = echoPod('web');
    await ns.clients.apps.createNamespacedDeployment({
      namespace: ns.name,
      body: { metadata: { name: 'web' }, spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: tmpl.spec! } } },
    });
    await ns.clients.core.createNamespacedService({ namespace: ns.name, body: { metadata: { name: 'web' }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
    const pods = await waitFor('2 ready web pods', async () => {
      const l = await ns.clients.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=web' });
      const ready = l.items.filter(isReady);
      return ready.length === 2 ? ready : undefined;
    }, 60_000);
    const ips = pods.map((p) => p.status?.podIP ?? '').sort();
    const discovery = ns.clients.config.makeApiClient((await import('@kubernetes/client-node')).DiscoveryV1Api);
    const slice = await waitFor('EndpointSlice with both pod IPs', async () => {
      const l = await discovery.listNamespacedEndpointSlice({ namespace: ns.name, labelSelector: 'kubernetes.io/service-name=web' });
      const addrs = l.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
      return JSON.stringify(addrs) === JSON.stringify(ips) ? l.items[0] : undefined;
    }, 60_000);
    expect(slice?.ports?.[0]?.port).toBe(8080);
    expect(slice?.endpoints?.every((e) => e.nodeName === PROCESS_NODE)).toBe(true);
    for (const ip of ips) expect(JSON.parse((await httpGet(ip, 8080, '/')).body).pod).toMatch(/^web-/);
  });

  it('cleans up the netns, veth and processes when a pod is deleted', async () => {
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: echoPod('doomed') });
    const p = await waitForPod(ns.clients, ns.name, 'doomed', 'Ready', isReady);
    const names = podNetNames(p.metadata?.uid ?? '');
    expect(netnsList()).toContain(names.netns);
    const pids = execFileSync('ip', ['netns', 'pids', names.netns], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    expect(pids.length).toBeGreaterThan(0);
    const t0 = Date.now();
    await ns.clients.core.deleteNamespacedPod({ name: 'doomed', namespace: ns.name });
    await waitFor('pod object gone', async () => !(await ns.clients.core.listNamespacedPod({ namespace: ns.name, fieldSelector: 'metadata.name=doomed' })).items.length, 30_000);
    const took = Date.now() - t0;
    expect(netnsList()).not.toContain(names.netns);
    expect(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })).not.toContain(names.hostVeth);
    for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(took).toBeLessThan(10_000);
  });

  it('materializes configMap, secret and downwardAPI volumes, secret env refs and a per-pod resolv.conf', async () => {
    await ns.clients.core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'cfg' }, data: { 'app.yaml': 'mode: fast\n' } } });
    await ns.clients.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'sec' }, stringData: { password: 'hunter2' } } });
    const pod = echoPod('vols', {
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 'sec', secret: { secretName: 'sec' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      ],
    });
    const c = pod.spec!.containers[0]!;
    c.env = [...(c.env ?? []), { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } }];
    c.volumeMounts = [
      { name: 'cfg', mountPath: '/etc/app' },
      { name: 'sec', mountPath: '/etc/secret', readOnly: true },
      { name: 'info', mountPath: '/etc/podinfo' },
    ];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const p = await waitForPod(ns.clients, ns.name, 'vols', 'Ready', isReady);
    const ip = p.status?.podIP ?? '';
    expect((await httpGet(ip, 8080, '/file?path=/etc/app/app.yaml')).body).toBe('mode: fast\n');
    expect((await httpGet(ip, 8080, '/file?path=/etc/secret/password')).body).toBe('hunter2');
    expect((await httpGet(ip, 8080, '/file?path=/etc/podinfo/labels')).body).toBe('app="vols"');
    expect((await httpGet(ip, 8080, '/env/PASSWORD')).body).toBe('hunter2');
    const resolv = (await httpGet(ip, 8080, '/file?path=/etc/resolv.conf')).body;
    expect(resolv).toContain('nameserver 10.88.0.1');
    expect(resolv).toContain(`search ${ns.name}.svc.cluster.local svc.cluster.local cluster.local`);
    // The mounts live only in the container's mount namespace, not on the host.
    expect(fs.existsSync('/etc/secret/password')).toBe(false);
  });

  it('honours exec readiness probes and restarts a container whose liveness probe fails', async () => {
    const pod = echoPod('probes');
    const c = pod.spec!.containers[0]!;
    c.readinessProbe = { exec: { command: ['sh', '-c', 'test -f /data/ready'] }, periodSeconds: 1, failureThreshold: 1 };
    c.livenessProbe = { exec: { command: ['sh', '-c', '! test -f /data/die'] }, periodSeconds: 1, failureThreshold: 1 };
    c.volumeMounts = [{ name: 'data', mountPath: '/data' }];
    pod.spec!.volumes = [{ name: 'data', emptyDir: {} }];
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const running = await waitForPod(ns.clients, ns.name, 'probes', 'Running', (x) => x.status?.containerStatuses?.[0]?.state?.running !== undefined);
    await new Promise((r) => setTimeout(r, 1500));
    expect(isReady(await ns.clients.core.readNamespacedPod({ name: 'probes', namespace: ns.name }))).toBe(false);
    const dataDir = path.join(kubeletStateDir(), 'pods', running.metadata?.uid ?? '', 'volumes', 'data');
    fs.writeFileSync(path.join(dataDir, 'ready'), '');
    await waitForPod(ns.clients, ns.name, 'probes', 'Ready', isReady, 15_000);
    fs.writeFileSync(path.join(dataDir, 'die'), '');
    const restarted = await waitForPod(ns.clients, ns.name, 'probes', 'restarted by liveness', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 30_000);
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    fs.rmSync(path.join(dataDir, 'die'));
  });

  it('does not schedule untolerating pods onto the process node', async () => {
    const pod = echoPod('no-toleration');
    delete pod.spec!.tolerations;
    await ns.clients.core.createNamespacedPod({ namespace: ns.name, body: pod });
    await new Promise((r) => setTimeout(r, 1500));
    const p = await ns.clients.core.readNamespacedPod({ name: 'no-toleration', namespace: ns.name });
    expect(p.spec?.nodeName).toBeUndefined();
    expect(onProcessNode.tolerations[0]?.key).toBe('weft.dev/process-kubelet');
  });
});
