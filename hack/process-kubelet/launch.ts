// Starts one container as a process: inside the pod's netns (`ip netns exec`), in a private
// mount namespace (`unshare --mount --propagation private`) where the pod's volumes are bind
// mounted at their mountPaths, in its workingDir, as runAsUser/runAsGroup (setpriv). Every
// step execs the next, so the spawned PID is the container's main process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { shQuote } from './run.js';

/** File under the state dir listing host paths the launchers created as mount points. */
export const CREATED_PATHS_FILE = 'created-mount-points';

export interface MountSpec {
  source: string;
  target: string;
  readOnly: boolean;
  /** True when the source is a file (a subPath to a file): the target is touched, not mkdir'd. */
  isFile: boolean;
}

export interface LaunchSpec {
  netns: string;
  /** Where the launcher records mount points it had to create on the host (removed at kubelet exit). */
  recordFile?: string;
  mounts: MountSpec[];
  workingDir: string;
  runAsUser?: number;
  runAsGroup?: number;
  argv: string[];
  env: Record<string, string>;
}

/** "/a/b/c" -> ["/a", "/a/b", "/a/b/c"]. */
function ancestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

/** The /bin/sh script that sets up the mount namespace and execs the container command. */
export function launcherScript(spec: Pick<LaunchSpec, 'mounts' | 'workingDir' | 'runAsUser' | 'runAsGroup' | 'recordFile'>): string {
  const lines = ['set -e'];
  const rec = spec.recordFile ? ` && echo "$P" >> ${shQuote(spec.recordFile)}` : '';
  // A concurrent pod may create the same directory first: that is fine.
  const mkdir = (d: string): string => `P=${shQuote(d)}; [ -e "$P" ] || { mkdir "$P" 2>/dev/null${rec} || [ -d "$P" ]; }`;
  // Parents before children, so a nested mountPath lands inside its parent's volume.
  const mounts = [...spec.mounts].sort((a, b) => a.target.length - b.target.length);
  for (const m of mounts) {
    const t = shQuote(m.target);
    // Mount points missing on the host are created (the root fs is shared) and recorded.
    const dirs = m.isFile ? ancestors(m.target).slice(0, -1) : ancestors(m.target);
    for (const d of dirs) lines.push(mkdir(d));
    if (m.isFile) lines.push(`P=${t}; [ -e "$P" ] || { : > "$P"${rec}; }`);
    lines.push(`mount --bind ${shQuote(m.source)} ${t}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${t}`);
  }
  for (const d of ancestors(spec.workingDir)) lines.push(mkdir(d));
  lines.push(`cd ${shQuote(spec.workingDir)}`);
  if (spec.runAsUser !== undefined || spec.runAsGroup !== undefined) {
    const uid = spec.runAsUser ?? 0;
    const gid = spec.runAsGroup ?? spec.runAsUser ?? 0;
    lines.push(`exec setpriv --reuid=${uid} --regid=${gid} --clear-groups -- "$@"`);
  } else {
    lines.push('exec "$@"');
  }
  return lines.join('\n');
}

export function launcherArgv(spec: LaunchSpec): string[] {
  return ['netns', 'exec', spec.netns, 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', launcherScript(spec), 'weft-pk', ...spec.argv];
}

/** Spawns the container in its own process group, stdout/stderr appended to logFile. */
export function launch(spec: LaunchSpec, logFile: string): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    return spawn('ip', launcherArgv(spec), { detached: true, stdio: ['ignore', fd, fd], env: spec.env });
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes the recorded mount points (deepest first; only empty dirs and empty files). */
export function removeCreatedMountPoints(recordFile: string): number {
  let removed = 0;
  let lines: string[];
  try {
    lines = fs.readFileSync(recordFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return 0;
  }
  for (const p of [...new Set(lines)].sort((a, b) => b.length - a.length)) {
    try {
      const st = fs.lstatSync(p);
      if (st.isDirectory()) fs.rmdirSync(p);
      else if (st.isFile() && st.size === 0) fs.unlinkSync(p);
      else continue;
      removed++;
    } catch {
      /* not empty, in use or gone: leave it */
    }
  }
  fs.rmSync(recordFile, { force: true });
  return removed;
}

/** Signals a container's whole process group; false if it is already gone. */
export function signalGroup(pid: number | undefined, sig: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }
}
