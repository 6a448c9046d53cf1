// A Duplex over a socket whose first bytes were already read for protocol detection.
// node:http2 consumes the native handle directly and ignores data unshifted into the JS
// stream, so h2c connections go through this wrapper (HTTP/1 and TLS handle unshift).
import { Duplex } from 'node:stream';
import type net from 'node:net';

export class ReplaySocket extends Duplex {
  constructor(private readonly socket: net.Socket, prefix: Buffer) {
    super({ allowHalfOpen: false });
    if (prefix.length > 0) this.push(prefix);
    socket.on('data', (c: Buffer) => { if (!this.push(c)) socket.pause(); });
    socket.on('end', () => this.push(null));
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => this.destroy());
    socket.resume();
  }

  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get remotePort(): number | undefined { return this.socket.remotePort; }
  get localAddress(): string | undefined { return this.socket.localAddress; }
  get localPort(): number | undefined { return this.socket.localPort; }
  setNoDelay(v?: boolean): this { this.socket.setNoDelay(v); return this; }
  setKeepAlive(e?: boolean, d?: number): this { this.socket.setKeepAlive(e, d); return this; }
  setTimeout(ms: number, cb?: () => void): this { this.socket.setTimeout(ms, cb); return this; }

  override _read(): void { this.socket.resume(); }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void { this.socket.write(chunk, cb); }
  override _final(cb: (e?: Error | null) => void): void { this.socket.end(cb); }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void { this.socket.destroy(); cb(err); }
}
