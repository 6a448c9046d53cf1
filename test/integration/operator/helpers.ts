// Shared helpers for the operator's integration tests: install the MeshConfig CRD with
// server-side apply and wait until it is Established.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { KubeApplier, KubeRest, type KubeObject } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { waitFor } from '../../helpers/cluster.js';

export function testRest(): KubeRest {
  return new KubeRest(loadKubeConfig({ kubeconfig: kubeconfigPath }));
}

export async function ensureMeshConfigCrd(rest: KubeRest): Promise<void> {
  const crd = YAML.parse(fs.readFileSync(path.join(repoRoot, 'manifests/crds/meshconfig.yaml'), 'utf8')) as KubeObject;
  const applier = new KubeApplier(rest, 'weft-test-install');
  await applier.apply(crd);
  await waitFor('CRD Established', async () => {
    const c = await applier.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(crd, crd.metadata.name);
    return c?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  }, 30000, 100);
}

export function randSuffix(): string {
  return Math.random().toString(16).slice(2, 8);
}
