// Runs inside a network namespace the DNS capture test created. Roles:
//   stub <ip>            upstream resolver on <ip>:53 (external.test -> 192.0.2.7, server -> 6.6.6.6)
//   dns <upstream-ip>    the DNS proxy on 127.0.0.1:15053 (run as UID 1337), table: server -> 10.96.0.20
//   query <ip> <name>    node:dns (UDP) against <ip>:53, as the app would
//   tcpquery <ip> <name> one raw DNS-over-TCP query against <ip>:53
// Prints one JSON line with its result.
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '../../../src/log/logger.js';
import { DnsProxy } from '../../../src/proxy/dns/server.js';
import { buildQuery, buildResponse, parseQuery, RCODE, responseHeader, RR_TYPE } from '../../../src/proxy/dns/wire.js';

const [role, ip = '', name = ''] = process.argv.slice(2);
const print = (o: unknown): void => { console.log(JSON.stringify(o)); };

if (role === 'stub') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, r) => {
    const q = parseQuery(m);
    const address = q.question.name === 'external.test' ? '192.0.2.7' : q.question.name === 'server' ? '6.6.6.6' : undefined;
    const out = buildResponse(q, { rcode: address ? RCODE.NOERROR : RCODE.NXDOMAIN, answers: address ? [{ type: RR_TYPE.A, ttl: 5, address }] : [], authoritative: true }, 512);
    sock.send(out, r.port, r.address);
  });
  sock.bind(53, ip, () => print({ ready: true }));
} else if (role === 'dns') {
  const dns = new DnsProxy({ host: '127.0.0.1', port: 15053, upstreams: [{ address: ip, port: 53 }], searchDomains: ['default.svc.cluster.local'], clusterDomain: 'cluster.local', logger: silentLogger(), forwardTimeoutMs: 1000 });
  dns.setNameTable({ table: { 'server.default.svc.cluster.local': { ips: ['10.96.0.20'], registry: 'Kubernetes', shortname: 'server', namespace: 'default', alt_hosts: ['server'] } } });
  void dns.start().then(() => print({ ready: true, uid: process.getuid?.() }));
} else if (role === 'query') {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([ip]);
  r.resolve4(name).then((ips) => print({ ips }), (e: { code?: string }) => print({ error: e.code }));
} else if (role === 'tcpquery') {
  const sock = net.connect({ host: ip, port: 53 });
  const q = buildQuery(77, name, RR_TYPE.A);
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(q.length);
  let buf = Buffer.alloc(0);
  sock.on('connect', () => sock.write(Buffer.concat([prefix, q])));
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      const last = msg.subarray(msg.length - 4); // the single A record's address
      print({ ...responseHeader(msg), answers: msg.readUInt16BE(6), address: [...last].join('.') });
      sock.destroy();
    }
  });
  sock.on('error', (e) => print({ error: e.message }));
}
