// Two network namespaces joined by a veth pair, for capture tests: the first gets the real
// iptables capture rules (`rules`), the second plays the remote side. Root only; the caller
// removes both with `ip netns del` in afterAll.
import { execFileSync } from 'node:child_process';

export interface NetnsPair {
  /** Namespace with the capture rules (the "pod"). */
  ns: string;
  /** Namespace on the other end of the veth. */
  peerNs: string;
  /** veth names, one per side (unique per test file so parallel files never clash). */
  ifName: string;
  peerIfName: string;
  /** /24 addresses of each side. */
  ip: string;
  peerIp: string;
  /** iptables-restore input applied with --noflush in `ns`. */
  rules: string;
  /** Optional IPv6 side: /64 addresses (no DAD wait) and ip6tables-restore input for `ns`. */
  ipv6?: { ip: string; peerIp: string; rules: string };
}

export function createNetnsPair(p: NetnsPair): void {
  const sh = (ns: string, ...a: string[]): void => { execFileSync('ip', ['netns', 'exec', ns, ...a]); };
  execFileSync('ip', ['netns', 'add', p.ns]);
  execFileSync('ip', ['netns', 'add', p.peerNs]);
  sh(p.ns, 'ip', 'link', 'set', 'lo', 'up');
  sh(p.peerNs, 'ip', 'link', 'set', 'lo', 'up');
  sh(p.ns, 'ip', 'link', 'add', p.ifName, 'type', 'veth', 'peer', 'name', p.peerIfName);
  sh(p.ns, 'ip', 'link', 'set', p.peerIfName, 'netns', p.peerNs);
  sh(p.ns, 'ip', 'addr', 'add', `${p.ip}/24`, 'dev', p.ifName);
  sh(p.peerNs, 'ip', 'addr', 'add', `${p.peerIp}/24`, 'dev', p.peerIfName);
  sh(p.ns, 'ip', 'link', 'set', p.ifName, 'up');
  sh(p.peerNs, 'ip', 'link', 'set', p.peerIfName, 'up');
  execFileSync('ip', ['netns', 'exec', p.ns, 'iptables-restore', '--noflush'], { input: p.rules });
  if (p.ipv6) {
    sh(p.ns, 'ip', '-6', 'addr', 'add', `${p.ipv6.ip}/64`, 'dev', p.ifName, 'nodad');
    sh(p.peerNs, 'ip', '-6', 'addr', 'add', `${p.ipv6.peerIp}/64`, 'dev', p.peerIfName, 'nodad');
    execFileSync('ip', ['netns', 'exec', p.ns, 'ip6tables-restore', '--noflush'], { input: p.ipv6.rules });
  }
}
