// `weft proxy iptables`: the init container's traffic capture. iptablesRules() is pure and
// renders iptables-restore input (nat table) for REDIRECT capture, in Istio's layout:
// inbound -> 15006, outbound -> 15001, DNS (UDP/TCP 53, when asked) -> 15053, with the proxy's own UID/GID, loopback, excluded
// ports and CIDRs left alone so there are no loops. applyIptables() feeds it to
// iptables-restore / ip6tables-restore.
import { spawn } from 'node:child_process';
import { PROXY_PORTS } from '../api/sidecar.js';
import type { IptablesArgs } from '../api/injection.js';

export type IpFamily = 4 | 6;

const PROXY_OWN_PORTS = [PROXY_PORTS.admin, PROXY_PORTS.outbound, PROXY_PORTS.inbound, PROXY_PORTS.health, PROXY_PORTS.dns, PROXY_PORTS.metrics];

function familyOf(cidr: string): IpFamily {
  return cidr.includes(':') ? 6 : 4;
}

export function iptablesRules(a: IptablesArgs, family: IpFamily = 4): string {
  const lo = family === 4 ? '127.0.0.1/32' : '::1/128';
  const innerLo = family === 4 ? '127.0.0.6/32' : '::6/128';
  const r: string[] = [
    '*nat',
    ':WEFT_INBOUND - [0:0]',
    ':WEFT_IN_REDIRECT - [0:0]',
    ':WEFT_OUTPUT - [0:0]',
    ':WEFT_REDIRECT - [0:0]',
    `-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${a.inboundCapturePort}`,
    `-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports ${a.outboundCapturePort}`,
  ];
  // Inbound.
  const inbound = a.includeInboundPorts;
  if (inbound === '*' || inbound.length > 0) {
    r.push('-A PREROUTING -p tcp -j WEFT_INBOUND');
    if (inbound === '*') {
      const skip = [...new Set([...PROXY_OWN_PORTS, ...a.excludeInboundPorts])].sort((x, y) => x - y);
      for (const p of skip) r.push(`-A WEFT_INBOUND -p tcp --dport ${p} -j RETURN`);
      r.push('-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT');
    } else {
      for (const p of inbound) if (!a.excludeInboundPorts.includes(p)) r.push(`-A WEFT_INBOUND -p tcp --dport ${p} -j WEFT_IN_REDIRECT`);
    }
  }
  // DNS first: TCP/53 must reach the DNS proxy, not the outbound TCP capture below. The proxy's
  // own UID/GID is exempt, so its forwards to the real resolvers are not looped back to it.
  if (a.dnsCapturePort !== undefined) {
    for (const proto of ['udp', 'tcp']) {
      r.push(`-A OUTPUT -p ${proto} --dport 53 -m owner ! --uid-owner ${a.proxyUid} -m owner ! --gid-owner ${a.proxyGid} -j REDIRECT --to-ports ${a.dnsCapturePort}`);
    }
  }
  // Outbound.
  r.push('-A OUTPUT -p tcp -j WEFT_OUTPUT');
  // The proxy's own upstream connections to the local app use 127.0.0.6 as source.
  r.push(`-A WEFT_OUTPUT -o lo -s ${innerLo} -j RETURN`);
  // The app calling its own pod IP through lo goes through the inbound path (Istio does the same).
  r.push(`-A WEFT_OUTPUT -o lo ! -d ${lo} -p tcp -m owner --uid-owner ${a.proxyUid} -j WEFT_IN_REDIRECT`);
  r.push(`-A WEFT_OUTPUT -o lo -m owner ! --uid-owner ${a.proxyUid} -j RETURN`);
  r.push(`-A WEFT_OUTPUT -m owner --uid-owner ${a.proxyUid} -j RETURN`);
  r.push(`-A WEFT_OUTPUT -o lo ! -d ${lo} -p tcp -m owner --gid-owner ${a.proxyGid} -j WEFT_IN_REDIRECT`);
  r.push(`-A WEFT_OUTPUT -o lo -m owner ! --gid-owner ${a.proxyGid} -j RETURN`);
  r.push(`-A WEFT_OUTPUT -m owner --gid-owner ${a.proxyGid} -j RETURN`);
  r.push(`-A WEFT_OUTPUT -d ${lo} -j RETURN`);
  for (const p of a.excludeOutboundPorts) r.push(`-A WEFT_OUTPUT -p tcp --dport ${p} -j RETURN`);
  for (const c of a.excludeOutboundCidrs) if (familyOf(c) === family) r.push(`-A WEFT_OUTPUT -d ${c} -j RETURN`);
  r.push('-A WEFT_OUTPUT -j WEFT_REDIRECT');
  r.push('COMMIT');
  return r.join('\n') + '\n';
}

export type CommandRunner = (cmd: string, args: string[], stdin: string) => Promise<void>;

export const spawnRunner: CommandRunner = (cmd, args, stdin) =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
    child.stdin.end(stdin);
  });

/**
 * Whether the pod has a global IPv6 address, from /proc/net/if_inet6 (one address per line:
 * hex address, ifindex, prefix length, scope, flags, interface; scope 00 = global). A dual-stack
 * pod needs ip6tables capture too, or its IPv6 traffic leaves the mesh unseen, as Istio's
 * istio-iptables does it for pods with IPv6 addresses.
 */
export function hasGlobalIpv6(ifInet6: string): boolean {
  return ifInet6.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length >= 6 && f[3] === '00' && f[5] !== 'lo';
  });
}

/** Installs the rules for IPv4, and for IPv6 when `ipv6` is set. */
export async function applyIptables(a: IptablesArgs, opts: { run?: CommandRunner; ipv6?: boolean } = {}): Promise<void> {
  const run = opts.run ?? spawnRunner;
  await run('iptables-restore', ['--noflush'], iptablesRules(a, 4));
  if (opts.ipv6) await run('ip6tables-restore', ['--noflush'], iptablesRules(a, 6));
}
