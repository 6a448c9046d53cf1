// Istio API CRDs for tests that need them. Suites run in any order on a fresh cluster, so each
// suite ensures the CRDs itself and deletes only the ones it created.
import { CustomObjectsApi, KubernetesObjectApi, loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import type { KubeClients } from '../../src/kube/client.js';
import { waitFor } from './cluster.js';
import { repoRoot } from './paths.js';

const CRD_DIR = path.join(repoRoot, 'manifests/crds/istio');

/** Applies the Istio CRDs that are absent and waits until all are Established; returns the names it created. */
/** KubernetesObjectApi's discovery lookup (public at runtime, protected in its typings). */
interface Discovery { resource(apiVersion: string, kind: string): Promise<unknown> }

export async function ensureIstioCrds(clients: Pick<KubeClients, 'apiext'>): Promise<string[]> {
  const created: string[] = [];
  for (const f of fs.readdirSync(CRD_DIR).filter((x) => x.endsWith('.yaml')).sort()) {
    const crd = loadYaml<V1CustomResourceDefinition>(fs.readFileSync(path.join(CRD_DIR, f), 'utf8'));
    const name = crd.metadata?.name ?? '';
    let existing = await clients.apiext.readCustomResourceDefinition({ name }).catch(() => undefined);
    if (existing?.metadata?.deletionTimestamp) {
      // An earlier suite removed the CRD it created; until the API server finishes, it still
      // reads as Established and then vanishes under us. Wait it out and create it again.
      await waitFor(`${name} to finish terminating`, async () => !(await clients.apiext.readCustomResourceDefinition({ name }).catch(() => undefined)), 120_000, 200);
      existing = undefined;
    }
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
    // Established is not yet "served": a request in the next milliseconds (another process, a
    // dry run) can still get 404. Wait until every served version answers a list.
    const api = (clients as Pick<KubeClients, 'apiext'> & { config?: KubeClients['config'] }).config;
    if (api) {
      const custom = api.makeApiClient(CustomObjectsApi);
      for (const v of crd.spec.versions.filter((x) => x.served)) {
        await waitFor(`${name} ${v.name} served`, async () =>
          custom.listClusterCustomObject({ group: crd.spec.group, version: v.name, plural: crd.spec.names.plural, limit: 1 }).then(() => true, () => false), 30_000, 100);
        // ... and in discovery, which clients that apply by kind (kubectl, weftctl) consult first.
        await waitFor(`${name} ${v.name} in discovery`, async () =>
          (KubernetesObjectApi.makeApiClient(api) as unknown as Discovery).resource(`${crd.spec.group}/${v.name}`, crd.spec.names.kind).then((r) => r !== undefined, () => false), 30_000, 100);
      }
    }
  }
  return created;
}

export async function deleteCrds(clients: Pick<KubeClients, 'apiext'>, names: readonly string[]): Promise<void> {
  for (const name of names) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
}
