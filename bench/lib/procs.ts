// Child processes for the bench: pinned to a core with taskset when it exists, started with a
// deadline, and always stopped by the pid this module started (never by name).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface Started {
  proc: ChildProcess;
  /** Lines the child printed on stdout before it was ready (e.g. "PORT 1234"). */
  out: string;
  stop: () => Promise<void>;
}

let tasksetOk: boolean | undefined;
/** taskset exists and this machine has the core (a 1-core box cannot pin to core 1). */
export function canPin(core: number): boolean {
  if (tasksetOk === undefined) tasksetOk = existsSync('/usr/bin/taskset') && spawnSync('/usr/bin/taskset', ['-c', '0', 'true']).status === 0;
  return tasksetOk && core < cpuCount();
}

export function cpuCount(): number {
  try {
    return (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length || 1;
  } catch {
    return 1;
  }
}

/** argv prefixed with `taskset -c core` when pinning is possible. */
export function pinned(core: number | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return core !== undefined && canPin(core) ? ['/usr/bin/taskset', ['-c', String(core), cmd, ...args]] : [cmd, [...args]];
}

/**
 * Starts a process and waits until `ready(stdoutSoFar)` is true, or rejects after `timeoutMs`
 * or when the process exits first (with its stderr tail in the message).
 */
export function startProcess(opts: {
  name: string; cmd: string; args: readonly string[]; core?: number; cwd?: string;
  env?: NodeJS.ProcessEnv; ready: (out: string) => boolean | Promise<boolean>; timeoutMs?: number;
}): Promise<Started> {
  const [cmd, args] = pinned(opts.core, opts.cmd, opts.args);
  const proc = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited = false;
  const exitedP = new Promise<void>((r) => proc.once('exit', () => { exited = true; r(); }));
  const stop = async (): Promise<void> => {
    if (exited) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, 3000);
    await exitedP;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
      void stop();
      reject(new Error(`${opts.name}: ${why}${err ? `: ${err.trim().split('\n').slice(-3).join(' / ')}` : ''}`));
    };
    const check = async (): Promise<void> => {
      if (settled) return;
      if (await opts.ready(out)) {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ proc, out, stop });
      }
    };
    proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); void check(); });
    proc.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
    proc.once('error', (e) => fail(e.message));
    proc.once('exit', (code, sig) => fail(`exited (${code ?? sig}) before it was ready`));
    const poll = setInterval(() => void check(), 50);
    const timer = setTimeout(() => fail('did not become ready in time'), opts.timeoutMs ?? 15_000);
  });
}

/** The first "PORT n" (or `${tag} n`) a child printed. */
export function announcedPort(out: string, tag = 'PORT'): number | undefined {
  const m = new RegExp(`^${tag} (\\d+)$`, 'm').exec(out);
  return m ? Number(m[1]) : undefined;
}

/** Does 127.0.0.1:port accept a TCP connection? */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
  });
}

/** A free loopback port (for servers like nginx that cannot announce one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** CPU seconds (user+sys) of a pid and its live threads, from /proc. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks at 100 Hz
}

export function rssMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

/**
 * The private part of RSS (RssAnon: heap, stacks, buffers), without the executable's and
 * libraries' file pages, which every node process maps (~35 MB of a bare `node` RSS).
 */
export function rssAnonMb(pid: number): number {
  return statusMb(pid, 'RssAnon');
}

function statusMb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** The pid and its descendants (nginx's workers, taskset's exec'd child is the same pid). */
export function processTree(pid: number): number[] {
  const all: number[] = [pid];
  for (let i = 0; i < all.length && all.length < 256; i++) {
    try {
      const kids = readFileSync(`/proc/${all[i]}/task/${all[i]}/children`, 'utf8').trim();
      if (kids) all.push(...kids.split(/\s+/).map(Number));
    } catch { /* gone */ }
  }
  return all;
}

export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((s, p) => { try { return s + cpuSeconds(p); } catch { return s; } }, 0);
}

export function treeRssMb(pid: number, perPid: (pid: number) => number = rssMb): number {
  return processTree(pid).reduce((s, p) => { try { return s + perPid(p); } catch { return s; } }, 0);
}
