// The sidecar's DNS proxy end to end on loopback: a real control plane (StaticModelSource)
// serves the NDS name table, runProxy starts the DNS proxy on a free port, and an upstream
// stub resolver on 127.0.0.53 answers the names the mesh does not own. Queries go through
// node:dns (c-ares), as an app's would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel, type MeshModel } from '../../../src/xds/model.js';
import { runProxy, type RunningProxy } from '../../../src/proxy/command.js';
import type { ProxyBootstrap } from '../../../src/proxy/bootstrap.js';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URLS } from '../../../src/envoy/index.js';
import { AdsServer } from '../../../src/xds/server.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import type { NameTableShape } from '../../../src/proxy/dns/names.js';
import { Forwarder } from '../../../src/proxy/dns/forwarder.js';
import { DnsProxy } from '../../../src/proxy/dns/server.js';
import { buildQuery, RCODE, responseHeader, RR_TYPE } from '../../../src/proxy/dns/wire.js';
import { freePort } from './helpers.js';
import { STUB_HOST, StubResolver } from './dns-stub.js';

const svc = (name: string, ns: string, addresses: string[]): MeshModel['services'][number] => ({
  hostname: `${name}.${ns}.svc.cluster.local`, name, namespace: ns, addresses, ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
  ...(addresses.length === 0 ? { headless: true } : {}),
});

function model(extra: MeshModel['services'] = []): MeshModel {
  const m = emptyModel();
  m.services = [svc('server', 'default', ['10.96.0.20']), svc('db', 'default', []), svc('ratings', 'other', ['10.96.1.12']), ...extra];
  m.endpoints = Array.from({ length: 40 }, (_, i) => ({
    hostname: 'db.default.svc.cluster.local', portName: 'http', address: `10.244.1.${i + 1}`, port: 80, labels: {}, healthy: true, namespace: 'default',
  }));
  return m;
}

let source: StaticModelSource;
let cp: ControlPlane;
let stub: StubResolver;
let running: RunningProxy;
let dnsPort: number;
let adminPort: number;
let tmp: string;
let resolver: Resolver;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined; } catch (e) { return (e as { code?: string }).code; }
}

