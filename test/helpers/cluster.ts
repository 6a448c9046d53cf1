// Per-test access to the real local cluster: clients from its kubeconfig and a throwaway
// namespace that is deleted afterwards.
import { randomBytes } from 'node:crypto';
import { loadKubeConfig, makeClients, type KubeClients } from '../../src/kube/client.js';
import { kubeconfigPath } from './paths.js';

export function clusterClients(): KubeClients {
  return makeClients(loadKubeConfig({ kubeconfig: kubeconfigPath }));
}

export interface TestNamespace {
  name: string;
  clients: KubeClients;
  cleanup(): Promise<void>;
}

export async function createTestNamespace(prefix: string, labels: Record<string, string> = {}): Promise<TestNamespace> {
  const clients = clusterClients();
  const name = `${prefix}-${randomBytes(3).toString('hex')}`.toLowerCase();
  await clients.core.createNamespace({ body: { metadata: { name, labels: { 'weft.dev/test': 'true', ...labels } } } });
  return {
    name,
    clients,
    cleanup: async (): Promise<void> => {
      await clients.core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Polls fn until it returns a truthy value or the deadline passes. Bounded in time. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}
