// A small RFC 1035 wire codec: just enough to read a query's question (and its EDNS OPT
// record) and to build answers of A and AAAA records. Bad packets throw a WEFT_E_INVALID_INPUT
// naming what is wrong; nothing here does I/O.
import { isIP } from 'node:net';
import { invalidInput } from '../../errors/errors.js';

export const RR_TYPE = Object.freeze({ A: 1, CNAME: 5, AAAA: 28, OPT: 41 });
export const RR_CLASS_IN = 1;
export const RCODE = Object.freeze({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 });

export const HEADER_LENGTH = 12;
/** Largest UDP response to a client that did not send EDNS (RFC 1035 4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
/** What we advertise and the most we send over UDP with EDNS (the DNS flag day value). */
export const EDNS_UDP_LIMIT = 1232;
const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;

export interface DnsQuestion {
  /** As sent (case kept), without the trailing dot; "" is the root. */
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  question: DnsQuestion;
  /** The client's EDNS UDP payload size; undefined when it sent no OPT record. */
  ednsUdpSize?: number;
}

export interface DnsAnswer {
  type: number;
  ttl: number;
  /** An IPv4 address for A, an IPv6 address for AAAA. */
  address: string;
}

export interface DnsResponseSpec {
  rcode: number;
  answers: readonly DnsAnswer[];
  authoritative: boolean;
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it. */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1; // where the caller continues: after the first pointer, or after the final 0
  let length = 0;
  // Pointers must go strictly backwards, so every jump lowers `limit`: no loops possible.
  let limit = offset;
  for (;;) {
    if (pos >= buf.length) throw invalidInput('DNS name runs past the end of the packet', { offset: pos });
    const len = buf[pos]!;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw invalidInput('DNS compression pointer is truncated', { offset: pos });
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= limit) throw invalidInput('DNS compression pointer does not point backwards', { offset: pos, target });
      if (target < HEADER_LENGTH) throw invalidInput('DNS compression pointer points into the header', { offset: pos, target });
      if (next < 0) next = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    // 0x40/0x80 are reserved label types; with them gone a label is at most 63 bytes long.
    if (kind !== 0) throw invalidInput('DNS label type is reserved', { offset: pos, byte: len });
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) throw invalidInput('DNS label runs past the end of the packet', { offset: pos });
    length += len + 1;
    if (length + 1 > MAX_NAME_LENGTH) throw invalidInput('DNS name is longer than 255 bytes', { offset });
    const label = buf.toString('latin1', pos + 1, pos + 1 + len);
    // A dot inside a label cannot be told apart from a label boundary once joined.
    if (label.includes('.')) throw invalidInput('DNS label contains a dot', { offset: pos });
    labels.push(label);
    pos += 1 + len;
    if (next < 0) limit = pos; // uncompressed so far: a later pointer may target these labels
  }
  return { name: labels.join('.'), next };
}

/** Encodes a name uncompressed. Labels containing dots are not supported (we never make them). */
export function writeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed !== '') {
    for (const label of trimmed.split('.')) {
      const bytes = Buffer.from(label, 'latin1');
      if (bytes.length === 0 || bytes.length > MAX_LABEL_LENGTH) throw invalidInput('DNS label length must be 1..63', { name });
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME_LENGTH) throw invalidInput('DNS name is longer than 255 bytes', { name });
  return out;
}

/** Skips one resource record at `offset`; returns its type, class field, and the next offset. */
function readRecordHeader(buf: Buffer, offset: number): { type: number; klass: number; ttl: number; rdata: number; rdlength: number; next: number; name: string } {
  const { name, next } = readName(buf, offset);
  if (next + 10 > buf.length) throw invalidInput('DNS resource record header is truncated', { offset: next });
  const type = buf.readUInt16BE(next);
  const klass = buf.readUInt16BE(next + 2);
  const ttl = buf.readUInt32BE(next + 4);
  const rdlength = buf.readUInt16BE(next + 8);
  const rdata = next + 10;
  if (rdata + rdlength > buf.length) throw invalidInput('DNS resource record data is truncated', { offset: rdata });
  return { type, klass, ttl, rdata, rdlength, next: rdata + rdlength, name };
}

/**
 * Parses a query: exactly one question (what every stub resolver sends), answer and
 * authority sections empty, the additional section at most one OPT record.
 */
