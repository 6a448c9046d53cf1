// The cluster scripts' user-facing promises: a second start reuses the running cluster,
// and a start that would collide on a port names the port and fails.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';

function run(script: string, env: Record<string, string> = {}): { code: number | null; out: string } {
  const r = spawnSync('bash', [path.join(repoRoot, 'hack', script)], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('cluster-up / cluster-down scripts', () => {
  it('reuses a running cluster instead of starting a second one', () => {
    const r = run('cluster-up.sh');
    expect(r.code).toBe(0);
    expect(r.out).toContain('already running; reusing it');
  });

  it('refuses to start when a port is taken, naming the port', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-cluster-'));
    try {
      // A second cluster directory: its processes are not running, but the running cluster holds the ports.
      const r = run('cluster-up.sh', { WEFT_CLUSTER_DIR: dir });
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/port 12379 on 127\.0\.0\.1 is already in use/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cluster-down on a directory with nothing running is a safe no-op', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'weft-cluster-'));
    try {
      // Never touches the shared bridge and routes when it stopped nothing.
      const r = run('cluster-down.sh', { WEFT_CLUSTER_DIR: dir, WEFT_KEEP_NETWORK: '1' });
      expect(r.code).toBe(0);
      expect(r.out).toContain('no cluster processes were running');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
