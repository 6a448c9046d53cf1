import { describe, expect, it } from '@jest/globals';
import { DEFAULT_HEADER_LIMITS, h2HeaderViolation } from '../../../src/proxy/header-limits.js';

const pseudo = [':method', 'GET', ':path', '/', ':scheme', 'http', ':authority', 'svc'];
const fields = (n: number, value = 'v'): string[] => Array.from({ length: n }, (_, i) => [`x-h${i}`, value]).flat();

describe('h2HeaderViolation', () => {
  it('accepts a block at the limits', () => {
    expect(h2HeaderViolation([...pseudo, ...fields(100)], DEFAULT_HEADER_LIMITS)).toBeUndefined();
    expect(h2HeaderViolation([...pseudo, 'x-big', 'a'.repeat(1000)], { maxHeaderBytes: pseudo.join('').length + 'x-big'.length + 1000, maxHeaders: 1 })).toBeUndefined();
  });
  it('counts regular headers only, not pseudo-headers', () => {
    expect(h2HeaderViolation([...pseudo, ...fields(3)], { maxHeaderBytes: 1024, maxHeaders: 3 })).toBeUndefined();
    expect(h2HeaderViolation([...pseudo, ...fields(4)], { maxHeaderBytes: 1024, maxHeaders: 3 })).toMatch(/4 headers, more than max_headers_count 3/);
  });
  it('counts names and values, pseudo-headers included, against max_request_headers_kb', () => {
    const longPath = [':method', 'GET', ':path', `/${'p'.repeat(9000)}`];
    expect(h2HeaderViolation(longPath, { maxHeaderBytes: 8 * 1024, maxHeaders: 100 })).toMatch(/^90\d\d header bytes, more than the 8192-byte max_request_headers_kb$/);
    expect(h2HeaderViolation([...pseudo, 'x-big', 'a'.repeat(10 * 1024)], { maxHeaderBytes: 8 * 1024, maxHeaders: 100 })).toMatch(/8192-byte max_request_headers_kb$/);
  });
});