export function parseQuery(buf: Buffer): DnsQuery {
  if (buf.length < HEADER_LENGTH) throw invalidInput('DNS packet is shorter than its 12-byte header', { length: buf.length });
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG_QR) throw invalidInput('DNS packet is a response, not a query', { id });
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (qdcount !== 1) throw invalidInput('DNS query must have exactly one question', { id, qdcount });
  if (ancount !== 0 || nscount !== 0) throw invalidInput('DNS query carries answer or authority records', { id, ancount, nscount });
  const { name, next } = readName(buf, HEADER_LENGTH);
  if (next + 4 > buf.length) throw invalidInput('DNS question is truncated', { id });
  const question: DnsQuestion = { name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) };
  let pos = next + 4;
  let ednsUdpSize: number | undefined;
  for (let i = 0; i < arcount; i++) {
    const rr = readRecordHeader(buf, pos);
    if (rr.type === RR_TYPE.OPT) {
      if (ednsUdpSize !== undefined) throw invalidInput('DNS query has more than one OPT record', { id });
      if (rr.name !== '') throw invalidInput('DNS OPT record must be owned by the root name', { id });
      ednsUdpSize = Math.max(CLASSIC_UDP_LIMIT, rr.klass); // RFC 6891: values below 512 mean 512
    }
    pos = rr.next;
  }
  if (pos !== buf.length) throw invalidInput('DNS packet has trailing bytes', { id, extra: buf.length - pos });
  return {
    id,
    opcode: (flags >> 11) & 0x0f,
    recursionDesired: (flags & FLAG_RD) !== 0,
    question,
    ...(ednsUdpSize !== undefined ? { ednsUdpSize } : {}),
  };
}

function rdataOf(a: DnsAnswer): Buffer {
  const family = isIP(a.address);
  if (a.type === RR_TYPE.A && family === 4) return Buffer.from(a.address.split('.').map(Number));
  if (a.type === RR_TYPE.AAAA && family === 6) return ipv6Bytes(a.address);
  throw invalidInput('DNS answer address does not match its record type', { type: a.type, address: a.address });
}

/** 16 bytes of an IPv6 address (handles :: and an embedded IPv4 tail); input must pass isIP. */
export function ipv6Bytes(address: string): Buffer {
  let text = address;
  const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = [v4[2], v4[3], v4[4], v4[5]].map(Number) as [number, number, number, number];
    text = `${v4[1]!}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const toGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const halves = text.split('::');
  const head = toGroups(halves[0] ?? '');
  const tail = halves.length > 1 ? toGroups(halves[1] ?? '') : [];
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function header(id: number, flags: number, qd: number, an: number, ar: number): Buffer {
  const h = Buffer.alloc(HEADER_LENGTH);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(0, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function optRecord(): Buffer {
  const rr = Buffer.alloc(11);
  rr[0] = 0; // root owner
  rr.writeUInt16BE(RR_TYPE.OPT, 1);
  rr.writeUInt16BE(EDNS_UDP_LIMIT, 3);
  // extended rcode, version, flags, rdlength: all zero
  return rr;
}

/**
 * Builds the response to `q`. `maxSize` is the transport's limit (UDP: 512 or the EDNS size;
 * TCP: 65535): when the answers do not fit they are dropped and TC is set, so the client
 * retries over TCP.
 */
export function buildResponse(q: DnsQuery, spec: DnsResponseSpec, maxSize: number): Buffer {
  const question = Buffer.concat([writeName(q.question.name), u16(q.question.type), u16(q.question.class)]);
  const answers = spec.answers.map((a) => {
    const rdata = rdataOf(a);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc000 | HEADER_LENGTH, 0); // pointer to the question's name
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(RR_CLASS_IN, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  const opt = q.ednsUdpSize !== undefined ? [optRecord()] : [];
  let flags = FLAG_QR | (q.opcode << 11) | FLAG_RA | (spec.rcode & 0x0f);
  if (spec.authoritative) flags |= FLAG_AA;
  if (q.recursionDesired) flags |= FLAG_RD;
  const full = Buffer.concat([header(q.id, flags, 1, answers.length, opt.length), question, ...answers, ...opt]);
  if (full.length <= maxSize) return full;
  return Buffer.concat([header(q.id, flags | FLAG_TC, 1, 0, opt.length), question, ...opt]);
}

/** A bare error response when only the header could be read (FORMERR, SERVFAIL, ...). */
export function buildErrorFor(q: DnsQuery, rcode: number): Buffer {
  return buildResponse(q, { rcode, answers: [], authoritative: false }, Number.MAX_SAFE_INTEGER);
}

/** Header fields of a response, for the forwarder's sanity check. */
export function responseHeader(buf: Buffer): { id: number; isResponse: boolean; truncated: boolean; rcode: number } | undefined {
  if (buf.length < HEADER_LENGTH) return undefined;
  const flags = buf.readUInt16BE(2);
  return { id: buf.readUInt16BE(0), isResponse: (flags & FLAG_QR) !== 0, truncated: (flags & FLAG_TC) !== 0, rcode: flags & 0x0f };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** Builds a query packet (tests and tools): one question, optional EDNS. */
export function buildQuery(id: number, name: string, type: number, opts: { edns?: number; recursionDesired?: boolean } = {}): Buffer {
  const flags = opts.recursionDesired === false ? 0 : FLAG_RD;
  const opt = opts.edns !== undefined ? (() => { const o = optRecord(); o.writeUInt16BE(opts.edns, 3); return [o]; })() : [];
  return Buffer.concat([header(id, flags, 1, 0, opt.length), writeName(name), u16(type), u16(RR_CLASS_IN), ...opt]);
}
