import { describe, it, expect } from '@jest/globals';
import { haproxyCfg, nginxConf } from '../../../bench/anchors/configs.js';
import { parseWrk } from '../../../bench/lib/wrk.js';
import { decodeResponseHead } from '../../../bench/lib/ads-client.js';
import { encodeDiscoveryResponse, frameAnyAsResponseResource } from '../../../src/envoy/index.js';

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
