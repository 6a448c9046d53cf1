// Protocol detection from a connection's first bytes: TLS ClientHello (with SNI and ALPN),
// HTTP/2 prior knowledge (h2c preface), HTTP/1.x request line, or unknown (plain TCP).
// Pure; the caller feeds accumulated bytes and applies the timeout.

export type Detected =
  | { kind: 'tls'; sni?: string; alpn: string[] }
  | { kind: 'h2c' }
  | { kind: 'http1' }
  | { kind: 'tcp' }
  | { kind: 'need-more' };

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
/** Largest prefix we wait for before giving up on a decision (a ClientHello fits in 16 KiB). */
export const MAX_DETECT_BYTES = 16 * 1024 + 5;

export function detectProtocol(buf: Buffer): Detected {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] === 0x16) return detectTls(buf);
  // h2c preface vs an HTTP/1 method: compare against both while the prefix is ambiguous.
  const pre = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, pre).equals(H2_PREFACE.subarray(0, pre))) {
    return pre === H2_PREFACE.length ? { kind: 'h2c' } : { kind: 'need-more' };
  }
  const space = buf.indexOf(0x20);
  const head = buf.toString('latin1', 0, Math.min(buf.length, 9));
  if (space < 0) {
    return METHODS.some((m) => m.startsWith(head)) && buf.length < 9 ? { kind: 'need-more' } : { kind: 'tcp' };
  }
  return METHODS.includes(buf.toString('latin1', 0, space)) ? { kind: 'http1' } : { kind: 'tcp' };
}

function detectTls(buf: Buffer): Detected {
  if (buf.length < 5) return { kind: 'need-more' };
  if (buf[1] !== 0x03) return { kind: 'tcp' };
  const recLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recLen) return buf.length >= MAX_DETECT_BYTES ? { kind: 'tls', alpn: [] } : { kind: 'need-more' };
  try {
    return { kind: 'tls', ...parseClientHello(buf.subarray(5, 5 + recLen)) };
  } catch {
    return { kind: 'tls', alpn: [] }; // malformed hello: let the TLS stack reject it properly
  }
}

/** SNI and ALPN from a ClientHello handshake message. Throws RangeError on truncation. */
export function parseClientHello(h: Buffer): { sni?: string; alpn: string[] } {
  if (h[0] !== 0x01) throw new RangeError('not a ClientHello');
  let p = 4 + 2 + 32; // handshake header, client_version, random
  p += 1 + h.readUInt8(p); // session id
  p += 2 + h.readUInt16BE(p); // cipher suites
  p += 1 + h.readUInt8(p); // compression methods
  const out: { sni?: string; alpn: string[] } = { alpn: [] };
  if (p >= h.length) return out;
  const extEnd = p + 2 + h.readUInt16BE(p);
  p += 2;
  while (p + 4 <= extEnd && p + 4 <= h.length) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    const body = h.subarray(p + 4, p + 4 + len);
    if (type === 0 && body.length >= 5 && body[2] === 0) {
      const nameLen = body.readUInt16BE(3);
      out.sni = body.toString('latin1', 5, 5 + nameLen).toLowerCase();
    } else if (type === 16 && body.length >= 2) {
      let q = 2;
      while (q < body.length) {
        const l = body.readUInt8(q);
        out.alpn.push(body.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p += 4 + len;
  }
  return out;
}
