// ORIGINAL_DST (passthrough) host selection, as Envoy's original destination load balancer:
// the upstream is the connection's original destination (SO_ORIGINAL_DST), or, for HTTP when
// the cluster sets original_dst_lb_config.use_http_header, the x-envoy-original-dst-host
// header. Pure: the caller supplies the facts and the loop guard's view of the proxy.
import net from 'node:net';
import type { OrigDst } from './orig-dst.js';

export const ORIGINAL_DST_HEADER = 'x-envoy-original-dst-host';

export interface PassthroughRequest {
  /** The downstream connection's original destination; absent when unknown. */
  connDst?: OrigDst;
  /** Value of x-envoy-original-dst-host (HTTP only). */
  header?: string;
  /** The cluster's original_dst_lb_config.use_http_header. */
  useHttpHeader: boolean;
}

/** What the proxy itself listens on, so passthrough never dials back into it. */
export interface LoopGuard {
  /** Ports the proxy listens on (bound listeners and its fixed ports). */
  ownPorts: ReadonlySet<number>;
  /** True for an address of this host / network namespace. */
  isLocalAddress: (ip: string) => boolean;
}

export type PassthroughDecision =
  | { ok: true; target: OrigDst; from: 'header' | 'connection'; badHeader?: boolean }
  | { ok: false; reason: 'no-original-destination' | 'loop'; badHeader?: boolean; target?: OrigDst };

/** What an ORIGINAL_DST cluster may pick from for one request (absent fields left out). */
export function passthroughFacts(connDst: OrigDst | undefined, header: string | undefined): { connDst?: OrigDst; header?: string } {
  return { ...(connDst ? { connDst } : {}), ...(header !== undefined ? { header } : {}) };
}

/** Parses `1.2.3.4:80` or `[::1]:80`; only literal IPs with a port 1-65535 (Envoy takes no names here). */
export function parseOriginalDstHeader(v: string | undefined): OrigDst | undefined {
  if (!v) return undefined;
  const s = v.trim();
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([0-9.]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (net.isIP(m[1]!) === 0 || port < 1 || port > 65535) return undefined;
  return { address: m[1]!, port };
}

/** A destination that is one of the proxy's own listeners on this host: forwarding there loops. */
export function isLoopTarget(t: OrigDst, guard: LoopGuard): boolean {
  if (!guard.ownPorts.has(t.port)) return false;
  return t.address === '0.0.0.0' || t.address === '::' || guard.isLocalAddress(t.address);
}

/**
 * Picks the passthrough destination. An invalid header falls back to the connection's
 * destination (Envoy counts original_dst_host_invalid and does the same). No usable
 * destination, or one that is the proxy's own listener, is refused.
 */
export function passthroughTarget(req: PassthroughRequest, guard: LoopGuard): PassthroughDecision {
  let badHeader = false;
  let target: OrigDst | undefined;
  let from: 'header' | 'connection' = 'connection';
  if (req.useHttpHeader && req.header !== undefined) {
    target = parseOriginalDstHeader(req.header);
    if (target) from = 'header';
    else badHeader = true;
  }
  if (!target && req.connDst && req.connDst.address && req.connDst.port > 0) target = req.connDst;
  const extra = badHeader ? { badHeader } : {};
  if (!target) return { ok: false, reason: 'no-original-destination', ...extra };
  const address = target.address.startsWith('::ffff:') && net.isIPv4(target.address.slice(7)) ? target.address.slice(7) : target.address;
  const t = { address, port: target.port };
  if (isLoopTarget(t, guard)) return { ok: false, reason: 'loop', target: t, ...extra };
  return { ok: true, target: t, from, ...extra };
}

/** Loopback ranges and the given interface addresses count as local. */
export function localAddressPredicate(interfaceAddresses: Iterable<string>): (ip: string) => boolean {
  const set = new Set([...interfaceAddresses].map((a) => a.toLowerCase()));
  return (ip) => {
    const a = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip.toLowerCase();
    return a.startsWith('127.') || a === '::1' || set.has(a);
  };
}
