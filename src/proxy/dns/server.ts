// The sidecar's DNS proxy: UDP and TCP on 127.0.0.1:15053, where iptables sends the app's
// port-53 traffic. Answers mesh names from the NDS name table and forwards the rest (see
// names.ts for the rules). Malformed packets are counted and dropped; they never reach the
// table or the upstreams, and never stop the server.
import dgram from 'node:dgram';
import net from 'node:net';
import { errorMessage } from '../../errors/errors.js';
import type { Logger } from '../../log/logger.js';
import { Forwarder, type Transport } from './forwarder.js';
import { DNS_TTL_SECONDS, NameIndex, type Decision, type NameTableShape } from './names.js';
import type { Upstream } from './resolv-conf.js';
import { buildErrorFor, buildResponse, CLASSIC_UDP_LIMIT, EDNS_UDP_LIMIT, parseQuery, RCODE, RR_TYPE, type DnsQuery } from './wire.js';

export interface DnsProxyOptions {
  host: string;
  /** Also listen here when possible (e.g. ::1); a failure is logged, not fatal. */
  extraHosts?: readonly string[];
  port: number;
  upstreams: readonly Upstream[];
  searchDomains: readonly string[];
  clusterDomain: string;
  logger: Logger;
  forwardTimeoutMs?: number;
  maxInflightForwards?: number;
  /** Idle TCP connections are closed after this long. */
  tcpIdleMs?: number;
}

export interface DnsStats {
  queries: number;
  answered: number;
  nxdomain: number;
  forwarded: number;
  servfail: number;
  malformed: number;
}

const TCP_MAX_MESSAGE = 65535;
/** Queries one TCP connection may have waiting for an answer; more closes it. */
const TCP_MAX_PENDING = 64;
const TCP_MAX_CONNECTIONS = 256;

export class DnsProxy {
  private index: NameIndex;
  private table: NameTableShape = { table: {} };
  /** Until the first NDS table arrives every name is forwarded: an empty table would NXDOMAIN the mesh. */
  private haveTable = false;
  private readonly forwarder: Forwarder;
  private readonly udps: dgram.Socket[] = [];
  private readonly tcps: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  private closed = false;
  readonly stats: DnsStats = { queries: 0, answered: 0, nxdomain: 0, forwarded: 0, servfail: 0, malformed: 0 };

  constructor(private readonly opts: DnsProxyOptions) {
    this.index = this.indexOf(this.table);
    this.forwarder = new Forwarder({ upstreams: opts.upstreams, timeoutMs: opts.forwardTimeoutMs ?? 2000, maxInflight: opts.maxInflightForwards ?? 100 });
  }

  private indexOf(t: NameTableShape): NameIndex {
    return new NameIndex(t, { clusterDomain: this.opts.clusterDomain, searchDomains: this.opts.searchDomains });
  }

  /** Swaps in a new name table (from NDS); in-flight queries finish with the old one. */
  setNameTable(t: NameTableShape): void {
    this.table = t;
    this.index = this.indexOf(t);
    this.haveTable = true;
  }

  nameTable(): NameTableShape {
    return this.table;
  }

  async start(): Promise<void> {
    await this.listenOn(this.opts.host);
    // Best effort: IPv6 loopback, where ip6tables' REDIRECT delivers IPv6 queries.
    for (const host of this.opts.extraHosts ?? []) {
      await this.listenOn(host).catch((err: unknown) => this.opts.logger.warn({ host, err: errorMessage(err) }, 'dns proxy not listening on extra host'));
    }
    this.opts.logger.info({ host: this.opts.host, port: this.opts.port, upstreams: this.opts.upstreams.length }, 'dns proxy listening');
  }

  /** UDP and TCP on host:port; when either fails, neither stays open. */
  private async listenOn(host: string): Promise<void> {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => {
      void this.handle(msg, 'udp').then((out) => {
        // A forward may finish after close(); sending on a closed socket would throw.
        if (out && !this.closed) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.opts.port, host, () => { udp.off('error', reject); resolve(); });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    udp.on('error', (err) => this.opts.logger.warn({ err: errorMessage(err) }, 'dns udp socket error'));
    const tcp = net.createServer((sock) => this.serveTcp(sock));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.opts.port, host, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    this.udps.push(udp);
    this.tcps.push(tcp);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.udps) u.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.tcps.map((t) => new Promise<void>((resolve) => t.close(() => resolve()))));
  }

  /**
   * Length-prefixed messages, several per connection, answered as they complete (RFC 7766
   * pipelining: clients match answers by id), so one slow forward does not hold up the rest.
   */
  private serveTcp(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    let pending = 0;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (++pending > TCP_MAX_PENDING) { sock.destroy(); return; }
        void this.handle(msg, 'tcp').then((out) => {
          pending--;
          if (sock.destroyed) return;
          // A malformed message ends the connection: framing can no longer be trusted.
          if (!out) { sock.destroy(); return; }
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(out.length, 0);
          sock.write(Buffer.concat([prefix, out]));
        });
      }
    });
  }

  /** One message in, the response out (undefined = drop). Never throws. */
  async handle(msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    try {
      return await this.respond(msg, transport);
    } catch (err) {
      // Nothing in respond() should throw; if it does, drop the packet rather than the process.
      this.stats.malformed++;
      this.opts.logger.warn({ err: errorMessage(err), transport, length: msg.length }, 'dropping dns packet that failed to answer');
      return undefined;
    }
  }

  private async respond(msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    let q: DnsQuery;
    try {
      q = parseQuery(msg);
    } catch (err) {
      this.stats.malformed++;
      this.opts.logger.debug({ err: errorMessage(err), transport, length: msg.length }, 'dropping malformed dns packet');
      return undefined;
    }
    this.stats.queries++;
    const limit = transport === 'tcp' ? TCP_MAX_MESSAGE : q.ednsUdpSize !== undefined ? Math.min(q.ednsUdpSize, EDNS_UDP_LIMIT) : CLASSIC_UDP_LIMIT;
    if (q.opcode !== 0) return buildErrorFor(q, RCODE.NOTIMP);
    const decision: Decision = this.haveTable ? this.index.decide(q.question.name, q.question.type, q.question.class) : { kind: 'forward' };
    switch (decision.kind) {
      case 'answer': {
        this.stats.answered++;
        const type = q.question.type === RR_TYPE.AAAA ? RR_TYPE.AAAA : RR_TYPE.A;
        const answers = decision.addresses.map((address) => ({ type, ttl: DNS_TTL_SECONDS, address }));
        return buildResponse(q, { rcode: RCODE.NOERROR, answers, authoritative: true }, limit);
      }
      case 'nxdomain':
        this.stats.nxdomain++;
        return buildResponse(q, { rcode: RCODE.NXDOMAIN, answers: [], authoritative: true }, limit);
      case 'forward':
        this.stats.forwarded++;
        try {
          return await this.forwarder.forward(msg, transport);
        } catch (err) {
          this.stats.servfail++;
          this.opts.logger.debug({ err: errorMessage(err), name: q.question.name }, 'dns forward failed');
          return buildErrorFor(q, RCODE.SERVFAIL);
        }
    }
  }
}
