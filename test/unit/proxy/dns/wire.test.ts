import { describe, expect, it } from '@jest/globals';
import {
  buildErrorFor, buildQuery, buildResponse, CLASSIC_UDP_LIMIT, ipv6Bytes, parseQuery, RCODE, readName, responseHeader, RR_TYPE, writeName,
} from '../../../../src/proxy/dns/wire.js';

/** Walks the answer section of a response: the records' types and addresses. */
function answersOf(buf: Buffer): { type: number; ttl: number; data: Buffer }[] {
  const an = buf.readUInt16BE(6);
  let pos = readName(buf, 12).next + 4;
  const out: { type: number; ttl: number; data: Buffer }[] = [];
  for (let i = 0; i < an; i++) {
    pos = readName(buf, pos).next;
    const type = buf.readUInt16BE(pos);
    const ttl = buf.readUInt32BE(pos + 4);
    const len = buf.readUInt16BE(pos + 8);
    out.push({ type, ttl, data: buf.subarray(pos + 10, pos + 10 + len) });
    pos += 10 + len;
  }
  return out;
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => h.writeUInt16BE(v, i * 2));
  return h;
}

describe('DNS wire codec', () => {
  it('round-trips a query: id, name (case kept), type, RD, EDNS size', () => {
    const q = parseQuery(buildQuery(0xbeef, 'Reviews.default.svc.cluster.local', RR_TYPE.AAAA, { edns: 4096 }));
    expect(q).toEqual({ id: 0xbeef, opcode: 0, recursionDesired: true, question: { name: 'Reviews.default.svc.cluster.local', type: RR_TYPE.AAAA, class: 1 }, ednsUdpSize: 4096 });
    expect(parseQuery(buildQuery(1, 'a.b.', RR_TYPE.A)).ednsUdpSize).toBeUndefined();
    expect(parseQuery(buildQuery(1, 'x', RR_TYPE.A, { edns: 100 })).ednsUdpSize).toBe(512);
  });

  it('builds A and AAAA answers pointing back at the question, with TTL and AA', () => {
    const q = parseQuery(buildQuery(7, 'reviews', RR_TYPE.A));
    const r = buildResponse(q, { rcode: RCODE.NOERROR, answers: [{ type: RR_TYPE.A, ttl: 30, address: '10.96.0.11' }], authoritative: true }, 512);
    expect(responseHeader(r)).toEqual({ id: 7, isResponse: true, truncated: false, rcode: 0 });
    expect(r.readUInt16BE(2) & 0x0400).toBe(0x0400);
    const [a] = answersOf(r);
    expect(a).toEqual({ type: RR_TYPE.A, ttl: 30, data: Buffer.from([10, 96, 0, 11]) });
    const q6 = parseQuery(buildQuery(8, 'reviews', RR_TYPE.AAAA));
    const r6 = buildResponse(q6, { rcode: 0, answers: [{ type: RR_TYPE.AAAA, ttl: 30, address: 'fd00::11' }], authoritative: true }, 512);
    expect(answersOf(r6)[0]!.data).toEqual(Buffer.from('fd000000000000000000000000000011', 'hex'));
  });

  it('encodes IPv6 forms: ::, full, embedded IPv4', () => {
    expect(ipv6Bytes('::').toString('hex')).toBe('0'.repeat(32));
    expect(ipv6Bytes('::1').toString('hex')).toBe(`${'0'.repeat(31)}1`);
    expect(ipv6Bytes('2001:db8:1:2:3:4:5:6').toString('hex')).toBe('20010db8000100020003000400050006');
    expect(ipv6Bytes('::ffff:10.1.2.3').toString('hex')).toBe('00000000000000000000ffff0a010203');
  });

  it('NXDOMAIN and NODATA differ only in rcode, neither has answers', () => {
    const q = parseQuery(buildQuery(9, 'nope.default.svc.cluster.local', RR_TYPE.A));
    const nx = buildResponse(q, { rcode: RCODE.NXDOMAIN, answers: [], authoritative: true }, 512);
    const nodata = buildResponse(q, { rcode: RCODE.NOERROR, answers: [], authoritative: true }, 512);
    expect(responseHeader(nx)!.rcode).toBe(RCODE.NXDOMAIN);
    expect(responseHeader(nodata)!.rcode).toBe(RCODE.NOERROR);
    expect(nx.readUInt16BE(6)).toBe(0);
    expect(nodata.readUInt16BE(6)).toBe(0);
    expect(responseHeader(buildErrorFor(q, RCODE.SERVFAIL))!.rcode).toBe(RCODE.SERVFAIL);
  });

  it('sets TC and drops the answers when they exceed 512 bytes without EDNS; fits with EDNS or TCP', () => {
    const answers = Array.from({ length: 40 }, (_, i) => ({ type: RR_TYPE.A, ttl: 30, address: `10.0.0.${i + 1}` }));
    const plain = parseQuery(buildQuery(1, 'db.default.svc.cluster.local', RR_TYPE.A));
    const udp = buildResponse(plain, { rcode: 0, answers, authoritative: true }, CLASSIC_UDP_LIMIT);
    expect(responseHeader(udp)!.truncated).toBe(true);
    expect(udp.readUInt16BE(6)).toBe(0);
    expect(udp.length).toBeLessThanOrEqual(512);
    const tcp = buildResponse(plain, { rcode: 0, answers, authoritative: true }, 65535);
    expect(responseHeader(tcp)!.truncated).toBe(false);
    expect(answersOf(tcp)).toHaveLength(40);
    const edns = parseQuery(buildQuery(1, 'db.default.svc.cluster.local', RR_TYPE.A, { edns: 1232 }));
    const big = buildResponse(edns, { rcode: 0, answers, authoritative: true }, 1232);
    expect(responseHeader(big)!.truncated).toBe(false);
    expect(big.readUInt16BE(10)).toBe(1); // our OPT record
  });

  it('follows compression pointers in incoming names', () => {
    // Question name "www" + pointer to "example.com" stored in an earlier... position: the
    // pointer targets bytes before it (a label sequence placed in the question itself).
    const q = Buffer.concat([
      header(5, 0x0100, 1, 0, 0, 1),
      writeName('example.com'), Buffer.from([0, 1, 0, 1]), // question: example.com A IN (offset 12)
      Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12]), // additional owner name: www + pointer -> "www.example.com"
      Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 0]), // type A, class IN, ttl 0, rdlength 0
    ]);
    expect(parseQuery(q).question.name).toBe('example.com');
    expect(readName(q, 12 + 13 + 4).name).toBe('www.example.com');
  });

  describe('rejects each kind of garbage with a specific error', () => {
    const ok = buildQuery(1, 'a.example', RR_TYPE.A);
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /shorter than its 12-byte header/],
      ['short header', Buffer.from([1, 2, 3]), /shorter than its 12-byte header/],
      ['a response', Buffer.concat([header(1, 0x8000, 1), ok.subarray(12)]), /is a response/],
      ['no question', header(1, 0x0100, 0), /exactly one question/],
      ['two questions', Buffer.concat([header(1, 0x0100, 2), ok.subarray(12), ok.subarray(12)]), /exactly one question/],
      ['answer records in a query', Buffer.concat([header(1, 0x0100, 1, 1), ok.subarray(12)]), /answer or authority/],
      ['name past the end', Buffer.concat([header(1, 0, 1), Buffer.from([5, 0x61, 0x62])]), /label runs past the end/],
      ['unterminated name', Buffer.concat([header(1, 0, 1), Buffer.from([1, 0x61])]), /runs past the end/],
      ['label length 64 (a reserved label type)', Buffer.concat([header(1, 0, 1), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]), /reserved/],
      ['name longer than 255', Buffer.concat([header(1, 0, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]), /longer than 255/],
      ['reserved label type', Buffer.concat([header(1, 0, 1), Buffer.from([0x41, 0]), Buffer.from([0, 1, 0, 1])]), /reserved/],
      ['pointer to itself (loop)', Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), /does not point backwards/],
      ['pointer forward', Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 20, 0, 1, 0, 1, 0, 0])]), /does not point backwards/],
      ['pointer into the header', Buffer.concat([header(1, 0, 1), Buffer.from([1, 0x61, 0xc0, 2, 0, 1, 0, 1])]), /points into the header/],
      ['label containing a dot', Buffer.concat([header(1, 0, 1), Buffer.from([3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1])]), /contains a dot/],
      ['truncated pointer', Buffer.concat([header(1, 0, 1), Buffer.from([0xc0])]), /pointer is truncated/],
      ['question without type/class', Buffer.concat([header(1, 0, 1), writeName('a.example'), Buffer.from([0, 1])]), /question is truncated/],
      ['trailing bytes', Buffer.concat([ok, Buffer.from([1, 2, 3])]), /trailing bytes/],
      ['additional record truncated', Buffer.concat([header(1, 0, 1, 0, 0, 1), ok.subarray(12), Buffer.from([0, 0, 41])]), /record header is truncated/],
      ['additional rdata truncated', Buffer.concat([header(1, 0, 1, 0, 0, 1), ok.subarray(12), Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 9, 1])]), /record data is truncated/],
      ['two OPT records', Buffer.concat([header(1, 0, 1, 0, 0, 2), ok.subarray(12), Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])]), /more than one OPT/],
      ['OPT not owned by the root', Buffer.concat([header(1, 0, 1, 0, 0, 1), ok.subarray(12), Buffer.from([1, 0x61, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])]), /owned by the root/],
    ];
    for (const [what, packet, message] of cases) {
      it(what, () => {
        expect(() => parseQuery(packet)).toThrow(message);
        try { parseQuery(packet); } catch (e) { expect((e as { code?: string }).code).toBe('WEFT_E_INVALID_INPUT'); }
      });
    }
  });

  it('refuses to write names it cannot encode', () => {
    expect(() => writeName('a..b')).toThrow(/label length/);
    expect(() => writeName(`${'a'.repeat(64)}.com`)).toThrow(/label length/);
  });
});
