// The pod's resolver settings: upstream nameservers (where the DNS proxy forwards names it
// does not own) and the search list (whose expansions it recognises). Pure parsing.
import { isIP } from 'node:net';
import { WeftError } from '../../errors/errors.js';

export interface Upstream {
  address: string;
  port: number;
}

export interface ResolvConf {
  nameservers: Upstream[];
  searches: string[];
}

/** Parses resolv.conf text; unknown directives and malformed nameserver lines are skipped, as libc does. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: Upstream[] = [];
  let searches: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [directive, ...args] = line.split(/\s+/);
    if (directive === 'nameserver' && args[0] && isIP(args[0]) !== 0) nameservers.push({ address: args[0], port: 53 });
    // The last search (or domain) line wins, as in libc.
    if ((directive === 'search' || directive === 'domain') && args.length > 0) searches = args.map((s) => s.toLowerCase().replace(/\.$/, ''));
  }
  return { nameservers, searches };
}

/** Parses `ip`, `ip:port` or `[ipv6]:port`, comma-separated (WEFT_DNS_UPSTREAMS). */
export function parseUpstreams(text: string): Upstream[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(item);
    const plain = /^([^:]+)(?::(\d+))?$/.exec(item);
    const [address, port] = bracketed ? [bracketed[1]!, bracketed[2]] : plain ? [plain[1]!, plain[2]] : [item, undefined];
    const p = port === undefined ? 53 : Number(port);
    if (isIP(address) === 0 || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw new WeftError('WEFT_E_INVALID_CONFIG', 'DNS upstream must be ip, ip:port or [ipv6]:port', { value: item });
    }
    return { address, port: p };
  });
}
