// Passthrough through real capture: the app calls a pod IP in another network namespace on
// ports no listener or service covers. iptables redirects the call to 15001, SO_ORIGINAL_DST
// names the real destination, and PassthroughCluster (ORIGINAL_DST) forwards there, for TCP
// (catch-all chain) and HTTP (allow_any route). Root only; skips without the addon.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { defaultIptablesArgs } from '../../../src/api/injection.js';
import { iptablesRules } from '../../../src/proxy/iptables.js';
import { createNetnsPair } from '../../helpers/netns-pair.js';

const NS = `weft-pt-${process.pid}`; // the meshed pod: app client + proxy
const NS_B = `weft-ptb-${process.pid}`; // a remote pod no service covers
const IP_A = '10.252.0.1';
const IP = '10.252.0.2';
const IP6_A = 'fd00:252::1';
const IP6 = 'fd00:252::2';
const child = path.join(process.cwd(), 'dist/test/integration/proxy/netns-child.js');
const addon = path.join(process.cwd(), 'build/orig_dst.node');
const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/ip') && existsSync('/usr/sbin/iptables-restore') && existsSync('/usr/sbin/ip6tables-restore') && existsSync(addon);
const procs: ChildProcess[] = [];

function inNs(args: string[], asProxy = false, ns = NS): Promise<Record<string, unknown>> {
  const pre = asProxy ? ['setpriv', '--reuid=1337', '--regid=1337', '--clear-groups'] : [];
  const proc = spawn('ip', ['netns', 'exec', ns, ...pre, process.execPath, child, ...args], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${args[0]} gave no output`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(t); resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>); }
    });
  });
}

const d = canRun ? describe : describe.skip;

beforeAll(async () => {
  if (!canRun) return;
  const args = defaultIptablesArgs(); // inbound capture on every port, as injected
  createNetnsPair({ ns: NS, peerNs: NS_B, ifName: 'weft0', peerIfName: 'weft1', ip: IP_A, peerIp: IP, rules: iptablesRules(args), ipv6: { ip: IP6_A, peerIp: IP6, rules: iptablesRules(args, 6) } });
  await inNs(['backend', IP, '8080'], false, NS_B);
  await inNs(['tcp-backend', IP, '9000'], false, NS_B);
  await inNs(['backend', IP6, '8080'], false, NS_B);
  await inNs(['tcp-backend', IP6, '9000'], false, NS_B);
  await inNs(['backend', '::', '8081']); // the meshed pod's own app, behind inbound capture
  const proxy = await inNs(['passthrough-proxy', IP, '8080'], true);
  expect(proxy).toMatchObject({ ready: true, addon: true, uid: 1337 });
});

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  if (canRun) { execFileSync('ip', ['netns', 'delete', NS]); execFileSync('ip', ['netns', 'delete', NS_B]); }
});

d('passthrough through capture (ORIGINAL_DST)', () => {
  it('HTTP to an uncovered pod IP goes app -> 15001 -> allow_any -> PassthroughCluster -> the original destination', async () => {
    const N = 5;
    for (let i = 0; i < N; i++) {
      const r = await inNs(['client', IP, '8080']);
      expect(r.status).toBe(200);
      const seen = JSON.parse(String(r.body)) as { headers: Record<string, string> };
      expect(seen.headers['x-weft-captured']).toBe('yes'); // it did cross the proxy
    }
  });

  it('TCP (server-first) to an uncovered port goes through the catch-all chain to the original destination', async () => {
    const r = await inNs(['tcp-client', IP, '9000']);
    expect(r).toEqual({ got: `hello from ${IP}\nping\n` });
  });

  it('IPv6 (dual-stack pod, ip6tables capture): HTTP and server-first TCP reach the original [destination]', async () => {
    const r = await inNs(['client', IP6, '8080']);
    expect(r.status).toBe(200);
    expect((JSON.parse(String(r.body)) as { headers: Record<string, string> }).headers['x-weft-captured']).toBe('yes');
    expect(await inNs(['tcp-client', IP6, '9000'])).toEqual({ got: `hello from ${IP6}\nping\n` });
    const self = await inNs(['tcp-client', '::1', '15001']); // no loop over IPv6 either
    expect(self.got).toBe('');
    expect(self.error).toBeDefined();
  });

  it('inbound over IPv4 and IPv6: a remote pod\'s call to this pod goes through 15006 to the app', async () => {
    for (const target of [IP_A, IP6_A]) {
      const r = await inNs(['client', target, '8081'], false, NS_B);
      expect(`${target} ${String(r.status)}`).toBe(`${target} 200`);
      expect((JSON.parse(String(r.body)) as { headers: Record<string, string> }).headers['x-weft-inbound']).toBe('yes');
    }
  });

  it('a call the proxy would have to make to itself is refused, not looped (the app dials 15001 directly)', async () => {
    const r = await inNs(['tcp-client', '127.0.0.1', '15001']);
    expect(r.got).toBe('');
    expect(r.error).toBeDefined();
  });
});
