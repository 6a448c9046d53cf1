// A minimal DER writer and reader for the CA's hot path: the leaf certificate has a fixed
// shape, so it is encoded directly rather than through a general ASN.1 schema library
// (which costs milliseconds per certificate). Only definite lengths, as DER requires.

export const TAG = Object.freeze({
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
});

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export function seq(...parts: Uint8Array[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(parts));
}

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function uint(bytes: Uint8Array): Buffer {
  let b = Buffer.from(bytes);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(TAG.INTEGER, b);
}

export function smallInt(n: number): Buffer {
  return uint(Buffer.from([n]));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

export function bool(v: boolean): Buffer {
  return Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);
}

export function octets(b: Uint8Array): Buffer {
  return tlv(TAG.OCTET_STRING, b);
}

export function bitString(b: Uint8Array, unusedBits = 0): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), b]));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. Second resolution. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = d.getUTCFullYear();
  return year < 2050 ? tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

/** Context-specific tag [n]; constructed for EXPLICIT wrappers, primitive for IMPLICIT strings. */
export function ctx(n: number, content: Uint8Array, constructed: boolean): Buffer {
  return tlv((constructed ? 0xa0 : 0x80) | n, content);
}

/** An X.509 Extension: OID, the critical flag when set, and the DER value in an OCTET STRING. */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

export function toPem(derBytes: Buffer, label = 'CERTIFICATE'): string {
  const b64 = derBytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---- reader -----------------------------------------------------------------------

export interface Node {
  readonly tag: number;
  /** Offset of the tag byte within the buffer. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  readonly end: number;
  readonly buf: Buffer;
}

export class DerError extends Error {}

export function read(buf: Buffer, at = 0, limit = buf.length): Node {
  if (at + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (p + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError('DER element runs past its container');
  return { tag, start: at, contentStart: p, end: p + len, buf };
}

export function children(n: Node): Node[] {
  const out: Node[] = [];
  for (let p = n.contentStart; p < n.end; ) {
    const c = read(n.buf, p, n.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function raw(n: Node): Buffer {
  return n.buf.subarray(n.start, n.end);
}

export function content(n: Node): Buffer {
  return n.buf.subarray(n.contentStart, n.end);
}

export function expect(n: Node | undefined, tag: number, what: string): Node {
  if (!n || n.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found ${n ? `0x${n.tag.toString(16)}` : 'nothing'}`);
  return n;
}

export function readOid(n: Node): string {
  const b = content(expect(n, TAG.OID, 'OID'));
  if (b.length === 0) throw new DerError('empty OID');
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}
