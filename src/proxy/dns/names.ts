// What the DNS proxy does with a question: answer it from the name table, say NXDOMAIN, or
// forward it upstream. Pure; the table is Istio's NDS NameTable as the proxy decoded it.
//
// Rules (Istio's DNS proxying):
// - the table's hostnames and each entry's alt_hosts (short names the control plane computed
//   for this pod's namespace) are answered with the entry's IPs, TTL 30 s;
// - a known name with no address of the asked family, or another record type, is NODATA;
// - a table name with one of the pod's search domains appended (what a stub resolver tries
//   first for `reviews.default` with ndots:5) is answered as the name itself;
// - an entry with no IPs at all (ExternalName) is forwarded: the cluster DNS owns its CNAME;
// - any other name under the cluster domain is NXDOMAIN, never forwarded;
// - everything else is forwarded (and so is every name until the first table arrives: server.ts).
import { isIP } from 'node:net';
import { invalidInput } from '../../errors/errors.js';
import { RR_CLASS_IN, RR_TYPE } from './wire.js';

export const DNS_TTL_SECONDS = 30;

export interface NameInfoShape {
  ips?: string[];
  registry?: string;
  shortname?: string;
  namespace?: string;
  alt_hosts?: string[];
}

export interface NameTableShape {
  table?: Record<string, NameInfoShape>;
}

export type Decision =
  | { kind: 'answer'; addresses: string[] } // empty = NODATA
  | { kind: 'nxdomain' }
  | { kind: 'forward' };

export interface NameIndexOptions {
  clusterDomain: string;
  searchDomains: readonly string[];
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export class NameIndex {
  private readonly byName = new Map<string, string[]>();
  private readonly clusterDomain: string;
  private readonly searchDomains: string[];

  constructor(table: NameTableShape | undefined, opts: NameIndexOptions) {
    this.clusterDomain = normalise(opts.clusterDomain);
    this.searchDomains = opts.searchDomains.map(normalise).filter(Boolean);
    const entries = Object.entries(table?.table ?? {}).sort(([a], [b]) => a.localeCompare(b));
    // Full hostnames first, so an alt host never shadows a real hostname.
    for (const [host, info] of entries) this.byName.set(normalise(host), [...(info.ips ?? [])]);
    for (const [, info] of entries) {
      for (const alt of info.alt_hosts ?? []) {
        const key = normalise(alt);
        if (!this.byName.has(key)) this.byName.set(key, [...(info.ips ?? [])]);
      }
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The IPs of a name in the table (exact, or with a search domain appended). */
  lookup(name: string): string[] | undefined {
    const n = normalise(name);
    const direct = this.byName.get(n);
    if (direct) return direct;
    for (const s of this.searchDomains) {
      if (!n.endsWith(`.${s}`)) continue;
      const hit = this.byName.get(n.slice(0, -s.length - 1));
      if (hit) return hit;
    }
    return undefined;
  }

  decide(name: string, type: number, klass: number = RR_CLASS_IN): Decision {
    if (klass !== RR_CLASS_IN) return { kind: 'forward' };
    const n = normalise(name);
    const ips = this.lookup(n);
    if (ips && ips.length > 0) {
      const family = type === RR_TYPE.A ? 4 : type === RR_TYPE.AAAA ? 6 : 0;
      return { kind: 'answer', addresses: ips.filter((ip) => isIP(ip) === family) };
    }
    if (ips) return { kind: 'forward' };
    if (this.clusterDomain !== '' && (n === this.clusterDomain || n.endsWith(`.${this.clusterDomain}`))) return { kind: 'nxdomain' };
    return { kind: 'forward' };
  }
}

/** Validates a decoded NameTable before it replaces the last good one (a bad one is NACKed). */
export function checkNameTable(t: NameTableShape): NameTableShape {
  for (const [host, info] of Object.entries(t.table ?? {})) {
    if (host === '' || host.length > 253) throw invalidInput('name table hostname is empty or too long', { host });
    for (const ip of info.ips ?? []) if (isIP(ip) === 0) throw invalidInput('name table entry has an address that is not an IP', { host, ip });
    for (const alt of info.alt_hosts ?? []) if (alt === '') throw invalidInput('name table entry has an empty alt host', { host });
  }
  return t;
}
