// Filter chain selection for an accepted connection (Envoy's order, simplified):
// destination port, then server name (SNI), then transport protocol, then ALPN; among
// matches the most specific wins, and the default chain catches the rest.
import type { FilterChain, Listener } from './config/model.js';

export interface ConnectionFacts {
  dstPort: number;
  transport: 'tls' | 'raw_buffer';
  sni?: string;
  /** For plaintext, what the HTTP inspector would report: http/1.1 or h2c; empty for TCP. */
  alpn: string[];
}

function sniMatches(names: string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (!sni) return -1;
  for (const n of names) {
    if (n === sni) return 2;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1))) return 1;
  }
  return -1;
}

export function selectFilterChain(l: Listener, f: ConnectionFacts): FilterChain | undefined {
  let best: FilterChain | undefined;
  let bestScore = -1;
  for (const fc of l.filterChains) {
    const m = fc.match;
    let score = 0;
    if (m.destinationPort !== undefined) { if (m.destinationPort !== f.dstPort) continue; score += 1000; }
    const s = sniMatches(m.serverNames, f.sni);
    if (s < 0) continue;
    score += s * 100;
    if (m.transportProtocol !== undefined) { if (m.transportProtocol !== f.transport) continue; score += 10; }
    if (m.applicationProtocols.length > 0) {
      if (!m.applicationProtocols.some((p) => f.alpn.includes(p))) continue;
      score += 1;
    }
    if (score > bestScore) { best = fc; bestScore = score; }
  }
  return best ?? l.defaultChain;
}

/** Whether picking a chain needs the connection's first bytes (else splice at once: server-first safe). */
export function needsDetection(l: Listener): boolean {
  return [...l.filterChains, ...(l.defaultChain ? [l.defaultChain] : [])].some((fc) =>
    fc.filter.kind === 'http' || fc.tls !== undefined || fc.match.serverNames.length > 0
    || fc.match.transportProtocol !== undefined || fc.match.applicationProtocols.length > 0);
}
