// Small helpers for the process-kubelet e2e tests: pod specs on the process node, waiting on
// pod conditions, and a bounded HTTP GET to a pod IP (inside a netns the kubelet created).
import http from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from '../../../src/kube/client.js';
import { waitFor } from '../../helpers/cluster.js';
import { onProcessNode } from './start.js';

export const downwardEnv = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
];

export function echoPod(name: string, extra: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      ...onProcessNode,
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: 'echo',
          image: 'weft-test/echo:1',
          env: downwardEnv,
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        },
      ],
      ...extra,
    },
  };
}

export async function waitForPod(clients: KubeClients, namespace: string, name: string, what: string, pred: (p: V1Pod) => boolean, timeoutMs = 60_000): Promise<V1Pod> {
  return await waitFor(`pod ${namespace}/${name} ${what}`, async () => {
    const p = await clients.core.readNamespacedPod({ name, namespace });
    return pred(p) ? p : undefined;
  }, timeoutMs, 200);
}

export function isReady(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The ServiceAccount admission plugin rejects pods until "default" exists. */
export async function waitForDefaultSA(clients: KubeClients, namespace: string): Promise<void> {
  await waitFor(`serviceaccount ${namespace}/default`, async () => await clients.core.readNamespacedServiceAccount({ name: 'default', namespace }), 30_000);
}

/** One bounded GET; only ever aimed at pod IPs the process kubelet created. */
export async function httpGet(ip: string, port: number, path: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  if (!ip.startsWith('10.88.') && !ip.startsWith('127.')) throw new Error(`refusing to send traffic to ${ip}: not a pod IP or loopback`);
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
