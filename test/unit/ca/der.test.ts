import { describe, expect, it } from '@jest/globals';
import * as der from '../../../src/ca/der.js';

describe('DER helpers', () => {
  it('encodes times as UTCTime through 2049 and GeneralizedTime from 2050', () => {
    expect(der.time(new Date('2049-12-31T23:59:59Z')).toString('latin1', 2)).toBe('491231235959Z');
    expect(der.time(new Date('2049-12-31T23:59:59Z'))[0]).toBe(der.TAG.UTC_TIME);
    expect(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1', 2)).toBe('20500101000000Z');
    expect(der.time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(der.TAG.GENERALIZED_TIME);
  });

  it('round-trips OIDs, long lengths and positive integers', () => {
    for (const id of ['1.2.840.10045.4.3.2', '2.5.29.17', '1.3.6.1.5.5.7.3.2', '1.2.840.113549.1.9.14']) {
      expect(der.readOid(der.read(der.oid(id)))).toBe(id);
    }
    const big = der.octets(Buffer.alloc(70000, 1));
    const n = der.read(big);
    expect(n.end - n.contentStart).toBe(70000);
    expect(der.uint(Buffer.from([0x80]))).toEqual(Buffer.from([2, 2, 0, 0x80]));
    expect(der.uint(Buffer.from([0, 0, 5]))).toEqual(Buffer.from([2, 1, 5]));
  });

  it('refuses truncated, indefinite and overrunning input', () => {
    expect(() => der.read(Buffer.from([0x30]))).toThrow(der.DerError);
    expect(() => der.read(Buffer.from([0x30, 0x80, 0, 0]))).toThrow(/indefinite/);
    expect(() => der.read(Buffer.from([0x30, 0x05, 1, 2]))).toThrow(/runs past/);
    expect(() => der.children(der.read(Buffer.from([0x30, 0x03, 0x04, 0x05, 0x00])))).toThrow(der.DerError);
  });
});
