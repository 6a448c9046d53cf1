// The original destination of an iptables-REDIRECTed connection, via the tiny N-API addon
// (native/orig_dst.c, built by native/build.sh). Without the addon, or for a connection
// that was not redirected, the socket's local address is the destination.
import { createRequire } from 'node:module';
import path from 'node:path';
import type net from 'node:net';

export interface OrigDst { address: string; port: number }
type Addon = { getOriginalDst(fd: number): { address: string; port: number } | null };

export function loadOrigDstAddon(file = path.join(process.cwd(), 'build', 'orig_dst.node')): Addon | undefined {
  try {
    return createRequire(import.meta.url)(file) as Addon;
  } catch {
    return undefined;
  }
}

export function originalDst(socket: net.Socket, addon: Addon | undefined): OrigDst {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (addon && typeof fd === 'number' && fd >= 0) {
    try {
      const r = addon.getOriginalDst(fd);
      if (r) return r;
    } catch {
      // ENOENT: not a redirected connection.
    }
  }
  return { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
}
