// An upstream resolver stub for the DNS proxy tests, on 127.0.0.53 (UDP and TCP, same port).
import dgram from 'node:dgram';
import net from 'node:net';
import { buildResponse, parseQuery, RCODE, RR_TYPE } from '../../../src/proxy/dns/wire.js';

export const STUB_HOST = '127.0.0.53';

/** Upstream stub: external.test -> 192.0.2.7, slow.test never answered, anything else NXDOMAIN. */
export class StubResolver {
  udp = dgram.createSocket('udp4');
  tcp = net.createServer((s) => s.on('data', (d: Buffer) => { const out = this.answer(d.subarray(2)); if (out) { const p = Buffer.alloc(2); p.writeUInt16BE(out.length); s.end(Buffer.concat([p, out])); } }));
  names: string[] = [];
  port = 0;
  answer(msg: Buffer): Buffer | undefined {
    const q = parseQuery(msg);
    this.names.push(q.question.name);
    if (q.question.name === 'slow.test') return undefined;
    if (q.question.name === 'external.test') return buildResponse(q, { rcode: RCODE.NOERROR, answers: [{ type: RR_TYPE.A, ttl: 5, address: '192.0.2.7' }], authoritative: true }, 512);
    return buildResponse(q, { rcode: RCODE.NXDOMAIN, answers: [], authoritative: true }, 512);
  }
  async start(): Promise<void> {
    this.udp.on('message', (m, r) => { const out = this.answer(m); if (out) this.udp.send(out, r.port, r.address); });
    await new Promise<void>((res) => this.udp.bind(0, STUB_HOST, () => res()));
    this.port = this.udp.address().port;
    await new Promise<void>((res, rej) => { this.tcp.once('error', rej); this.tcp.listen(this.port, STUB_HOST, () => res()); });
  }
  async close(): Promise<void> {
    this.udp.close();
    await new Promise<void>((res) => this.tcp.close(() => res()));
  }
}
