// Pod networking: one Linux network namespace per pod, a veth pair whose host end joins the
// bridge (weft0), the pod's IP on eth0 and a default route via the bridge address.
// Names derive from the pod UID so cleanup after a crash can find them by prefix.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './run.js';

/** `ip netns exec` bind-mounts /etc/netns/<name>/* over /etc/*: per-pod resolv.conf and hosts. */
export const ETC_NETNS = '/etc/netns';

export interface PodFiles {
  hostname: string;
  /** Search domains, e.g. <ns>.svc.cluster.local svc.cluster.local cluster.local. */
  searches: string[];
  /** Name servers: 127.0.0.1 by default, where the sidecar's DNS proxy (or nothing) listens. */
  nameservers: string[];
  options: string[];
}

export function resolvConf(f: PodFiles): string {
  return [...f.nameservers.map((n) => `nameserver ${n}`), `search ${f.searches.join(' ')}`, ...(f.options.length ? [`options ${f.options.join(' ')}`] : [])].join('\n') + '\n';
}

export function hostsFile(ip: string, hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ip}\t${hostname}\n`;
}

function writePodEtc(netns: string, ip: string, f: PodFiles): void {
  const dir = path.join(ETC_NETNS, netns);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'resolv.conf'), resolvConf(f), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'hosts'), hostsFile(ip, f.hostname), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'hostname'), `${f.hostname}\n`, { mode: 0o644 });
}

function removePodEtc(netns: string): void {
  fs.rmSync(path.join(ETC_NETNS, netns), { recursive: true, force: true });
  try {
    fs.rmdirSync(ETC_NETNS); // only when no other netns uses it
  } catch {
    /* not empty or absent */
  }
}

export const NETNS_PREFIX = 'wpk-';
export const VETH_PREFIX = 'wpkv';

export interface PodNetwork {
  netns: string;
  hostVeth: string;
  ip: string;
}

export interface NetConfig {
  bridge: string;
  gateway: string;
  /** Prefix length used on the pod's eth0, e.g. 16 so the whole pod CIDR is on-link. */
  prefixLen: number;
}

export function podNetNames(uid: string): { netns: string; hostVeth: string; peer: string } {
  const id = uid.replace(/-/g, '').slice(0, 10);
  return { netns: `${NETNS_PREFIX}${id}`, hostVeth: `${VETH_PREFIX}${id}`, peer: `wpkp${id}` };
}

export async function createPodNetwork(uid: string, ip: string, cfg: NetConfig, files?: PodFiles): Promise<PodNetwork> {
  const { netns, hostVeth, peer } = podNetNames(uid);
  await deletePodNetwork(netns, hostVeth); // idempotent: a leftover from a crash is replaced
  await run('ip', ['netns', 'add', netns]);
  await run('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer, 'netns', netns]);
  await run('ip', ['link', 'set', hostVeth, 'master', cfg.bridge]);
  await run('ip', ['link', 'set', hostVeth, 'up']);
  const inNs = (args: string[]): Promise<unknown> => run('ip', ['-n', netns, ...args]);
  await inNs(['link', 'set', peer, 'name', 'eth0']);
  await inNs(['addr', 'add', `${ip}/${cfg.prefixLen}`, 'dev', 'eth0']);
  await inNs(['link', 'set', 'eth0', 'up']);
  await inNs(['link', 'set', 'lo', 'up']);
  await inNs(['route', 'add', 'default', 'via', cfg.gateway]);
  if (files) writePodEtc(netns, ip, files);
  return { netns, hostVeth, ip };
}

/** Kills every process left in the netns, then removes the netns and the host veth. */
export async function deletePodNetwork(netns: string, hostVeth: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', netns], { allowFail: true });
  for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await run('ip', ['netns', 'del', netns], { allowFail: true });
  await run('ip', ['link', 'del', hostVeth], { allowFail: true });
  removePodEtc(netns);
}

/** Names of leftover pod netns (from a crashed kubelet) on this host. */
export async function listPodNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

export async function listPodVeths(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show'], { allowFail: true });
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\d+:\s+([^@:\s]+)/.exec(line);
    if (m?.[1]?.startsWith(VETH_PREFIX)) out.push(m[1]);
  }
  return out;
}

export async function cleanupAllPodNetworks(): Promise<number> {
  const names = await listPodNetns();
  for (const n of names) await deletePodNetwork(n, VETH_PREFIX + n.slice(NETNS_PREFIX.length));
  for (const v of await listPodVeths()) await run('ip', ['link', 'del', v], { allowFail: true });
  for (const d of fs.existsSync(ETC_NETNS) ? fs.readdirSync(ETC_NETNS) : []) if (d.startsWith(NETNS_PREFIX)) removePodEtc(d);
  return names.length;
}
