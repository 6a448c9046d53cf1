// HTTP/1.1 message heads and body framing for the raw fast path. Pure and strict: anything a
// smuggling attack relies on (CL+TE, duplicate or non-numeric Content-Length, bad chunk sizes,
// obs-fold, bare CR/LF, space before the colon) is an error; valid requests this path does not
// take on (HTTP/1.0, Upgrade, Expect, CONNECT, transfer codings besides chunked) are
// "unsupported" and go to node:http. More header lines than the limit is 431, as Envoy's
// max_headers_count (node:http would drop the extra ones silently).

/** Lower-case header name -> value; repeated headers joined with ', ' (set-cookie kept as a list). */
export type Headers = Record<string, string | string[]>;

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'until-close' };

export interface RequestHead {
  method: string;
  target: string;
  headers: Headers;
  framing: BodyFraming;
  /** Connection: close was asked for. */
  close: boolean;
}

export interface ResponseHead {
  status: number;
  headers: Headers;
  framing: BodyFraming;
  close: boolean;
}

export interface HeadLimits { maxBytes: number; maxHeaders: number }

export type ParseResult<T> =
  | { kind: 'need-more' }
  | { kind: 'ok'; head: T; consumed: number }
  | { kind: 'error'; status: 400 | 431; reason: string }
  | { kind: 'unsupported'; reason: string };

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58;

// RFC 9110 tchar.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isToken(buf: Buffer, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (TCHAR[buf[i]!] !== 1) return false;
  return true;
}

/** Field value bytes: visible ASCII, obs-text, SP and HTAB; no other control characters. */
function isFieldValue(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if ((c < 0x20 && c !== HT) || c === 0x7f) return false;
  }
  return true;
}

type Lines = { kind: 'lines'; start: number; ends: number[]; consumed: number } | { kind: 'need-more' } | { kind: 'error'; status: 400 | 431; reason: string };

/**
 * Splits a head into CRLF-terminated lines up to the empty line. Leading empty lines before a
 * request line are skipped (RFC 9112 2.2). Bare LF is an error, as is a head over the limit.
 */
function splitLines(buf: Buffer, limits: HeadLimits, skipLeadingCrlf: boolean): Lines {
  let start = 0;
  if (skipLeadingCrlf) {
    while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF && start < 8) start += 2;
  }
  const ends: number[] = [];
  let pos = start;
  for (;;) {
    const nl = buf.indexOf(LF, pos);
    if (nl < 0) {
      if (buf.length - start > limits.maxBytes) return { kind: 'error', status: 431, reason: 'head too large' };
      return { kind: 'need-more' };
    }
    if (nl - start > limits.maxBytes) return { kind: 'error', status: 431, reason: 'head too large' };
    if (nl === pos || buf[nl - 1] !== CR) return { kind: 'error', status: 400, reason: 'bare LF' };
    const end = nl - 1;
    if (end === pos) return { kind: 'lines', start, ends, consumed: nl + 1 };
    ends.push(end);
    if (ends.length > limits.maxHeaders + 1) return { kind: 'error', status: 431, reason: 'too many headers' };
    pos = nl + 1;
  }
}

interface FieldScan { headers: Headers; error?: string; count: number }

/** Header lines into an object; `from` is the index of the first header line in `ends`. */
function scanFields(buf: Buffer, lines: { start: number; ends: number[] }, firstLineEnd: number): FieldScan {
  const headers: Headers = {};
  let pos = firstLineEnd + 2;
  let count = 0;
  for (let li = 1; li < lines.ends.length; li++) {
    const end = lines.ends[li]!;
    const first = buf[pos];
    if (first === SP || first === HT) return { headers, count, error: 'obs-fold' };
    const colon = buf.indexOf(COLON, pos);
    if (colon < 0 || colon > end) return { headers, count, error: 'header without colon' };
    if (!isToken(buf, pos, colon)) return { headers, count, error: 'bad header name' };
    let vs = colon + 1, ve = end;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HT)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    if (!isFieldValue(buf, vs, ve)) return { headers, count, error: 'bad header value' };
    const name = buf.toString('latin1', pos, colon).toLowerCase();
    const value = buf.toString('latin1', vs, ve);
    const prev = headers[name];
    if (prev === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = name === 'content-length' || name === 'transfer-encoding' ? [prev, value] : `${prev}, ${value}`;
    count++;
    pos = end + 2;
  }
  return { headers, count };
}

type Framing = { framing: BodyFraming } | { error: string } | { unsupported: string };

