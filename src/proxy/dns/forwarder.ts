// Forwards a query the name table does not own to the pod's upstream resolvers, over the
// transport the client used (UDP, or TCP with its 2-byte length prefix). Upstreams are tried
// in order, each with a timeout; at most `maxInflight` forwards run at once. The caller turns
// a failure into SERVFAIL. The proxy runs as the proxy UID, whose traffic iptables leaves
// alone, so these queries reach the upstream instead of coming back to us.
import dgram from 'node:dgram';
import net from 'node:net';
import { WeftError } from '../../errors/errors.js';
import type { Upstream } from './resolv-conf.js';
import { responseHeader } from './wire.js';

export type Transport = 'udp' | 'tcp';

export interface ForwarderOptions {
  upstreams: readonly Upstream[];
  timeoutMs: number;
  maxInflight: number;
}

const MAX_TCP_MESSAGE = 65535;

export class Forwarder {
  private inflight = 0;
  readonly stats = { forwarded: 0, failed: 0, rejectedBusy: 0 };

  constructor(private readonly opts: ForwarderOptions) {}

  get inFlight(): number {
    return this.inflight;
  }

  /** The upstream's response bytes; throws WEFT_E_UNAVAILABLE when no upstream answered. */
  async forward(query: Buffer, transport: Transport): Promise<Buffer> {
    if (this.opts.upstreams.length === 0) throw new WeftError('WEFT_E_UNAVAILABLE', 'no DNS upstream configured');
    if (this.inflight >= this.opts.maxInflight) {
      this.stats.rejectedBusy++;
      throw new WeftError('WEFT_E_UNAVAILABLE', 'too many DNS forwards in flight', { max: this.opts.maxInflight });
    }
    this.inflight++;
    this.stats.forwarded++;
    try {
      const id = query.readUInt16BE(0);
      const errors: string[] = [];
      for (const u of this.opts.upstreams) {
        try {
          return transport === 'udp' ? await this.viaUdp(query, id, u) : await this.viaTcp(query, id, u);
        } catch (e) {
          errors.push(`${u.address}:${u.port}: ${(e as Error).message}`);
        }
      }
      this.stats.failed++;
      throw new WeftError('WEFT_E_UNAVAILABLE', 'every DNS upstream failed', { errors });
    } finally {
      this.inflight--;
    }
  }

  private viaUdp(query: Buffer, id: number, u: Upstream): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(u.address) ? 'udp6' : 'udp4');
      let settled = false;
      const done = (err: Error | undefined, msg?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.close();
        if (err) reject(err); else resolve(msg!);
      };
      const timer = setTimeout(() => done(new Error('timeout')), this.opts.timeoutMs);
      sock.on('error', (e) => done(e));
      sock.on('message', (msg, rinfo) => {
        // Only the upstream's answer to this query counts; anything else is noise.
        const h = responseHeader(msg);
        if (rinfo.address !== u.address || rinfo.port !== u.port || !h || !h.isResponse || h.id !== id) return;
        done(undefined, msg);
      });
      sock.send(query, u.port, u.address, (e) => { if (e) done(e); });
    });
  }

  private viaTcp(query: Buffer, id: number, u: Upstream): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: u.address, port: u.port });
      let buf = Buffer.alloc(0);
      let settled = false;
      const done = (err: Error | undefined, msg?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err); else resolve(msg!);
      };
      const timer = setTimeout(() => done(new Error('timeout')), this.opts.timeoutMs);
      sock.on('error', (e) => done(e));
      sock.on('close', () => done(new Error('connection closed before a response')));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length, 0);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2) return;
        const need = buf.readUInt16BE(0);
        if (need > MAX_TCP_MESSAGE) return done(new Error('oversized response'));
        if (buf.length < 2 + need) return;
        const msg = buf.subarray(2, 2 + need);
        const h = responseHeader(msg);
        if (!h || !h.isResponse || h.id !== id) return done(new Error('upstream answered a different query'));
        done(undefined, msg);
      });
    });
  }
}
