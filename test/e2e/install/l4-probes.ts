// gRPC and raw-TCP probes for the install e2e test: gRPC from inside a pod netns (through its
// sidecar), TCP from the host to a gateway pod (10.88.x.x only: the network rule).
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NETNS_NAME } from '../mesh/harness.js';

export interface GrpcCalls { ok: number; versions: Record<string, number>; errors: string[] }

const grpcCallsScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'grpc-calls.js');

/** `n` unary gRPC calls from inside a pod netns to `target` (host:port). */
export async function grpcCallsInNetns(netns: string, target: string, n: number): Promise<GrpcCalls> {
  if (!NETNS_NAME.test(netns)) throw new Error(`refusing to run in netns ${netns}: not a process-kubelet pod netns`);
  return await new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, process.execPath, grpcCallsScript, target, String(n)], { timeout: 5000 * n + 15_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`grpc calls in ${netns}: ${String(err)} ${stderr}`));
      try { resolve(JSON.parse(stdout) as GrpcCalls); } catch { reject(new Error(`grpc calls in ${netns}: unparsable output ${stdout.slice(0, 300)} ${stderr}`)); }
    });
  });
}

/**
 * One TCP connection to the tcp-echo sample: reads its "<pod> <version>" greeting, checks that
 * a line comes back echoed, closes. Resolves to the version, or 'error: ...'.
 */
export async function tcpEchoVersion(ip: string, port: number, timeoutMs = 5000): Promise<string> {
  if (!ip.startsWith('10.88.')) throw new Error(`refusing to connect to ${ip}: not a pod IP`);
  return await new Promise((resolve) => {
    let buf = '';
    let settled = false;
    let sent = false;
    const probe = `ping-${process.hrtime.bigint()}\n`;
    const s = net.connect({ host: ip, port });
    const done = (v: string): void => { if (!settled) { settled = true; clearTimeout(timer); s.destroy(); resolve(v); } };
    const timer = setTimeout(() => done(`error: timeout, got ${JSON.stringify(buf)}`), timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      const lines = buf.split('\n');
      if (lines.length >= 2 && !sent) { sent = true; s.write(probe); }
      if (buf.includes(probe)) done(lines[0]!.split(' ')[1] ?? `error: bad greeting ${JSON.stringify(lines[0])}`);
    });
    s.on('error', (e) => done(`error: ${e.message}`));
    s.on('close', () => done(`error: closed after ${JSON.stringify(buf)}`));
  });
}
