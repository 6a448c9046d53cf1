// Parent side of the ADS bench clients: N lean clients spread over child processes
// (ads-client-worker.ts), pinned to the client core, so that the server's process holds only
// the server. Times are epoch ms (performance.timeOrigin + now), comparable across processes.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canPin } from './procs.js';
import { percentile } from './report.js';
import type { WorkerCommand, WorkerEvent } from './ads-client-worker.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ads-client-worker.js');
/** Clients per child process: one event loop handles this many HTTP/2 connections comfortably. */
const PER_WORKER = 500;

export interface Convergence {
  p50: number;
  p99: number;
  max: number;
}

export function convergence(delays: number[]): Convergence {
  const ds = [...delays].sort((a, b) => a - b);
  return { p50: percentile(ds, 50), p99: percentile(ds, 99), max: ds[ds.length - 1]! };
}

class Worker {
  private waiters: Array<{ ev: WorkerEvent['ev']; resolve: (e: WorkerEvent) => void; reject: (e: Error) => void }> = [];
  private dead: string | undefined;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (e: WorkerEvent) => {
      if (e.ev === 'failed') return this.fail(`ads client worker: ${e.message}`);
      const i = this.waiters.findIndex((w) => w.ev === e.ev);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(e);
    });
    proc.on('exit', (code, sig) => this.fail(`ads client worker exited (${code ?? sig})`));
  }

  private fail(msg: string): void {
    this.dead ??= msg;
    for (const w of this.waiters.splice(0)) w.reject(new Error(msg));
  }

  /** Sends cmd and waits for the event ev. */
  request<E extends WorkerEvent['ev']>(cmd: WorkerCommand, ev: E, timeoutMs: number): Promise<Extract<WorkerEvent, { ev: E }>> {
    const p = this.wait(ev, timeoutMs);
    if (!this.dead) this.proc.send(cmd);
    return p;
  }

  wait<E extends WorkerEvent['ev']>(ev: E, timeoutMs: number): Promise<Extract<WorkerEvent, { ev: E }>> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`ads client worker: no ${ev} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        ev,
        resolve: (e) => { clearTimeout(t); resolve(e as Extract<WorkerEvent, { ev: E }>); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
    });
  }
}

export class AdsClientPool {
  private readonly workers: Worker[] = [];
  /** CPU (ms, all client processes) the last measure() took: what the harness itself costs. */
  lastClientCpuMs = 0;

  private constructor(readonly clients: number) {}

  /**
   * Starts ceil(clients / 500) worker processes (on `core` when taskset can pin there); client
   * node ids are numbered from `firstId` (default 0), so several pools never share one.
   */
  static async connect(address: string, clients: number, opts: { core?: number; timeoutMs: number; firstId?: number }): Promise<{ pool: AdsClientPool; sizes: Record<string, number> }> {
    if (!(clients >= 1 && clients <= 5000)) throw new Error(`ads client pool: clients must be 1..5000, got ${clients}`);
    const pool = new AdsClientPool(clients);
    const n = Math.ceil(clients / PER_WORKER);
    const pin = opts.core !== undefined && canPin(opts.core);
    for (let w = 0; w < n; w++) {
      const proc = pin
        ? fork(WORKER, [], { execPath: '/usr/bin/taskset', execArgv: ['-c', String(opts.core), process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
        : fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      pool.workers.push(new Worker(proc));
    }
    try {
      const synced = await Promise.all(pool.workers.map((w, i) => {
        const from = i * PER_WORKER;
        const count = Math.min(PER_WORKER, clients - from);
        return w.request({ cmd: 'connect', address, from: (opts.firstId ?? 0) + from, count, timeoutMs: opts.timeoutMs }, 'synced', opts.timeoutMs + 5000);
      }));
      return { pool, sizes: synced[0]!.sizes };
    } catch (e) {
      pool.close();
      throw e;
    }
  }

  /**
   * Arms every client for the next version of typeUrl, runs `change`, and resolves with the
   * delays (ms) from just before `change` until each client had the new version and ACKed it.
   */
  async measure(typeUrl: string, change: () => Promise<void> | void, timeoutMs: number): Promise<number[]> {
    await Promise.all(this.workers.map((w) => w.request({ cmd: 'arm', typeUrl, timeoutMs }, 'armed', 10_000)));
    const changed = Promise.all(this.workers.map((w) => w.wait('changed', timeoutMs + 5000)));
    changed.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    const t0 = performance.timeOrigin + performance.now();
    await change();
    const all = await changed;
    this.lastClientCpuMs = all.reduce((n, e) => n + e.cpuMs, 0);
    return all.flatMap((e) => e.at.map((t) => t - t0));
  }

  close(): void {
    for (const w of this.workers) {
      if (w.proc.connected) w.proc.send({ cmd: 'close' } satisfies WorkerCommand);
      const p = w.proc;
      setTimeout(() => { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); }, 3000).unref();
    }
  }
}
