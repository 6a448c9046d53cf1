// Installing Weft the way a user does, shared by the install e2e test and `make demo`:
// kubectl against the local cluster, the manifests/ bundle, and the one dev overlay that pins
// Weft's own pods to the process kubelet's node (kwok would only pretend to run them elsewhere).
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { onProcessNode } from '../kubelet/start.js';

export const MESH_NS = 'weft-system';
export const kubectlPath = path.join(execFileSync('bash', [path.join(repoRoot, 'hack/build-cluster-bins.sh'), '--print-dir']).toString().trim(), 'kubectl');

/** nodeSelector + tolerations for the process kubelet's node (MeshConfig placement fields take the same). */
export const processNodePlacement = { nodeSelector: { ...onProcessNode.nodeSelector }, tolerations: onProcessNode.tolerations.map((t) => ({ ...t })) };

export async function kubectl(...args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)(kubectlPath, ['--kubeconfig', kubeconfigPath, ...args], { timeout: 240_000 })).stdout;
  } catch (e) {
    throw new Error(`kubectl ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? String(e)}`, { cause: e });
  }
}

/** `kubectl <args>` with `input` on stdin (apply -f - of an object built in code). */
export function kubectlStdin(input: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(kubectlPath, ['--kubeconfig', kubeconfigPath, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr || String(err)}`)); else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

export const applyObject = (o: object): Promise<string> => kubectlStdin(JSON.stringify(o), 'apply', '-f', '-');

/** `kubectl apply -f manifests/` plus the dev overlay, then waits for the operator rollout. */
export async function installManifests(): Promise<void> {
  await kubectl('apply', '--server-side', '-f', path.join(repoRoot, 'manifests/'));
  await kubectl('patch', 'deployment', 'weft-operator', '-n', MESH_NS, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: processNodePlacement } } }));
  await kubectl('rollout', 'status', 'deployment/weft-operator', '-n', MESH_NS, '--timeout=180s');
}

/** Best-effort teardown in the documented order: MeshConfigs, then the manifests. */
export async function uninstall(): Promise<void> {
  await kubectl('delete', 'meshconfig', '--all', '--ignore-not-found', '--timeout=120s').catch(() => undefined);
  await kubectl('delete', '-f', path.join(repoRoot, 'manifests/weft.yaml'), '--ignore-not-found', '--timeout=180s').catch(() => undefined);
}