beforeAll(async () => {
  stub = new StubResolver();
  await stub.start();
  source = new StaticModelSource(model());
  cp = await startControlPlane({ source, logger: silentLogger(), xdsPort: 0, host: '127.0.0.1', debounceMs: 10 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-dns-'));
  fs.writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  dnsPort = await freePort();
  adminPort = await freePort();
  const b: ProxyBootstrap = {
    mode: 'sidecar', nodeId: 'sidecar~127.0.0.1~client-1.default~default.svc.cluster.local', podName: 'client-1', namespace: 'default', podIp: '127.0.0.1',
    serviceAccount: 'default', xdsAddress: cp.address, trustDomain: 'cluster.local', logLevel: 'silent', tracing: { samplingPercent: 1, endpoint: '', protocol: 'otlp' }, accessLog: false, caTokenFile: '/nonexistent', trustBundleFile: '/nonexistent',
    ports: { admin: adminPort, health: await freePort() }, drainMs: 0, appProbes: new Map(),
    // The stub replaces resolv.conf's 10.96.0.10 (explicit upstreams win); the search list still comes from the file.
    dns: { host: '127.0.0.1', port: dnsPort, resolvConfPath: path.join(tmp, 'resolv.conf'), upstreams: [{ address: STUB_HOST, port: stub.port }], clusterDomain: 'cluster.local', forwardTimeoutMs: 300 },
  };
  running = await runProxy(b, silentLogger());
  resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  await until('the name table', () => Object.keys(running.dns?.nameTable().table ?? {}).length > 0);
}, 30_000);

afterAll(async () => {
  await running?.shutdown();
  await cp?.close();
  await stub?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('DNS proxy on loopback', () => {
  it('resolves a service short name, <name>.<ns> and the FQDN to the ClusterIP', async () => {
    expect(await resolver.resolve4('server')).toEqual(['10.96.0.20']);
    expect(await resolver.resolve4('server.default')).toEqual(['10.96.0.20']);
    expect(await resolver.resolve4('server.default.svc.cluster.local')).toEqual(['10.96.0.20']);
    expect(await resolver.resolve4('ratings.other')).toEqual(['10.96.1.12']);
    // A search-domain expansion a glibc stub would try first.
    expect(await resolver.resolve4('server.default.default.svc.cluster.local')).toEqual(['10.96.0.20']);
    const withTtl = await resolver.resolve4('server', { ttl: true });
    expect(withTtl).toEqual([{ address: '10.96.0.20', ttl: 30 }]);
  });

  it('resolves a headless service to its 40 pod IPs (a response over 512 bytes)', async () => {
    const ips = await resolver.resolve4('db');
    expect(ips.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `10.244.1.${i + 1}`).sort());
  });

  it('answers NODATA for a known name without AAAA, NXDOMAIN for missing cluster names without forwarding', async () => {
    expect(await errorCode(resolver.resolve6('server'))).toBe('ENODATA');
    stub.names = [];
    expect(await errorCode(resolver.resolve4('missing.default.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(await errorCode(resolver.resolve4('ratings.default.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(stub.names).toEqual([]);
  });

  it('forwards other names to the upstream; SERVFAIL when it does not answer', async () => {
    expect(await resolver.resolve4('external.test')).toEqual(['192.0.2.7']);
    expect(await errorCode(resolver.resolve4('nothing.test'))).toBe('ENOTFOUND');
    expect(await errorCode(resolver.resolve4('slow.test'))).toBe('ESERVFAIL');
    expect(stub.names).toEqual(expect.arrayContaining(['external.test', 'nothing.test', 'slow.test']));
  }, 15_000);

  it('answers over TCP, several length-prefixed queries on one connection', async () => {
    const sock = net.connect({ host: '127.0.0.1', port: dnsPort });
    const frames = [buildQuery(11, 'server', RR_TYPE.A), buildQuery(12, 'external.test', RR_TYPE.A)].map((q) => { const p = Buffer.alloc(2); p.writeUInt16BE(q.length); return Buffer.concat([p, q]); });
    const replies: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      sock.on('error', reject);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0))); buf = buf.subarray(2 + buf.readUInt16BE(0)); }
        if (replies.length === 2) { sock.destroy(); resolve(); }
      });
      sock.write(Buffer.concat(frames));
    });
    expect(replies.map((r) => responseHeader(r))).toEqual([
      { id: 11, isResponse: true, truncated: false, rcode: 0 },
      { id: 12, isResponse: true, truncated: false, rcode: 0 },
    ]);
  });

  it('also answers on ::1 (where ip6tables redirects IPv6 queries)', async () => {
    const v6 = new Resolver({ timeout: 3000, tries: 1 });
    v6.setServers([`[::1]:${dnsPort}`]);
    expect(await v6.resolve4('server')).toEqual(['10.96.0.20']);
  });

  it('ignores garbage datagrams and keeps answering', async () => {
    const before = running.dns!.stats.malformed;
    const sock = dgram.createSocket('udp4');
    const garbage = [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(64, 0xff), Buffer.concat([buildQuery(1, 'x', RR_TYPE.A).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), Buffer.concat([buildQuery(1, 'x', RR_TYPE.A).subarray(0, 12), Buffer.from([2, 0x61, 0x2e, 0, 0, 1, 0, 1])])];
    for (const g of garbage) await new Promise<void>((res) => sock.send(g, dnsPort, '127.0.0.1', () => res()));
    sock.close();
    await until('garbage counted', () => running.dns!.stats.malformed >= before + garbage.length);
    expect(await resolver.resolve4('server')).toEqual(['10.96.0.20']);
  });

  it('follows model changes pushed over NDS and shows the table in /config_dump', async () => {
    source.set(model([svc('fresh', 'default', ['10.96.0.99'])]));
    await until('fresh in the table', async () => (await resolver.resolve4('fresh').catch(() => [])).length > 0);
    expect(await resolver.resolve4('fresh')).toEqual(['10.96.0.99']);
    const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as { dns: { nameTable: { table: Record<string, { ips?: string[] }> }; stats: { answered: number } } };
    expect(dump.dns.nameTable.table['fresh.default.svc.cluster.local']?.ips).toEqual(['10.96.0.99']);
    expect(dump.dns.stats.answered).toBeGreaterThan(0);
  });

  it('bounds the forwards in flight: over the limit fails at once instead of queueing', async () => {
    const f = new Forwarder({ upstreams: [{ address: STUB_HOST, port: stub.port }], timeoutMs: 300, maxInflight: 1 });
    const first = f.forward(buildQuery(21, 'slow.test', RR_TYPE.A), 'udp');
    await expect(f.forward(buildQuery(22, 'external.test', RR_TYPE.A), 'udp')).rejects.toThrow(/too many DNS forwards in flight/);
    await expect(first).rejects.toThrow(/every DNS upstream failed/);
    expect(f.inFlight).toBe(0);
    expect(responseHeader(await f.forward(buildQuery(23, 'external.test', RR_TYPE.A), 'tcp'))).toEqual({ id: 23, isResponse: true, truncated: false, rcode: 0 });
    expect(f.stats).toEqual({ forwarded: 2, failed: 1, rejectedBusy: 1 });
  });

  it('forwards everything, cluster names included, until the first name table arrives', async () => {
    const fresh = new DnsProxy({ host: '127.0.0.1', port: 0, upstreams: [{ address: STUB_HOST, port: stub.port }], searchDomains: [], clusterDomain: 'cluster.local', logger: silentLogger() });
    stub.names = [];
    const before = await fresh.handle(buildQuery(31, 'server.default.svc.cluster.local', RR_TYPE.A), 'udp');
    expect(stub.names).toEqual(['server.default.svc.cluster.local']);
    expect(responseHeader(before!)!.rcode).toBe(RCODE.NXDOMAIN); // the stub's answer
    fresh.setNameTable({ table: {} });
    const after = await fresh.handle(buildQuery(32, 'server.default.svc.cluster.local', RR_TYPE.A), 'udp');
    expect(stub.names).toHaveLength(1);
    expect(responseHeader(after!)!.rcode).toBe(RCODE.NXDOMAIN);
  });
});

