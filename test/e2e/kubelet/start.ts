// Test helper: start the process kubelet (node dist/hack/process-kubelet/main.js) as a child
// process, wait until its Node is registered, has a podCIDR and its pod watch is synced, and
// hand back stop(). Starting twice is safe: a live kubelet found through its pid file (or one
// that wins a concurrent start, exit code 3) is reused, and stop() then leaves it running.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../../hack/process-kubelet/repo-root.js';
import { loadKubeConfig, makeClients } from '../../../src/kube/client.js';

export const PROCESS_NODE = 'weft-proc-0';
export const PROCESS_NODE_LABEL = 'weft.dev/process-kubelet';

/** Pod spec fragment that lands a pod on the process kubelet's node. */
export const onProcessNode = Object.freeze({
  nodeSelector: { [PROCESS_NODE_LABEL]: 'true' },
  tolerations: [{ key: PROCESS_NODE_LABEL, operator: 'Exists', effect: 'NoSchedule' }],
});

export const repoRoot: string = REPO_ROOT;
const clusterDir = process.env.WEFT_CLUSTER_DIR ?? path.join(repoRoot, '.cluster');
export const pidFile: string = path.join(clusterDir, 'process-kubelet.pid');
export const logFile: string = path.join(clusterDir, 'logs', 'process-kubelet.log');

export interface ProcessKubeletHandle {
  nodeName: string;
  podCIDR: string;
  pid: number;
  /** True when an already running kubelet was reused (stop() leaves it alone). */
  reused: boolean;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  kubeconfig?: string;
  timeoutMs?: number;
  extraArgs?: string[];
  /** How long to wait for another checkout's kubelet to go away before failing (default 3 min). */
  foreignWaitMs?: number;
}

function livePid(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!pid) return undefined;
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('process-kubelet') ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Waits for the Node to be Ready with a podCIDR and a fresh Lease. */
async function waitForNode(kubeconfig: string, deadline: number): Promise<string> {
  const clients = makeClients(loadKubeConfig({ kubeconfig }));
  let last = '';
  while (Date.now() < deadline) {
    try {
      const node = await clients.core.readNode({ name: PROCESS_NODE });
      const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const lease = await clients.coordination.readNamespacedLease({ name: PROCESS_NODE, namespace: 'kube-node-lease' });
      const renew = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      if (ready && node.spec?.podCIDR && Date.now() - renew < 30_000) return node.spec.podCIDR;
      last = `ready=${ready} podCIDR=${node.spec?.podCIDR}`;
    } catch (e) {
      last = String(e);
    }
    await sleep(200);
  }
  throw new Error(`process kubelet node ${PROCESS_NODE} not ready in time (${last}); see ${logFile}`);
}

function logHas(offset: number, text: string): boolean {
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8').includes(text);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

export async function startProcessKubelet(opts: StartOptions = {}): Promise<ProcessKubeletHandle> {
  const kubeconfig = opts.kubeconfig ?? path.join(clusterDir, 'kubeconfig');
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const reuse = async (pid: number): Promise<ProcessKubeletHandle> => ({
    nodeName: PROCESS_NODE,
    podCIDR: await waitForNode(kubeconfig, deadline),
    pid,
    reused: true,
    logFile,
    stop: async () => undefined,
  });
  // Pods run the build of the checkout whose kubelet runs them: reusing another checkout's
  // kubelet (a parallel worktree on the same cluster) would test that checkout's code.
  const main = path.join(repoRoot, 'dist/hack/process-kubelet/main.js');
  const foreignDeadline = Date.now() + (opts.foreignWaitMs ?? 180_000);
  for (;;) {
    const existing = livePid();
    if (!existing) break;
    const cmdline = fs.readFileSync(`/proc/${existing}/cmdline`, 'utf8').split('\0');
    if (cmdline.includes(main)) return await reuse(existing);
    if (Date.now() > foreignDeadline) {
      throw new Error(`a process kubelet from another checkout is running (pid ${existing}: ${cmdline.join(' ')}); its pods would run that checkout's build. Stop it or wait for its tests to end.`);
    }
    await sleep(1000);
  }

  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [main, '--kubeconfig', kubeconfig, ...(opts.extraArgs ?? [])], {
    cwd: repoRoot,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  while (Date.now() < deadline) {
    if (exitCode === 3) {
      // Lost a concurrent start: another kubelet owns the pid file.
      const other = livePid();
      if (other) return await reuse(other);
    }
    if (exitCode !== undefined) throw new Error(`process kubelet exited with code ${exitCode} during start; see ${logFile}`);
    if (logHas(offset, '"process kubelet ready"')) break;
    await sleep(100);
  }
  if (!logHas(offset, '"process kubelet ready"')) {
    child.kill('SIGKILL');
    throw new Error(`process kubelet did not become ready in time; see ${logFile}`);
  }
  const podCIDR = await waitForNode(kubeconfig, deadline);
  return {
    nodeName: PROCESS_NODE,
    podCIDR,
    pid: child.pid ?? 0,
    reused: false,
    logFile,
    stop: async () => {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(t);
    },
  };
}
