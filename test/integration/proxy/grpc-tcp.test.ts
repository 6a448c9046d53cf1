import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { cla, edsCluster, httpListener, routeConfig, tcpListener } from '../../unit/proxy/fixtures.js';
import { freePort, rawExchange, startProxy } from './helpers.js';

const PROTO = `syntax = "proto3";
package echo;
message Msg { string text = 1; }
service Echo {
  rpc Unary(Msg) returns (Msg);
  rpc Chat(stream Msg) returns (stream Msg);
  rpc Fail(Msg) returns (Msg);
  rpc Flaky(Msg) returns (Msg);
}`;

type EchoClient = grpc.Client & {
  Unary(m: { text: string }, cb: (e: grpc.ServiceError | null, r?: { text: string }) => void): void;
  Chat(): grpc.ClientDuplexStream<{ text: string }, { text: string }>;
  Fail(m: { text: string }, cb: (e: grpc.ServiceError | null, r?: { text: string }) => void): void;
  Flaky(m: { text: string }, cb: (e: grpc.ServiceError | null, r?: { text: string }) => void): void;
};
let flakyCalls = 0;
let lastUnaryPeer = '';

let grpcServer: grpc.Server;
let tcpServer: net.Server;
let proxy: Proxy;
let grpcPort: number, tcpPort: number, boundPort: number;
let client: EchoClient;
let boundClient: EchoClient;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-echo-'));
  fs.writeFileSync(path.join(dir, 'echo.proto'), PROTO);
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(dir, 'echo.proto'))) as unknown as { echo: { Echo: grpc.ServiceClientConstructor } };
  grpcServer = new grpc.Server();
  grpcServer.addService(def.echo.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, cb: grpc.sendUnaryData<{ text: string }>) => {
      lastUnaryPeer = call.getPeer();
      cb(null, { text: `echo:${call.request.text}` });
    },
    Chat: (call: grpc.ServerDuplexStream<{ text: string }, { text: string }>) => {
      call.on('data', (m: { text: string }) => call.write({ text: `chat:${m.text}` }));
      call.on('end', () => call.end());
    },
    Fail: (_call: unknown, cb: grpc.sendUnaryData<{ text: string }>) => cb({ code: grpc.status.PERMISSION_DENIED, details: 'nope' }),
    Flaky: (call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, cb: grpc.sendUnaryData<{ text: string }>) => {
      flakyCalls++;
      if (flakyCalls % 2 === 1) cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
      else cb(null, { text: `flaky:${call.request.text}` });
    },
  });
  const backendPort = await new Promise<number>((res, rej) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  // A server-first protocol: the server greets before the client says anything.
  tcpServer = net.createServer((s) => {
    s.write('220 hello from server-first\r\n');
    s.on('data', (d) => s.write(`echo ${d.toString()}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', () => r()));
  grpcPort = await freePort();
  tcpPort = await freePort();
  boundPort = await freePort();
  proxy = await startProxy({
    listeners: [httpListener('grpc', grpcPort, 'g'), tcpListener('tcp', tcpPort, 'smtp'), httpListener('grpc-bound', boundPort, 'b')],
    routes: [routeConfig('g', [
      { match: { prefix: '/echo.Echo/Flaky' }, route: { cluster: 'echo', timeout: { seconds: 0 }, retry_policy: { retry_on: 'unavailable', num_retries: { value: 2 } } } },
      { match: { prefix: '/' }, route: { cluster: 'echo', timeout: { seconds: 0 } } },
    ]), routeConfig('b', [{ match: { prefix: '/' }, route: { cluster: 'echo-bound', timeout: { seconds: 0 } } }])],
    clusters: [
      edsCluster('echo', { http2_protocol_options: {} }), edsCluster('smtp'),
      // Istio's inbound cluster: the source 127.0.0.6 is how the pod's iptables tells the proxy's own calls to its app from captured ones.
      edsCluster('echo-bound', { http2_protocol_options: {}, upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } } }),
    ],
    endpoints: [cla('echo', [backendPort]), cla('smtp', [(tcpServer.address() as net.AddressInfo).port]), cla('echo-bound', [backendPort])],
  });
  boundClient = new def.echo.Echo(`127.0.0.1:${boundPort}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  client = new def.echo.Echo(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
});

afterAll(async () => {
  client.close();
  boundClient.close();
  await proxy.close();
  grpcServer.forceShutdown();
  await new Promise<void>((r) => tcpServer.close(() => r()));
});

describe('gRPC through the proxy (h2c prior knowledge)', () => {
  it('unary call', async () => {
    const r = await new Promise<{ text: string }>((res, rej) => client.Unary({ text: 'hi' }, (e, m) => (e ? rej(e) : res(m!))));
    expect(r.text).toBe('echo:hi');
  });

  it('an HTTP/2 upstream honours upstream_bind_config (the inbound cluster\'s 127.0.0.6 source)', async () => {
    const r = await new Promise<{ text: string }>((res, rej) => boundClient.Unary({ text: 'bound' }, (e, m) => (e ? rej(e) : res(m!))));
    expect(r.text).toBe('echo:bound');
    expect(lastUnaryPeer).toMatch(/^127\.0\.0\.6:/);
  });

  it('bidirectional streaming', async () => {
    const call = client.Chat();
    const got: string[] = [];
    const done = new Promise<void>((res, rej) => { call.on('data', (m: { text: string }) => got.push(m.text)); call.on('end', () => res()); call.on('error', rej); });
    for (const t of ['a', 'b', 'c']) call.write({ text: t });
    call.end();
    await done;
    expect(got).toEqual(['chat:a', 'chat:b', 'chat:c']);
  });

  it('status and message travel in trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((res) => client.Fail({ text: 'x' }, (e) => res(e!)));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toBe('nope');
  });

  it('retries UNAVAILABLE (retry_on: unavailable) so every call succeeds', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await new Promise<{ text: string }>((res, rej) => client.Flaky({ text: String(i) }, (e, m) => (e ? rej(e) : res(m!))));
      expect(r.text).toBe(`flaky:${i}`);
    }
    expect(flakyCalls).toBe(20);
  });

  it('many concurrent calls', async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<string>((res, rej) => client.Unary({ text: String(i) }, (e, m) => (e ? rej(e) : res(m!.text))))));
    expect(rs[199]).toBe('echo:199');
  });

  it('garbage after the h2 preface closes that connection only', async () => {
    const r = await rawExchange(grpcPort, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.alloc(64, 0xff)]));
    expect(r.closed).toBe(true);
    const ok = await new Promise<{ text: string }>((res, rej) => client.Unary({ text: 'still' }, (e, m) => (e ? rej(e) : res(m!))));
    expect(ok.text).toBe('echo:still');
  });
});

describe('TCP proxying', () => {
  it('a server-first protocol works untouched', async () => {
    const s = net.connect(tcpPort, '127.0.0.1');
    const got = await new Promise<string>((resolve) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('220') && !buf.includes('echo')) s.write('EHLO me\r\n');
        if (buf.includes('echo EHLO')) resolve(buf);
      });
    });
    s.destroy();
    expect(got).toBe('220 hello from server-first\r\necho EHLO me\r\n');
  });

  it('random bytes on the TCP port are just forwarded', async () => {
    const r = await rawExchange(tcpPort, Buffer.from([1, 2, 3]), 300);
    expect(r.reply.startsWith('220')).toBe(true);
  });
});
