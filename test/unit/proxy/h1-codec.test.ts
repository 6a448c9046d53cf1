import { describe, expect, it } from '@jest/globals';
import { ChunkedScanner, hasLineBreak, parseRequestHead, parseResponseHead, serializeHeaders } from '../../../src/proxy/h1/codec.js';

const LIMITS = { maxBytes: 8 * 1024, maxHeaders: 100 };
const req = (s: string) => parseRequestHead(Buffer.from(s, 'latin1'), LIMITS);
const res = (s: string, head = false) => parseResponseHead(Buffer.from(s, 'latin1'), LIMITS, head);

describe('request heads', () => {
  it('parses method, target, lower-cased headers and the bytes consumed', () => {
    const text = 'POST /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-Two: 1\r\nx-two: 2\r\nSet-Cookie: a\r\nContent-Length: 5\r\n\r\nhello';
    const r = req(text);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.head).toMatchObject({ method: 'POST', target: '/a?b=1', framing: { kind: 'length', length: 5 }, close: false });
    expect(r.head.headers).toEqual({ host: 'svc', 'x-two': '1, 2', 'set-cookie': ['a'], 'content-length': '5' });
    expect(r.consumed).toBe(text.length - 5);
  });

  it('trims optional whitespace, skips leading empty lines, sees connection: close', () => {
    const r = req('\r\nGET / HTTP/1.1\r\nhost:  svc \t\r\nConnection: Close\r\n\r\n');
    expect(r.kind === 'ok' && r.head.headers.host).toBe('svc');
    expect(r.kind === 'ok' && r.head.close).toBe(true);
    expect(r.kind === 'ok' && r.head.framing.kind).toBe('none');
  });

  it('asks for more bytes until the empty line', () => {
    expect(req('GET / HTTP/1.1\r\nhost: a\r\n').kind).toBe('need-more');
    expect(req('GET / HTT').kind).toBe('need-more');
  });

  it('chunked requests', () => {
    const r = req('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: Chunked\r\n\r\n');
    expect(r.kind === 'ok' && r.head.framing.kind).toBe('chunked');
  });

  // Each of these is a request smuggling or parser-confusion vector: 400, never forwarded.
  const bad: Array<[string, string]> = [
    ['CL + TE', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n'],
    ['TE + CL', 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n'],
    ['duplicate content-length', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n'],
    ['content-length list', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5, 5\r\n\r\n'],
    ['signed content-length', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: +5\r\n\r\n'],
    ['hex content-length', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0x5\r\n\r\n'],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, gzip\r\n\r\n'],
    ['TE identity', 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: identity\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n  folded\r\n\r\n'],
    ['obs-fold with tab', 'GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n\tfolded\r\n\r\n'],
    ['bare LF in a header', 'GET / HTTP/1.1\r\nhost: a\nx-a: 1\r\n\r\n'],
    ['bare LF ending the head', 'GET / HTTP/1.1\r\nhost: a\r\n\n'],
    ['bare LF request line', 'GET / HTTP/1.1\nhost: a\r\n\r\n'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r2\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\u00002\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nhost: a\r\ntransfer-encoding : chunked\r\n\r\n'],
    ['header without a colon', 'GET / HTTP/1.1\r\nhost: a\r\nnocolon\r\n\r\n'],
    ['bad header name', 'GET / HTTP/1.1\r\nhost: a\r\nx(a): 1\r\n\r\n'],
    ['malformed request line', 'GET /\r\nhost: a\r\n\r\n'],
    ['double space in the request line', 'GET  / HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['bad method', 'G@T / HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['bad version', 'GET / HTTP/2.0\r\nhost: a\r\n\r\n'],
    ['space in the target', 'GET /a b HTTP/1.1\r\nhost: a\r\n\r\n'],
    ['no host', 'GET / HTTP/1.1\r\nx-a: 1\r\n\r\n'],
    ['garbage', '\u0016\u0003\u0001garbage\r\n\r\n'],
  ];
  it.each(bad)('%s is rejected with 400', (_name, text) => {
    const r = req(text);
    expect(r).toMatchObject({ kind: 'error', status: 400 });
  });

  it('a head over the limit is 431, complete or not', () => {
    expect(req(`GET / HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(9000)}\r\n\r\n`)).toMatchObject({ kind: 'error', status: 431 });
    expect(req(`GET / HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(9000)}`)).toMatchObject({ kind: 'error', status: 431 });
  });

  it('more header lines than the limit allows is 431 before the head ends', () => {
    const many = Array.from({ length: 150 }, (_, i) => `x-${i}: 1\r\n`).join('');
    expect(req(`GET / HTTP/1.1\r\nhost: a\r\n${many}`)).toMatchObject({ kind: 'error', status: 431 });
  });

  // Valid, but left to node:http's path (its parser and semantics decide).
  const handedOff: Array<[string, string]> = [
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nhost: a\r\n\r\n'],
    ['Upgrade', 'GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'],
    ['Expect', 'POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 1\r\n\r\n'],
    ['gzip, chunked', 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\n\r\n'],
  ];
  it.each(handedOff)('%s is handed to node:http', (_name, text) => {
    expect(req(text).kind).toBe('unsupported');
  });
});

describe('response heads', () => {
  it('length, chunked, until-close, and no body for HEAD, 204 and 304', () => {
    expect(res('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc')).toMatchObject({ kind: 'ok', head: { status: 200, framing: { kind: 'length', length: 3 } } });
    expect(res('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')).toMatchObject({ kind: 'ok', head: { framing: { kind: 'chunked' } } });
    expect(res('HTTP/1.1 200 OK\r\n\r\n')).toMatchObject({ kind: 'ok', head: { framing: { kind: 'until-close' }, close: true } });
    expect(res('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n', true)).toMatchObject({ kind: 'ok', head: { framing: { kind: 'none' } } });
    expect(res('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ kind: 'ok', head: { framing: { kind: 'none' } } });
    expect(res('HTTP/1.1 304 Not Modified\r\n\r\n')).toMatchObject({ kind: 'ok', head: { framing: { kind: 'none' } } });
    expect(res('HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n')).toMatchObject({ kind: 'ok', head: { status: 200 } });
  });

  it('interim 1xx heads come back as such; 101 is not expected', () => {
    expect(res('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n')).toMatchObject({ kind: 'ok', head: { status: 103 } });
    expect(res('HTTP/1.1 101 Switching Protocols\r\n\r\n').kind).toBe('unsupported');
  });

  it('HTTP/1.0 responses close unless kept alive', () => {
    expect(res('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n')).toMatchObject({ kind: 'ok', head: { close: true } });
    expect(res('HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n')).toMatchObject({ kind: 'ok', head: { close: false } });
  });

  it('rejects malformed status lines and smuggling framing', () => {
    for (const t of [
      'HTTP/1.1 2000 OK\r\n\r\n', 'HTTP/1.1 20 OK\r\n\r\n', 'HTTX/1.1 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\nx: 1\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n',
    ]) expect(res(t).kind).toBe('error');
  });
});

describe('chunked bodies', () => {
  const feedAll = (s: string, split = 1) => {
    const c = new ChunkedScanner();
    const b = Buffer.from(s, 'latin1');
    let used = 0;
    for (let i = 0; i < b.length && !c.done; i += split) {
      const r = c.feed(b.subarray(i, Math.min(b.length, i + split)));
      if ('error' in r) return { error: r.error, payload: c.payload };
      used += r.used;
    }
    return { used, done: c.done, payload: c.payload };
  };

  it('counts payload bytes and stops at the end, whatever the chunking of the input', () => {
    const body = '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n';
    for (const split of [1, 2, 3, 7, 1000]) {
      expect(feedAll(`${body}GET / HTTP/1.1\r\n`, split)).toEqual({ used: body.length, done: true, payload: 11 });
    }
  });

  it('accepts trailers and upper-case hex', () => {
    expect(feedAll('A\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n')).toMatchObject({ done: true, payload: 10 });
  });

  it('reports how much of one buffer belongs to the body', () => {
    const c = new ChunkedScanner();
    const r = c.feed(Buffer.from('3\r\nabc\r\n0\r\n\r\nNEXT'));
    expect(r).toEqual({ used: 13, done: true });
  });

  const bad: Array<[string, string]> = [
    ['no size', '\r\nabc\r\n'],
    ['non-hex size', 'g\r\nabc\r\n'],
    ['negative size', '-1\r\na\r\n'],
    ['space before size', ' 3\r\nabc\r\n'],
    ['space after size', '3 \r\nabc\r\n'],
    ['overlong size', '1000000000000\r\n'],
    ['bare LF after size', '3\nabc\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['bare LF after data', '3\r\nabc\n0\r\n\r\n'],
    ['obs-fold trailer', '0\r\nx: 1\r\n folded\r\n\r\n'],
    ['bare LF in trailer', '0\r\nx: 1\n\r\n'],
    ['bare CR at the end', '0\r\n\rX'],
    ['control byte in extension', '3;\u0001\r\nabc\r\n'],
  ];
  it.each(bad)('%s is a framing error', (_name, text) => {
    expect(feedAll(text, 1000)).toHaveProperty('error');
  });
});

describe('serialising', () => {
  it('writes one line per value and skips undefined', () => {
    expect(serializeHeaders({ a: '1', b: ['2', '3'], c: undefined, d: 4 })).toBe('a: 1\r\nb: 2\r\nb: 3\r\nd: 4\r\n');
  });
  it('finds line breaks that would split a serialised head', () => {
    expect(hasLineBreak({ a: 'x\r\ny: 1' })).toBe(true);
    expect(hasLineBreak({ a: ['ok', 'x\ny'] })).toBe(true);
    expect(hasLineBreak({ a: 'fine', b: ['also'] })).toBe(false);
  });
});
