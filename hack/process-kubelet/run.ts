// Runs a host command to completion (ip, iptables, ...), bounded in time, and returns its
// output. Failures carry the command's stderr in the error so pod status can show it.
import { execFile } from 'node:child_process';
import { WeftError } from '../../src/errors/errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(cmd: string, args: string[], opts: { timeoutMs?: number; allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 10_000, env: opts.env ?? process.env, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      if (err && !opts.allowFail) {
        reject(new WeftError('WEFT_E_UNAVAILABLE', 'host command failed', { cmd, args, code, stderr: String(stderr).trim() }));
        return;
      }
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Quotes a string for /bin/sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
