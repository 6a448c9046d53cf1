import { describe, it, expect } from '@jest/globals';
import { haproxyCfg, nginxConf } from '../../../bench/anchors/configs.js';
import { parseWrk } from '../../../bench/lib/wrk.js';
import { ResponseHeadReader, decodeResponseHead, type ResponseHead } from '../../../bench/lib/ads-client.js';
import { encodeDiscoveryResponse, encodeGrpcFramedDiscoveryResponse, frameAnyAsResponseResource, messageType } from '../../../src/envoy/index.js';

describe('anchor configs', () => {
  it('nginx: one worker, loopback only, keep-alive upstream', () => {
    const c = nginxConf({ listenPort: 18080, upstreamPort: 19090, prefix: '/tmp/x' });
    expect(c).toContain('worker_processes 1;');
    expect(c).toContain('listen 127.0.0.1:18080;');
    expect(c).toContain('server 127.0.0.1:19090;');
    expect(c).toContain('keepalive 64;');
    expect(c).toContain('proxy_http_version 1.1;');
    expect(c).toContain('access_log off;');
    expect(c).not.toMatch(/listen (?!127\.0\.0\.1)/);
  });
  it('nginx two-hop mTLS anchor: the originating side verifies the server by name and presents a client cert', () => {
    const files = { certFile: '/tmp/x/cert.pem', keyFile: '/tmp/x/key.pem', caFile: '/tmp/x/ca.pem' };
    const out = nginxConf({ listenPort: 18082, upstreamPort: 18083, prefix: '/tmp/x', tls: { side: 'originate', ...files, serverName: 'server.bench' } });
    expect(out).toContain('listen 127.0.0.1:18082;');
    expect(out).toContain('proxy_pass https://backend;');
    expect(out).toContain('proxy_ssl_certificate /tmp/x/cert.pem;');
    expect(out).toContain('proxy_ssl_trusted_certificate /tmp/x/ca.pem;');
    expect(out).toContain('proxy_ssl_verify on;');
    expect(out).toContain('proxy_ssl_name server.bench;');
    expect(out).toContain('keepalive 64;');
    const inb = nginxConf({ listenPort: 18083, upstreamPort: 19090, prefix: '/tmp/y', tls: { side: 'terminate', ...files } });
    expect(inb).toContain('listen 127.0.0.1:18083 ssl;');
    expect(inb).toContain('ssl_client_certificate /tmp/x/ca.pem;');
    expect(inb).toContain('ssl_verify_client on;');
    expect(inb).toContain('proxy_pass http://backend;');
    expect(inb).not.toContain('proxy_ssl_');
  });
  it('haproxy: one thread, loopback only, server keep-alive', () => {
    const c = haproxyCfg({ listenPort: 18081, upstreamPort: 19090 });
    expect(c).toContain('nbthread 1');
    expect(c).toContain('bind 127.0.0.1:18081');
    expect(c).toContain('server s1 127.0.0.1:19090');
    expect(c).toContain('http-reuse always');
  });
});

describe('parseWrk', () => {
  const out = `Running 2s test @ http://127.0.0.1:1234/bench
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.11us  100.00us   3.00ms   90.00%
    Req/Sec    30.00k     1.00k   32.00k    80.00%
  Latency Distribution
     50%  500.00us
     75%  550.00us
     90%  600.00us
     99%    1.20ms
  60000 requests in 2.00s, 70.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:  30000.50
Transfer/sec:     35.00MB
`;
  it('reads rate, count, errors and percentiles', () => {
    expect(parseWrk(out)).toEqual({ requestsPerSec: 30000.5, requests: 60000, errors: 6, p50Ms: 0.5, p99Ms: 1.2 });
  });
  it('rejects output without a rate', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/no Requests\/sec/);
  });
});

describe('decodeResponseHead', () => {
  it('reads version, type and nonce and skips resources', () => {
    const typeUrl = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
    const framed = [frameAnyAsResponseResource(typeUrl, Buffer.alloc(300, 1)), frameAnyAsResponseResource(typeUrl, Buffer.alloc(5, 2))];
    const bytes = encodeDiscoveryResponse({ version_info: 'v42', type_url: typeUrl, nonce: 'n7', framedResources: framed });
    expect(decodeResponseHead(bytes)).toEqual({ version: 'v42', typeUrl, nonce: 'n7', bytes: bytes.length });
  });
  it('rejects truncated input', () => {
    expect(() => decodeResponseHead(Uint8Array.from([0x0a, 0x05, 0x61]))).toThrow(/truncated/);
  });
});

describe('ResponseHeadReader', () => {
  const typeUrl = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
  const framed = [frameAnyAsResponseResource(typeUrl, Buffer.alloc(40_000, 3)), frameAnyAsResponseResource(typeUrl, Buffer.alloc(7, 4))];
  const ours = encodeGrpcFramedDiscoveryResponse({ version_info: 'v1', type_url: typeUrl, nonce: '1', framedResources: framed });
  // Fields in number order, as protobuf encoders (go-control-plane's) write them: head after the resources.
  const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const body = Buffer.from(t.encode(t.fromObject({ version_info: 'v2', resources: [{ type_url: typeUrl, value: Buffer.alloc(20_000, 5) }], type_url: typeUrl, nonce: 'n2' })).finish());
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  const stream = Buffer.concat([ours, prefix, body]);

  it.each([1, 3, 16_384, stream.length])('reads two messages from %i-byte chunks', (size) => {
    const got: ResponseHead[] = [];
    const r = new ResponseHeadReader((h) => got.push(h));
    for (let i = 0; i < stream.length; i += size) r.push(stream.subarray(i, i + size));
    expect(got).toEqual([
      { version: 'v1', typeUrl, nonce: '1', bytes: ours.length - 5 },
      { version: 'v2', typeUrl, nonce: 'n2', bytes: body.length },
    ]);
    expect(r.midMessage()).toBe(false);
  });
});
