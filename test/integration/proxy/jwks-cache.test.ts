// Remote JWKS through a real cluster manager and a real JWKS server on 127.0.0.1: the fetch goes
// only to the cluster's endpoint; success is cached for cache_duration (clock injected); failures
// (non-200, bad JSON, oversize, timeout, missing cluster) leave the provider without keys and are
// retried after FAILED_REFETCH_MS; keys already fetched stay in use when a refresh fails.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { ClusterManager } from '../../../src/proxy/cluster-manager.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import { FAILED_REFETCH_MS, JwksCache, MAX_JWKS_BYTES } from '../../../src/proxy/authn/jwks-cache.js';
import type { RemoteJwks } from '../../../src/proxy/authn/model.js';
import { jwksOf, makeKey } from '../../helpers/jwt.js';

const key = makeKey('ES256', 'remote');
let mode: 'ok' | 'status500' | 'garbage' | 'huge' | 'hang' = 'ok';
let hits = 0;
let server: http.Server;
let port = 0;
let clock = 1_000_000;
const clusters = new ClusterManager({ now: () => clock, rand: Math.random, identity: () => undefined });

function remote(path = '/jwks.json', over: Partial<RemoteJwks> = {}): RemoteJwks {
  return { uri: `http://idp.example.test${path}`, cluster: 'jwks|idp', timeoutMs: 300, cacheMs: 60_000, ...over };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    // The Host and path come from the URI; the address from the cluster.
    if (req.headers.host !== 'idp.example.test' || req.url !== '/jwks.json') { res.writeHead(404).end(); return; }
    if (mode === 'status500') { res.writeHead(500).end('boom'); return; }
    if (mode === 'garbage') { res.writeHead(200).end('{"keys": ['); return; }
    if (mode === 'huge') { res.writeHead(200).end(`{"keys":[],"pad":"${'x'.repeat(MAX_JWKS_BYTES)}"}`); return; }
    if (mode === 'hang') return; // never answers: the timeout must fire
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwksOf(key));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
  clusters.update(buildProxyConfig({
    clusters: [{
      name: 'jwks|idp', type: 'STATIC', connect_timeout: { seconds: 1 }, lb_policy: 'ROUND_ROBIN',
      load_assignment: { cluster_name: 'jwks|idp', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    }],
  }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  clusters.close();
});

describe('JwksCache', () => {
  it('fetches through the cluster, then serves from cache until cache_duration passes', async () => {
    const cache = new JwksCache({ clusters, logger: silentLogger(), now: () => clock });
    const r = remote();
    expect(cache.keysFor(r)).toBeUndefined();
    await cache.refresh(r);
    expect(cache.keysFor(r)?.map((k) => k.kid)).toEqual(['remote']);
    const before = hits;
    expect(cache.keysFor(r)).toBeDefined();
    expect(hits).toBe(before);
    clock += 60_001;
    expect(cache.keysFor(r)).toBeDefined(); // stale keys still usable while the refresh runs
    await cache.refresh(r);
    expect(hits).toBe(before + 1);
  });

  it.each([
    ['a non-200 answer', 'status500'],
    ['a body that is not a JWKS', 'garbage'],
    ['a body over the size limit', 'huge'],
    ['no answer within the timeout', 'hang'],
  ] as const)('%s leaves the provider without keys; the retry after the back-off succeeds', async (_n, m) => {
    mode = m;
    const cache = new JwksCache({ clusters, logger: silentLogger(), now: () => clock });
    const r = remote();
    await cache.refresh(r);
    expect(cache.keysFor(r)).toBeUndefined();
    mode = 'ok';
    await cache.refresh(r); // still backing off: no new fetch
    expect(cache.keysFor(r)).toBeUndefined();
    clock += FAILED_REFETCH_MS;
    cache.keysFor(r); // due again: starts the fetch
    await cache.refresh(r);
    expect(cache.keysFor(r)?.length).toBe(1);
  });

  it('keeps the last good keys when a later refresh fails', async () => {
    const cache = new JwksCache({ clusters, logger: silentLogger(), now: () => clock });
    const r = remote();
    await cache.refresh(r);
    mode = 'status500';
    clock += 60_001;
    await cache.refresh(r);
    expect(cache.keysFor(r)?.length).toBe(1);
    mode = 'ok';
  });

  it('never fetches from anywhere but the named cluster', async () => {
    const cache = new JwksCache({ clusters, logger: silentLogger(), now: () => clock });
    const r = remote('/jwks.json', { uri: `http://127.0.0.1:${port}/jwks.json`, cluster: 'no-such-cluster' });
    const before = hits;
    await cache.refresh(r);
    expect(cache.keysFor(r)).toBeUndefined();
    expect(hits).toBe(before);
  });
});
