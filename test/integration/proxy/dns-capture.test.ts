// Real DNS capture: a network namespace this test creates, the proxy's iptables rules with
// --dns-capture-port, and the DNS proxy running as UID 1337. The app's port-53 queries (UDP
// and TCP) to the pod's nameserver land on the DNS proxy; the proxy's own forwards to that
// nameserver are not captured (no loop). Needs root, ip and iptables-restore.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { defaultIptablesArgs } from '../../../src/api/injection.js';
import { PROXY_PORTS } from '../../../src/api/sidecar.js';
import { iptablesRules } from '../../../src/proxy/iptables.js';
import { createNetnsPair } from '../../helpers/netns-pair.js';

const NS = `weft-dns-${process.pid}`; // the meshed pod: app + DNS proxy
const NS_B = `weft-dnsb-${process.pid}`; // the cluster's nameserver
const IP_A = '10.252.0.1';
const NAMESERVER = '10.252.0.2';
const child = path.join(process.cwd(), 'dist/test/integration/proxy/dns-netns-child.js');
const prerequisites = process.getuid?.() === 0 && existsSync('/usr/sbin/ip') && existsSync('/usr/sbin/iptables-restore');
const procs: ChildProcess[] = [];

function inNs(ns: string, args: string[], asProxy = false): Promise<Record<string, unknown>> {
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

beforeAll(async () => {
  if (!prerequisites) return;
  createNetnsPair({ ns: NS, peerNs: NS_B, ifName: 'wdns0', peerIfName: 'wdns1', ip: IP_A, peerIp: NAMESERVER, rules: iptablesRules({ ...defaultIptablesArgs(), includeInboundPorts: [], dnsCapturePort: PROXY_PORTS.dns }) });
  await inNs(NS_B, ['stub', NAMESERVER]);
  expect(await inNs(NS, ['dns', NAMESERVER], true)).toEqual({ ready: true, uid: 1337 });
}, 30_000);

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  if (prerequisites) { execFileSync('ip', ['netns', 'delete', NS]); execFileSync('ip', ['netns', 'delete', NS_B]); }
});

describe('DNS capture in a network namespace', () => {
  it('runs as root with ip and iptables-restore (the rest of this file needs them)', () => {
    expect(prerequisites).toBe(true);
  });

  it('answers the app\'s UDP query for a mesh short name from the table, not from the nameserver', async () => {
    // The nameserver would say 6.6.6.6; 10.96.0.20 proves the query was captured.
    expect(await inNs(NS, ['query', NAMESERVER, 'server'])).toEqual({ ips: ['10.96.0.20'] });
  });

  it('captures TCP port 53 too (not the outbound TCP capture)', async () => {
    expect(await inNs(NS, ['tcpquery', NAMESERVER, 'server'])).toEqual({ id: 77, isResponse: true, truncated: false, rcode: 0, answers: 1, address: '10.96.0.20' });
  });

  it('forwards other names to the nameserver as UID 1337 without looping back', async () => {
    expect(await inNs(NS, ['query', NAMESERVER, 'external.test'])).toEqual({ ips: ['192.0.2.7'] });
    expect(await inNs(NS, ['query', NAMESERVER, 'missing.default.svc.cluster.local'])).toEqual({ error: 'ENOTFOUND' });
  });
});
