import { describe, it, expect } from '@jest/globals';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { LeanH2Stream } from '../../../bench/lib/h2-lean.js';

describe('LeanH2Stream', () => {
  it('sends a request body and reads the whole response body, then the end of the stream', async () => {
    const sent = Buffer.concat([Buffer.alloc(40_000, 1), Buffer.from('tail'), Buffer.alloc(70_000, 2)]);
    const server = http2.createServer();
    const got: Buffer[] = [];
    server.on('stream', (stream) => {
      stream.once('data', (req: Buffer) => {
        expect(req.toString()).toBe('hello');
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.write(sent.subarray(0, 40_004));
        stream.end(sent.subarray(40_004));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const ended = await new Promise<string>((resolve) => {
        const c = new LeanH2Stream('127.0.0.1', (server.address() as AddressInfo).port, '/svc/Method', {
          onData: (chunk) => got.push(Buffer.from(chunk)),
          onEnd: resolve,
        });
        c.write(Buffer.from('hello'));
      });
      expect(Buffer.concat(got).equals(sent)).toBe(true);
      expect(ended).toMatch(/stream ended/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses non-loopback hosts', () => {
    expect(() => new LeanH2Stream('10.0.0.1', 1, '/x', { onData: () => undefined, onEnd: () => undefined })).toThrow(/loopback only/);
  });
});
