// The least HTTP/2 a bench gRPC client needs: one connection, one client stream (id 1), over a
// plain loopback TCP socket. Flow-control windows are opened to Envoy's defaults (256 MiB
// stream and connection) at the start, so no WINDOW_UPDATE is ever needed within a bench run;
// DATA payloads are handed on as views of the socket's read buffers (no per-frame copy, no
// per-frame stream machinery), which keeps the client's cost small next to the server's.
// Response headers and trailers are not decoded (HPACK is skipped: only stream end matters).
// What the peer requires of a client is answered: SETTINGS and PING get their ACKs.
import net from 'node:net';

export const ENVOY_WINDOW = 256 * 1024 * 1024;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const enum Type { DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PING = 6, GOAWAY = 7, CONTINUATION = 9 }
const END_STREAM = 0x1;
const ACK = 0x1;
const PADDED = 0x8;
const STREAM = 1;
/**
 * One read buffer for every connection of the process: reads are parsed synchronously and only
 * small pieces are kept (copied), so no buffer is allocated per read (that was most of the
 * client's GC).
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function frame(type: number, flags: number, stream: number, payload: Buffer = EMPTY): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return payload.length ? Buffer.concat([h, payload]) : h;
}

/** HPACK "literal header field without indexing, new name", no Huffman: short names and values only. */
function literalHeaders(headers: ReadonlyArray<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    if (name.length > 126 || value.length > 126) throw new Error(`h2-lean: header ${name} too long for the short form`);
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

export interface LeanStreamHandlers {
  /** Bytes of the response body (DATA of stream 1), in order; views valid only during the call. */
  onData(chunk: Buffer): void;
  /** The stream or connection ended (trailers, reset, GOAWAY, socket close or error). */
  onEnd(why: string): void;
}

export class LeanH2Stream {
  private readonly socket: net.Socket;
  private pending = EMPTY;
  private dataLeft = 0;
  private dataEnds = false;
  private ended = false;

  constructor(host: string, port: number, path: string, private readonly h: LeanStreamHandlers) {
    if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`h2-lean: loopback only, got ${host}`);
    this.socket = net.connect({ host, port, onread: { buffer: READ_BUFFER, callback: (n) => { this.read(READ_BUFFER.subarray(0, n)); return true; } } });
    this.socket.setNoDelay(true);
    const settings = Buffer.alloc(6); // SETTINGS_INITIAL_WINDOW_SIZE (0x4)
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(ENVOY_WINDOW, 2);
    const connWindow = Buffer.alloc(4);
    connWindow.writeUInt32BE(ENVOY_WINDOW - 65_535, 0);
    const headers = literalHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', `${host}:${port}`], ['content-type', 'application/grpc'], ['te', 'trailers']]);
    this.socket.write(Buffer.concat([PREFACE, frame(Type.SETTINGS, 0, 0, settings), frame(8, 0, 0, connWindow), frame(Type.HEADERS, 0x4, STREAM, headers)]));
    this.socket.on('error', (e) => this.end(e.message));
    this.socket.on('close', () => this.end('connection closed'));
  }

  /** Sends one DATA frame on the stream (the caller keeps it under the peer's 16 KiB frame and 64 KiB window). */
  write(payload: Buffer): void {
    if (payload.length > 16_384) throw new Error('h2-lean: message larger than one frame');
    if (!this.ended) this.socket.write(frame(Type.DATA, 0, STREAM, payload));
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    this.h.onEnd(why);
  }

  private read(chunk: Buffer): void {
    const b = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let pos = 0;
    while (pos < b.length && !this.ended) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, b.length - pos);
        this.h.onData(b.subarray(pos, pos + n));
        this.dataLeft -= n;
        pos += n;
        if (this.dataLeft === 0 && this.dataEnds) this.end('stream ended');
        continue;
      }
      if (b.length - pos < 9) break;
      const len = b.readUIntBE(pos, 3);
      const type = b[pos + 3]!;
      const flags = b[pos + 4]!;
      const stream = b.readUInt32BE(pos + 5) & 0x7fffffff;
      if (type === Type.DATA && stream === STREAM && !(flags & PADDED)) {
        // Streamed: the payload goes on as it arrives, however the reads split it.
        pos += 9;
        this.dataLeft = len;
        this.dataEnds = (flags & END_STREAM) !== 0;
        if (len === 0 && this.dataEnds) this.end('stream ended');
        continue;
      }
      if (b.length - pos < 9 + len) break;
      this.control(type, flags, stream, b.subarray(pos + 9, pos + 9 + len));
      pos += 9 + len;
    }
    if (pos < b.length && !this.ended) this.pending = Buffer.from(b.subarray(pos));
  }

  private control(type: number, flags: number, stream: number, payload: Buffer): void {
    if (type === Type.DATA && stream === STREAM) {
      // PADDED: pad length byte, data, padding.
      const pad = payload[0] ?? 0;
      this.h.onData(payload.subarray(1, payload.length - pad));
      if (flags & END_STREAM) this.end('stream ended');
    } else if (type === Type.SETTINGS && !(flags & ACK)) {
      this.socket.write(frame(Type.SETTINGS, ACK, 0));
    } else if (type === Type.PING && !(flags & ACK)) {
      this.socket.write(frame(Type.PING, ACK, 0, Buffer.from(payload)));
    } else if ((type === Type.HEADERS || type === Type.CONTINUATION) && stream === STREAM && flags & END_STREAM) {
      this.end('stream ended (trailers)');
    } else if (type === Type.RST_STREAM && stream === STREAM) {
      this.end(`stream reset (code ${payload.length >= 4 ? payload.readUInt32BE(0) : -1})`);
    } else if (type === Type.GOAWAY) {
      this.end('GOAWAY');
    }
    // WINDOW_UPDATE, PRIORITY, response HEADERS: nothing to do.
  }
}
