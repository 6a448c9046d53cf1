// Keep-alive pool of raw upstream sockets for one host (the raw HTTP/1.1 path's counterpart of
// http.Agent): LIFO reuse, at most `maxSockets` open (beyond it callers wait in FIFO order),
// idle sockets closed after `idleMs`, and an idle socket that talks or closes is dropped.
import type net from 'node:net';

export interface Lease {
  socket: net.Socket;
  /** Served a request before: a reset before any response byte may be a stale keep-alive race. */
  reused: boolean;
  /** Still connecting (or handshaking, for TLS). */
  connecting: boolean;
}

type Waiter = (lease: Lease) => void;

export class RawPool {
  private readonly idle: net.Socket[] = [];
  private open = 0;
  private readonly waiters: Waiter[] = [];
  private readonly served = new WeakSet<net.Socket>();
  private closed = false;

  constructor(
    private readonly dial: () => net.Socket, private readonly maxSockets: number, private readonly idleMs: number,
    private readonly tls: boolean,
  ) {}

  /** Calls `got` with a socket now or once one frees up; the returned function cancels a wait. */
  acquire(got: Waiter): () => void {
    const s = this.idle.pop();
    if (s) { this.unhookIdle(s); got({ socket: s, reused: true, connecting: false }); return noop; }
    if (this.open < this.maxSockets && !this.closed) { got(this.fresh()); return noop; }
    this.waiters.push(got);
    return () => { const i = this.waiters.indexOf(got); if (i >= 0) this.waiters.splice(i, 1); };
  }

  /** Hands a socket back: reusable ones go idle (or to a waiter); the rest are destroyed. */
  release(s: net.Socket, reusable: boolean): void {
    this.served.add(s);
    if (!reusable || this.closed || s.destroyed || !s.writable) { s.destroy(); return; }
    const w = this.waiters.shift();
    if (w) { w({ socket: s, reused: true, connecting: false }); return; }
    this.idle.push(s);
    s.on('data', onIdleData);
    s.setTimeout(this.idleMs);
  }

  destroy(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.destroy();
  }

  get idleCount(): number { return this.idle.length; }

  private fresh(): Lease {
    const s = this.dial();
    this.open++;
    s.once('close', () => {
      this.open--;
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
      // A slot freed up: the oldest waiter dials a new connection.
      const w = this.open < this.maxSockets && !this.closed ? this.waiters.shift() : undefined;
      if (w) w(this.fresh());
    });
    s.on('timeout', onIdleTimeout); // armed only while idle
    s.on('error', noop); // surfaced through 'close'; the exchange using it has its own handler
    return { socket: s, reused: false, connecting: this.tls ? true : s.connecting };
  }

  private unhookIdle(s: net.Socket): void {
    s.off('data', onIdleData);
    s.setTimeout(0);
  }
}

function noop(): void { /* nothing to cancel */ }
// Bytes on an idle HTTP/1.1 connection are a protocol error (or a close notice): drop it.
function onIdleData(this: net.Socket): void { this.destroy(); }
function onIdleTimeout(this: net.Socket): void { this.destroy(); }
