// Jest global setup for integration and e2e: start the local cluster unless one is running.
// cluster-up is idempotent: it reuses a healthy cluster and only builds what is missing.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

export default function globalSetup(): void {
  execFileSync('bash', [path.join(repoRoot, 'hack/cluster-up.sh')], { stdio: 'inherit' });
}
