// Real capture: a network namespace this test creates, the proxy's own iptables rules, the
// SO_ORIGINAL_DST addon, and the capture listener's hand-off to the per-port listener.
// Skips (with a message) when not root or without ip/iptables/gcc-built addon.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { defaultIptablesArgs } from '../../../src/api/injection.js';
import { iptablesRules } from '../../../src/proxy/iptables.js';
import { createNetnsPair } from '../../helpers/netns-pair.js';

const NS = `weft-cap-${process.pid}`; // the meshed pod: app client + proxy
const NS_B = `weft-capb-${process.pid}`; // a remote pod: the backend
const IP_A = '10.251.0.1';
const IP = '10.251.0.2';
const child = path.join(process.cwd(), 'dist/test/integration/proxy/netns-child.js');
const addon = path.join(process.cwd(), 'build/orig_dst.node');
const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/ip') && existsSync('/usr/sbin/iptables-restore') && existsSync(addon);
const procs: ChildProcess[] = [];

function inNs(args: string[], asProxy = false, ns = NS): Promise<{ proc: ChildProcess; line: Record<string, unknown> }> {
  const pre = asProxy ? ['setpriv', '--reuid=1337', '--regid=1337', '--clear-groups'] : [];
  const proc = spawn('ip', ['netns', 'exec', ns, ...pre, process.execPath, child, ...args], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${args[0]} gave no output`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(t); resolve({ proc, line: JSON.parse(out.slice(0, nl)) as Record<string, unknown> }); }
    });
  });
}

const d = canRun ? describe : describe.skip;

beforeAll(() => {
  if (!canRun) return;
  createNetnsPair({ ns: NS, peerNs: NS_B, ifName: 'weft0', peerIfName: 'weft1', ip: IP_A, peerIp: IP, rules: iptablesRules({ ...defaultIptablesArgs(), includeInboundPorts: [] }) });
});

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  if (canRun) { execFileSync('ip', ['netns', 'delete', NS]); execFileSync('ip', ['netns', 'delete', NS_B]); }
});

d('traffic capture in a network namespace', () => {
  it('redirects the app\'s outbound call through the proxy, which finds the original destination', async () => {
    await inNs(['backend', IP, '8080'], false, NS_B);
    const proxy = await inNs(['proxy', IP, '8080'], true);
    expect(proxy.line).toMatchObject({ ready: true, addon: true, uid: 1337 });
    const client = await inNs(['client', IP, '8080']);
    expect(client.line.status).toBe(200);
    const seen = JSON.parse(String(client.line.body)) as { headers: Record<string, string> };
    // The header proves the request went app -> iptables -> 15001 -> hand-off to 0.0.0.0_8080 -> app;
    // the proxy's own upstream call (UID 1337) was not captured again (no loop).
    expect(seen.headers['x-weft-captured']).toBe('yes');
  });
});
