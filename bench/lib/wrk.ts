// wrk (closed loop, C, one thread) for the throughput ceiling, and parsing its report.
import { spawn } from 'node:child_process';
import { pinned } from './procs.js';

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  errors: number;
  p50Ms?: number;
  p99Ms?: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Parses `wrk --latency` output; throws on output without a Requests/sec line. */
export function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!rps) throw new Error(`wrk: no Requests/sec in output: ${text.trim().split('\n').slice(-2).join(' / ')}`);
  const reqs = /(\d+) requests in/.exec(text);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (sock) errors += Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) errors += Number(non2xx[1]);
  const pct = (p: string): number | undefined => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? toMs(m[1]!, m[2]!) : undefined;
  };
  return { requestsPerSec: Number(rps[1]), requests: reqs ? Number(reqs[1]) : Number.NaN, errors, p50Ms: pct('50'), p99Ms: pct('99') };
}

/** One wrk run: 1 thread, `conns` keep-alive connections, `seconds` long, bounded by a kill timer. */
export function runWrk(o: { wrk: string; port: number; conns: number; seconds: number; core?: number }): Promise<WrkResult> {
  const [cmd, args] = pinned(o.core, o.wrk, ['-t1', `-c${o.conns}`, `-d${o.seconds}s`, '--latency', `http://127.0.0.1:${o.port}/bench`]);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const kill = setTimeout(() => p.kill('SIGKILL'), (o.seconds + 15) * 1000);
    p.once('error', (e) => { clearTimeout(kill); reject(e); });
    p.once('exit', () => {
      clearTimeout(kill);
      try { resolve(parseWrk(out)); } catch (e) { reject(e instanceof Error ? e : new Error(String(e))); }
    });
  });
}
