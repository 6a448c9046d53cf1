// CIDR ranges for RBAC ip principals/permissions: IPv4 and IPv6 as BigInt, with IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d, as node reports IPv4 peers on dual-stack sockets) seen as IPv4.
import net from 'node:net';
import { invalidConfig } from '../config/convert.js';

export interface Cidr { family: 4 | 6; base: bigint; bits: number }

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBig(ip: string): bigint {
  let s = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail) {
    const n = v4ToBig(v4tail[1]!);
    s = `${s.slice(0, -v4tail[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses an address to (family, value); IPv4-mapped IPv6 becomes IPv4. undefined when not an IP. */
export function parseIp(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip.replace(/%.*$/, '');
  const fam = net.isIP(bare);
  if (fam === 4) return { family: 4, value: v4ToBig(bare) };
  if (fam === 6) {
    const v = v6ToBig(bare);
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  return undefined;
}

export function parseCidr(prefix: string | undefined, len: number | undefined, field: string): Cidr {
  const ip = prefix ? parseIp(prefix) : undefined;
  if (!ip) throw invalidConfig('RBAC CIDR has an invalid address_prefix', { field, value: prefix });
  const max = ip.family === 4 ? 32 : 128;
  const bits = len ?? 0;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw invalidConfig('RBAC CIDR prefix_len out of range', { field, value: bits });
  return { family: ip.family, base: mask(ip.value, bits, max), bits };
}

function mask(v: bigint, bits: number, max: number): bigint {
  const shift = BigInt(max - bits);
  return (v >> shift) << shift;
}

export function cidrContains(c: Cidr, ip: string | undefined): boolean {
  const p = ip ? parseIp(ip) : undefined;
  if (!p || p.family !== c.family) return false;
  return mask(p.value, c.bits, c.family === 4 ? 32 : 128) === c.base;
}
