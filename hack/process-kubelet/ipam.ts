// Pod IP allocation from the node's podCIDR (an IPv4 /24 or wider). Pure and in-memory: the
// kubelet is the only allocator for its node, and pods get fresh IPs after a restart.
import { WeftError } from '../../src/errors/errors.js';

function ipToInt(ip: string): number {
  const parts = ip.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new WeftError('WEFT_E_INVALID_INPUT', 'not an IPv4 address', { ip });
  }
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number } {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!ip || !Number.isInteger(bits) || bits < 8 || bits > 30) throw new WeftError('WEFT_E_INVALID_INPUT', 'unsupported pod CIDR', { cidr });
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, bits };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, bits } = parseCidr(cidr);
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === base;
}

export class Ipam {
  private readonly base: number;
  private readonly size: number;
  private readonly reserved: Set<number>;
  private readonly used = new Map<number, string>();
  private next = 0;

  /** reserved: addresses never handed out (e.g. the host bridge 10.88.0.1). */
  constructor(cidr: string, reserved: string[] = []) {
    const { base, bits } = parseCidr(cidr);
    this.base = base;
    this.size = 2 ** (32 - bits);
    this.reserved = new Set(reserved.map(ipToInt));
  }

  /** Allocates the next free address for owner (network, .1 and broadcast skipped). */
  allocate(owner: string): string {
    for (const [n, o] of this.used) if (o === owner) return intToIp(n);
    for (let i = 0; i < this.size; i++) {
      const off = 2 + ((this.next + i) % (this.size - 3)); // offsets 2 .. size-2
      const n = (this.base + off) >>> 0;
      if (this.used.has(n) || this.reserved.has(n)) continue;
      this.used.set(n, owner);
      this.next = off - 1;
      return intToIp(n);
    }
    throw new WeftError('WEFT_E_UNAVAILABLE', 'pod CIDR exhausted', { size: this.size });
  }

  release(owner: string): void {
    for (const [n, o] of this.used) if (o === owner) this.used.delete(n);
  }

  inUse(): number {
    return this.used.size;
  }
}
