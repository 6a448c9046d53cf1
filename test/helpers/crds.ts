// Istio API CRDs for tests that need them. Suites run in any order on a fresh cluster, so each
// suite ensures the CRDs itself and deletes only the ones it created.
import { loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import type { KubeClients } from '../../src/kube/client.js';
import { waitFor } from './cluster.js';
import { repoRoot } from './paths.js';

const CRD_DIR = path.join(repoRoot, 'manifests/crds/istio');

/** Applies the Istio CRDs that are absent and waits until all are Established; returns the names it created. */
export async function ensureIstioCrds(clients: Pick<KubeClients, 'apiext'>): Promise<string[]> {
  const created: string[] = [];
  for (const f of fs.readdirSync(CRD_DIR).filter((x) => x.endsWith('.yaml')).sort()) {
    const crd = loadYaml<V1CustomResourceDefinition>(fs.readFileSync(path.join(CRD_DIR, f), 'utf8'));
    const name = crd.metadata?.name ?? '';
    const existing = await clients.apiext.readCustomResourceDefinition({ name }).catch(() => undefined);
    if (!existing) {
      await clients.apiext.createCustomResourceDefinition({ body: crd }).catch((e: unknown) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
      created.push(name);
    }
    await waitFor(`${name} established`, async () => {
      const c = await clients.apiext.readCustomResourceDefinition({ name });
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
  }
  return created;
}

export async function deleteCrds(clients: Pick<KubeClients, 'apiext'>, names: readonly string[]): Promise<void> {
  for (const name of names) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
}
