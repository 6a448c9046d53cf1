// Random trace and span ids drawn from a pooled buffer (one randomFillSync per 256 ids,
// instead of a crypto call per request). Never all zero, as W3C and B3 require.
import { randomFillSync } from 'node:crypto';

export interface IdSource { traceId(): string; spanId(): string }

export class RandomIds implements IdSource {
  private readonly pool = Buffer.alloc(4096);
  private offset = this.pool.length;

  private hex(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > this.pool.length) { randomFillSync(this.pool); this.offset = 0; }
      const s = this.pool.toString('hex', this.offset, this.offset + bytes);
      this.offset += bytes;
      if (!/^0+$/.test(s)) return s;
    }
  }

  traceId(): string { return this.hex(16); }
  spanId(): string { return this.hex(8); }
}