/** Content-Length / Transfer-Encoding into a framing decision (RFC 9112 6.3), strictly. */
function framingOf(h: Headers, request: boolean): Framing {
  const cl = h['content-length'];
  const te = h['transfer-encoding'];
  if (cl !== undefined && te !== undefined) return { error: 'content-length with transfer-encoding' };
  if (Array.isArray(cl)) return { error: 'duplicate content-length' };
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl)) return { error: 'bad content-length' };
    const length = Number(cl);
    return { framing: length === 0 && request ? { kind: 'none' } : { kind: 'length', length } };
  }
  if (te !== undefined) {
    if (Array.isArray(te)) return { unsupported: 'several transfer-encoding headers' };
    const codings = te.toLowerCase().split(',').map((s) => s.trim());
    if (codings[codings.length - 1] !== 'chunked') return request ? { error: 'transfer-encoding not ending in chunked' } : { unsupported: 'transfer-encoding without chunked' };
    if (codings.length > 1) return { unsupported: 'transfer codings besides chunked' };
    return { framing: { kind: 'chunked' } };
  }
  return { framing: request ? { kind: 'none' } : { kind: 'until-close' } };
}

function wantsClose(h: Headers): boolean {
  const c = h.connection;
  if (c === undefined) return false;
  const v = (Array.isArray(c) ? c.join(',') : c).toLowerCase();
  return v.includes('close');
}

/** One request head from the start of `buf`. */
export function parseRequestHead(buf: Buffer, limits: HeadLimits): ParseResult<RequestHead> {
  const lines = splitLines(buf, limits, true);
  if (lines.kind !== 'lines') return lines;
  if (lines.ends.length === 0) return { kind: 'error', status: 400, reason: 'empty request line' };
  const s = lines.start, e = lines.ends[0]!;
  const sp1 = buf.indexOf(SP, s);
  const sp2 = sp1 < 0 ? -1 : buf.indexOf(SP, sp1 + 1);
  if (sp1 < 0 || sp2 < 0 || sp2 > e || !isToken(buf, s, sp1)) return { kind: 'error', status: 400, reason: 'bad request line' };
  for (let i = sp1 + 1; i < sp2; i++) { const c = buf[i]!; if (c <= SP || c === 0x7f) return { kind: 'error', status: 400, reason: 'bad request target' }; }
  if (sp2 === sp1 + 1) return { kind: 'error', status: 400, reason: 'empty request target' };
  const version = buf.toString('latin1', sp2 + 1, e);
  if (version !== 'HTTP/1.1') {
    return version === 'HTTP/1.0' ? { kind: 'unsupported', reason: 'HTTP/1.0' } : { kind: 'error', status: 400, reason: 'bad HTTP version' };
  }
  const f = scanFields(buf, lines, e);
  if (f.error) return { kind: 'error', status: 400, reason: f.error };
  const h = f.headers;
  if (typeof h.host !== 'string') return h.host === undefined ? { kind: 'error', status: 400, reason: 'no host header' } : { kind: 'error', status: 400, reason: 'several host headers' };
  const framing = framingOf(h, true);
  if ('error' in framing) return { kind: 'error', status: 400, reason: framing.error };
  if ('unsupported' in framing) return { kind: 'unsupported', reason: framing.unsupported };
  if (h.upgrade !== undefined || h.expect !== undefined) return { kind: 'unsupported', reason: 'upgrade or expect' };
  const method = buf.toString('latin1', s, sp1);
  if (method === 'CONNECT') return { kind: 'unsupported', reason: 'CONNECT' };
  return { kind: 'ok', head: { method, target: buf.toString('latin1', sp1 + 1, sp2), headers: h, framing: framing.framing, close: wantsClose(h) }, consumed: lines.consumed };
}

/**
 * One response head. Interim 1xx responses are reported as `status` < 200 with framing none;
 * the caller skips them (the full path does not forward them either). `noBody`: the request
 * was HEAD, so no body follows whatever the headers say.
 */
export function parseResponseHead(buf: Buffer, limits: HeadLimits, noBody: boolean): ParseResult<ResponseHead> {
  const lines = splitLines(buf, limits, false);
  if (lines.kind !== 'lines') return lines;
  if (lines.ends.length === 0) return { kind: 'error', status: 400, reason: 'empty status line' };
  const e = lines.ends[0]!;
  // "HTTP/1.1 200 OK": version, SP, three digits, then SP reason or the end of the line.
  if (e < 12 || buf.toString('latin1', 0, 7) !== 'HTTP/1.' || (buf[7] !== 0x31 && buf[7] !== 0x30) || buf[8] !== SP || (e > 12 && buf[12] !== SP)) {
    return { kind: 'error', status: 400, reason: 'bad status line' };
  }
  let status = 0;
  for (let i = 9; i < 12; i++) { const d = buf[i]! - 0x30; if (d < 0 || d > 9) return { kind: 'error', status: 400, reason: 'bad status code' }; status = status * 10 + d; }
  if (status < 100) return { kind: 'error', status: 400, reason: 'bad status code' };
  const f = scanFields(buf, lines, e);
  if (f.error) return { kind: 'error', status: 400, reason: f.error };
  if (f.count > limits.maxHeaders) return { kind: 'error', status: 400, reason: 'too many headers' };
  const h = f.headers;
  const http10 = buf[7] === 0x30;
  if (status < 200) {
    if (status === 101) return { kind: 'unsupported', reason: '101 without an upgrade request' };
    return { kind: 'ok', head: { status, headers: h, framing: { kind: 'none' }, close: false }, consumed: lines.consumed };
  }
  let framing: BodyFraming;
  if (noBody || status === 204 || status === 304) framing = { kind: 'none' };
  else {
    const fr = framingOf(h, false);
    if ('error' in fr) return { kind: 'error', status: 400, reason: fr.error };
    if ('unsupported' in fr) return { kind: 'unsupported', reason: fr.unsupported };
    framing = fr.framing;
  }
  const close = http10 ? !/keep-alive/i.test(String(h.connection ?? '')) : wantsClose(h);
  return { kind: 'ok', head: { status, headers: h, framing, close: close || framing.kind === 'until-close' }, consumed: lines.consumed };
}

