// Where the local cluster keeps its state. Overridable so parallel checkouts do not collide.
import path from 'node:path';

export const repoRoot: string = process.cwd();
export const clusterDir: string = process.env.WEFT_CLUSTER_DIR ?? path.join(repoRoot, '.cluster');
export const kubeconfigPath: string = path.join(clusterDir, 'kubeconfig');