describe('DNS proxy robustness', () => {
  async function startFresh(): Promise<{ dns: DnsProxy; port: number }> {
    const port = await freePort();
    const dns = new DnsProxy({ host: '127.0.0.1', port, upstreams: [{ address: STUB_HOST, port: stub.port }], searchDomains: [], clusterDomain: 'cluster.local', logger: silentLogger(), forwardTimeoutMs: 300 });
    dns.setNameTable({ table: { 'a.default.svc.cluster.local': { ips: ['10.96.0.1'], alt_hosts: ['a'] } } });
    await dns.start();
    return { dns, port };
  }

  it('starts when an extra host cannot be bound, and still answers on the main one', async () => {
    const port = await freePort();
    const dns = new DnsProxy({ host: '127.0.0.1', extraHosts: ['192.0.2.1'], port, upstreams: [], searchDomains: [], clusterDomain: 'cluster.local', logger: silentLogger() });
    dns.setNameTable({ table: { 'a.default.svc.cluster.local': { ips: ['10.96.0.1'], alt_hosts: ['a'] } } });
    await dns.start();
    try {
      const r = new Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      expect(await r.resolve4('a')).toEqual(['10.96.0.1']);
      expect(await errorCode(r.resolve4('elsewhere.test'))).toBe('ESERVFAIL'); // no upstreams configured
    } finally {
      await dns.close();
    }
  });

  it('closes with forwards in flight without crashing when they finish', async () => {
    const { dns, port } = await startFresh();
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.send(buildQuery(41, 'slow.test', RR_TYPE.A), port, '127.0.0.1', () => res()));
    await until('forward started', () => dns.stats.forwarded === 1);
    await dns.close();
    await new Promise((r) => setTimeout(r, 500)); // past the 300 ms forward timeout
    sock.close();
    expect(dns.stats.servfail).toBe(1);
  });

  it('answers pipelined TCP queries as they complete, and closes a connection with too many pending', async () => {
    const { dns, port } = await startFresh();
    try {
      const frame = (q: Buffer): Buffer => { const p = Buffer.alloc(2); p.writeUInt16BE(q.length); return Buffer.concat([p, q]); };
      // A slow forward first, then a table name: the table answer must not wait for the forward.
      const ids: number[] = [];
      const sock = net.connect({ host: '127.0.0.1', port });
      await new Promise<void>((resolve, reject) => {
        let buf = Buffer.alloc(0);
        sock.on('error', reject);
        sock.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { ids.push(buf.readUInt16BE(2)); buf = buf.subarray(2 + buf.readUInt16BE(0)); }
          if (ids.length === 2) { sock.destroy(); resolve(); }
        });
        sock.write(Buffer.concat([frame(buildQuery(51, 'slow.test', RR_TYPE.A)), frame(buildQuery(52, 'a', RR_TYPE.A))]));
      });
      expect(ids).toEqual([52, 51]);
      // 65 queries waiting on one connection: closed, and the server still answers others.
      const flood = net.connect({ host: '127.0.0.1', port });
      const closed = new Promise<void>((res) => flood.on('close', () => res()));
      flood.on('error', () => undefined);
      flood.write(Buffer.concat(Array.from({ length: 65 }, (_, i) => frame(buildQuery(100 + i, 'slow.test', RR_TYPE.A)))));
      await closed;
      const r = new Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      expect(await r.resolve4('a')).toEqual(['10.96.0.1']);
    } finally {
      await dns.close();
    }
  });
});

describe('NDS in the xDS client', () => {
  it('ACKs a good name table, NACKs a bad one and keeps the last good table', async () => {
    const cache = new SnapshotCache();
    const server = new grpc.Server();
    const ads = new AdsServer({ cache, logger: silentLogger() });
    ads.register(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const node = 'sidecar~127.0.0.1~nds-1.default~default.svc.cluster.local';
    const good = { table: { 'a.default.svc.cluster.local': { ips: ['10.96.0.1'], alt_hosts: ['a'] } } };
    cache.setSnapshot(node, makeSnapshot('v1', { nameTables: [good] }));
    const tables: NameTableShape[] = [];
    const client = new XdsClient({ address: `127.0.0.1:${port}`, node: { id: node }, logger: silentLogger(), onConfig: () => undefined, onNameTable: (t) => { tables.push(t); } });
    try {
      client.start();
      await until('first table', () => tables.length === 1);
      expect(tables[0]).toEqual(good);
      cache.setSnapshot(node, makeSnapshot('v2', { nameTables: [{ table: { 'b.default.svc.cluster.local': { ips: ['not-an-ip'] } } }] }));
      await until('NACK', () => client.lastNack.has(TYPE_URLS.nameTable));
      expect(client.lastNack.get(TYPE_URLS.nameTable)!.message).toMatch(/not an IP/);
      expect(tables).toHaveLength(1);
      expect(client.nds.version).not.toBe('');
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});