/**
 * Incremental chunked-body validator: feeds raw bytes, reports how many of them belong to the
 * body (the rest is the next message), how many payload bytes they carried, and when the body
 * ended. The raw bytes are forwarded as they are; a framing error stops the stream.
 */
export class ChunkedScanner {
  private state: 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer' | 'trailer-lf' | 'end-lf' | 'done' = 'size';
  private size = 0;
  private sizeDigits = 0;
  private left = 0;
  private trailerBytes = 0;
  /** Decoded payload bytes seen so far. */
  payload = 0;

  get done(): boolean { return this.state === 'done'; }

  /** Bytes of `buf` (from `from`) that belong to this body, or an error. */
  feed(buf: Buffer, from = 0): { used: number; done: boolean } | { error: string } {
    let i = from;
    const n = buf.length;
    while (i < n && this.state !== 'done') {
      const c = buf[i]!;
      switch (this.state) {
        case 'size': {
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.sizeDigits > 12) return { error: 'chunk size too large' };
            this.size = this.size * 16 + d;
            i++;
          } else if (this.sizeDigits === 0) return { error: 'bad chunk size' };
          else if (c === CR) { this.state = 'size-lf'; i++; }
          else if (c === 0x3b /* ; */) { this.state = 'ext'; i++; }
          else return { error: 'bad chunk size' };
          break;
        }
        case 'ext':
          // Chunk extensions: anything printable up to CR (Envoy and llhttp ignore them too).
          if (c === CR) this.state = 'size-lf';
          else if ((c < 0x20 && c !== HT) || c === 0x7f) return { error: 'bad chunk extension' };
          i++;
          break;
        case 'size-lf':
          if (c !== LF) return { error: 'bare CR in chunk size line' };
          i++;
          if (this.size === 0) { this.state = 'trailer-start'; } else { this.left = this.size; this.state = 'data'; }
          this.size = 0; this.sizeDigits = 0;
          break;
        case 'data': {
          const take = Math.min(this.left, n - i);
          this.left -= take; this.payload += take; i += take;
          if (this.left === 0) this.state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (c !== CR) return { error: 'chunk data longer than its size' };
          this.state = 'data-lf'; i++;
          break;
        case 'data-lf':
          if (c !== LF) return { error: 'bare CR after chunk data' };
          this.state = 'size'; i++;
          break;
        case 'trailer-start':
          if (c === CR) { this.state = 'end-lf'; i++; break; }
          if (c === SP || c === HT) return { error: 'obs-fold in trailer' };
          this.state = 'trailer';
          break;
        case 'trailer':
          if (c === CR) this.state = 'trailer-lf';
          else if (c === LF || (c < 0x20 && c !== HT) || c === 0x7f) return { error: 'bad trailer' };
          if (++this.trailerBytes > 16 * 1024) return { error: 'trailers too large' };
          i++;
          break;
        case 'trailer-lf':
          if (c !== LF) return { error: 'bare CR in trailer' };
          this.state = 'trailer-start'; i++;
          break;
        case 'end-lf':
          if (c !== LF) return { error: 'bare CR at the end of the body' };
          this.state = 'done'; i++;
          break;
      }
    }
    return { used: i - from, done: this.state === 'done' };
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Header object into wire lines ("name: value\r\n" each), skipping undefined values. */
export function serializeHeaders(h: Record<string, string | string[] | number | undefined>): string {
  let out = '';
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) { for (const one of v) out += `${k}: ${one}\r\n`; } else out += `${k}: ${v}\r\n`;
  }
  return out;
}

/** Header values must not smuggle a line break into the serialised head. */
export function hasLineBreak(h: Record<string, string | string[] | number | undefined>): boolean {
  for (const k in h) {
    const v = h[k];
    if (typeof v === 'string') { if (v.includes('\n') || v.includes('\r')) return true; } else if (Array.isArray(v)) {
      for (const one of v) if (one.includes('\n') || one.includes('\r')) return true;
    }
  }
  return false;
}
