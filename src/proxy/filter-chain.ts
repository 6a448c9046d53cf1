// Filter chain selection for an accepted connection, as Envoy's FilterChainManager does:
// destination port, then server name (SNI), then transport protocol, then ALPN. Each level
// keeps only its most specific matching bucket (an exact value beats "unspecified") and never
// backtracks: a connection to a port that has chains, none of which fits, gets no chain (the
// default chain, or a close). That is what makes STRICT mTLS hold on a declared port even when
// a catch-all passthrough chain exists.
import type { FilterChain, Listener } from './config/model.js';

export interface ConnectionFacts {
  dstPort: number;
  transport: 'tls' | 'raw_buffer';
  sni?: string;
  /** For plaintext, what the HTTP inspector would report: http/1.1 or h2c; empty for TCP. */
  alpn: string[];
}

/** SNI bucket: exact name, else the longest matching `*.suffix`, else chains that name no server. */
function bySni(chains: FilterChain[], sni: string | undefined): FilterChain[] {
  if (sni) {
    const exact = chains.filter((fc) => fc.match.serverNames.includes(sni));
    if (exact.length > 0) return exact;
    let best = 0;
    let wild: FilterChain[] = [];
    for (const fc of chains) {
      for (const n of fc.match.serverNames) {
        if (!n.startsWith('*.') || !sni.endsWith(n.slice(1))) continue;
        if (n.length > best) { best = n.length; wild = [fc]; } else if (n.length === best && !wild.includes(fc)) wild.push(fc);
      }
    }
    if (wild.length > 0) return wild;
  }
  return chains.filter((fc) => fc.match.serverNames.length === 0);
}

/** One level: the chains whose value equals `want`, else those that leave it unspecified. */
function level(chains: FilterChain[], get: (fc: FilterChain) => unknown, want: (v: unknown) => boolean): FilterChain[] {
  const exact = chains.filter((fc) => get(fc) !== undefined && want(get(fc)));
  return exact.length > 0 ? exact : chains.filter((fc) => get(fc) === undefined);
}

export function selectFilterChain(l: Listener, f: ConnectionFacts): FilterChain | undefined {
  let c = level(l.filterChains, (fc) => fc.match.destinationPort, (v) => v === f.dstPort);
  c = bySni(c, f.sni);
  c = level(c, (fc) => fc.match.transportProtocol, (v) => v === f.transport);
  c = level(c, (fc) => (fc.match.applicationProtocols.length > 0 ? fc.match.applicationProtocols : undefined),
    (v) => (v as string[]).some((p) => f.alpn.includes(p)));
  return c[0] ?? l.defaultChain;
}

/** Whether picking a chain needs the connection's first bytes (else splice at once: server-first safe). */
export function needsDetection(l: Listener): boolean {
  return [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])].some((fc) =>
    fc.filter.kind === 'http' || fc.tls !== undefined || fc.match.serverNames.length > 0
    || fc.match.transportProtocol !== undefined || fc.match.applicationProtocols.length > 0);
}
