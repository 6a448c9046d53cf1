// Conformance with a real, independent xDS client: @grpc/grpc-js-xds resolves xds:///<service>
// against Weft's ADS server and makes real gRPC calls to backends on 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { TYPE_URLS, type EnvoyResource } from '../../../src/envoy/index.js';
import { AdsServer } from '../../../src/xds/server.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { makeSnapshot, ResourceEncoder, type SnapshotInput } from '../../../src/xds/snapshot.js';
import { silentLogger } from '../../../src/log/logger.js';

const NODE_ID = 'proxyless~127.0.0.1~echo-client.default~default.svc.cluster.local';
const SERVICE = 'echo.default.svc.cluster.local';

// A tiny JSON-over-gRPC echo service: the reply names the backend that served it.
const echoService = {
  Call: {
    path: '/weft.test.Echo/Call',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: object): Buffer => Buffer.from(JSON.stringify(v)),
    requestDeserialize: (b: Buffer): Record<string, unknown> => JSON.parse(b.toString()) as Record<string, unknown>,
    responseSerialize: (v: object): Buffer => Buffer.from(JSON.stringify(v)),
    responseDeserialize: (b: Buffer): Record<string, unknown> => JSON.parse(b.toString()) as Record<string, unknown>,
  },
} satisfies grpc.ServiceDefinition;

interface EchoClient extends grpc.Client {
  Call(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { backend: string }) => void): void;
}
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo') as unknown as new (
  target: string,
  creds: grpc.ChannelCredentials,
) => EchoClient;

interface Backend {
  name: string;
  port: number;
  server: grpc.Server;
  /** When true, every call fails with UNAVAILABLE. */
  failing: boolean;
  calls: number;
}

async function startBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  const b: Backend = { name, port: 0, server, failing: false, calls: 0 };
  server.addService(echoService, {
    Call: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      b.calls++;
      if (b.failing) cb({ code: grpc.status.UNAVAILABLE, details: `${name} is failing` });
      else cb(null, { backend: name });
    },
  });
  b.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return b;
}

function cla(cluster: string, ports: number[]): EnvoyResource {
  return {
    cluster_name: cluster,
    endpoints: [
      {
        locality: { region: 'r1', zone: 'z1' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: ports.map((p) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } },
          health_status: 'HEALTHY',
        })),
      },
    ],
  };
}

function edsCluster(name: string): EnvoyResource {
  return { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, lb_policy: 'ROUND_ROBIN' };
}

function apiListener(name: string, routeConfig: string, httpFilters: unknown[] = [{ name: 'router', typed_config: { '@type': TYPE_URLS.router } }]): EnvoyResource {
  return {
    name,
    api_listener: {
      api_listener: {
        '@type': TYPE_URLS.httpConnectionManager,
        stat_prefix: name,
        rds: { route_config_name: routeConfig, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: httpFilters,
      },
    },
  };
}

type Routes = EnvoyResource[];

function snapshotInput(backends: Backend[], routes: Routes, extra: Partial<SnapshotInput> = {}): SnapshotInput {
  return {
    listeners: [apiListener(SERVICE, 'echo-routes')],
    routes: [{ name: 'echo-routes', virtual_hosts: [{ name: 'echo', domains: [SERVICE], routes }] }],
    clusters: backends.map((b) => edsCluster(`outbound|50051|${b.name}|${SERVICE}`)),
    endpoints: backends.map((b) => cla(`outbound|50051|${b.name}|${SERVICE}`, [b.port])),
    ...extra,
  };
}

function clusterOf(b: Backend): string {
  return `outbound|50051|${b.name}|${SERVICE}`;
}

describe('ADS server with a real @grpc/grpc-js-xds client', () => {
  const cache = new SnapshotCache();
  const encoder = new ResourceEncoder();
  const grpcServer = new grpc.Server();
  const ads = new AdsServer({ cache, logger: silentLogger() });
  let backends: Backend[] = [];
  let client: EchoClient;
  let version = 0;

  function publish(input: SnapshotInput): void {
    cache.setSnapshot(NODE_ID, makeSnapshot(`v${++version}`, input, encoder));
  }

  function call(md: Record<string, string> = {}): Promise<string> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return new Promise((resolve, reject) =>
      client.Call({}, metadata, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!.backend))),
    );
  }

  async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await fn().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  beforeAll(async () => {
    ads.register(grpcServer);
    const adsPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    backends = await Promise.all(['v1', 'v2', 'v3'].map((n) => startBackend(n)));
    publish(snapshotInput(backends, [{ match: { prefix: '' }, route: { cluster: clusterOf(backends[0]!) } }]));
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: NODE_ID, cluster: 'echo-client', locality: { region: 'r1', zone: 'z1' } },
    });
    grpcXds.register();
    client = new EchoClient(`xds:///${SERVICE}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    grpcServer.forceShutdown();
    for (const b of backends) b.server.forceShutdown();
    await new Promise((r) => setTimeout(r, 50));
  });

  it('resolves xds:///<service> and makes a real call; the client ACKs every type', async () => {
    await expect(call()).resolves.toBe('v1');
    const [st] = ads.status();
    expect(st?.nodeId).toBe(NODE_ID);
    const acked = Object.fromEntries((st?.types ?? []).map((t) => [t.typeUrl, t.ackedVersion === t.sentVersion]));
    expect(acked[TYPE_URLS.listener]).toBe(true);
    expect(acked[TYPE_URLS.route]).toBe(true);
    expect(acked[TYPE_URLS.cluster]).toBe(true);
  });

  it('splits traffic by weight within 5% over 2,000 calls', async () => {
    const [v1, v2] = backends as [Backend, Backend];
    publish(
      snapshotInput(backends, [
        {
          match: { prefix: '' },
          route: { weighted_clusters: { clusters: [{ name: clusterOf(v1), weight: { value: 75 } }, { name: clusterOf(v2), weight: { value: 25 } }] } },
        },
      ]),
    );
    await eventually('v2 to receive traffic', async () => (await call()) === 'v2');
    const counts: Record<string, number> = {};
    const N = 2000;
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => call()));
      for (const b of batch) counts[b] = (counts[b] ?? 0) + 1;
    }
    expect(Math.abs((counts['v1'] ?? 0) / N - 0.75)).toBeLessThan(0.05);
    expect(Math.abs((counts['v2'] ?? 0) / N - 0.25)).toBeLessThan(0.05);
  });

  it('routes on a header', async () => {
    const [v1, , v3] = backends as [Backend, Backend, Backend];
    publish(
      snapshotInput(backends, [
        { match: { prefix: '', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] }, route: { cluster: clusterOf(v3) } },
        { match: { prefix: '' }, route: { cluster: clusterOf(v1) } },
      ]),
    );
    await eventually('header route', async () => (await call({ 'end-user': 'jason' })) === 'v3');
    for (let i = 0; i < 20; i++) {
      expect(await call({ 'end-user': 'jason' })).toBe('v3');
      expect(await call({ 'end-user': 'other' })).toBe('v1');
    }
  });

  it('retries on unavailable', async () => {
    const [v1, v2] = backends as [Backend, Backend];
    // One cluster with two endpoints, one of which always fails.
    const shared = clusterOf(v1);
    const input = snapshotInput(backends, [
      { match: { prefix: '' }, route: { cluster: shared, retry_policy: { retry_on: 'unavailable', num_retries: { value: 3 } } } },
    ]);
    input.endpoints = [cla(shared, [v1.port, v2.port]), ...backends.slice(1).map((b) => cla(clusterOf(b), [b.port]))];
    publish(input);
    await eventually('both endpoints in rotation', async () => (await call()) === 'v2');
    v2.failing = true;
    try {
      const before = v2.calls;
      // Sequential calls: round robin then sends each retry to the other endpoint.
      for (let i = 0; i < 50; i++) expect(await call()).toBe('v1');
      expect(v2.calls).toBeGreaterThan(before); // the failing endpoint was really tried
    } finally {
      v2.failing = false;
    }
  });

  it('fails over when an endpoint goes away', async () => {
    const [v1, v2] = backends as [Backend, Backend];
    const shared = clusterOf(v1);
    const input = snapshotInput(backends, [{ match: { prefix: '' }, route: { cluster: shared } }]);
    input.endpoints = [cla(shared, [v1.port, v2.port]), ...backends.slice(1).map((b) => cla(clusterOf(b), [b.port]))];
    publish(input);
    await eventually('both endpoints in rotation', async () => (await call()) === 'v2');
    const gone = { ...input, endpoints: [cla(shared, [v2.port]), ...backends.slice(1).map((b) => cla(clusterOf(b), [b.port]))] };
    publish(gone);
    await eventually('v1 removed', async () => {
      const rs = await Promise.all(Array.from({ length: 20 }, () => call()));
      return rs.every((r) => r === 'v2');
    });
  });

  it('a NACKed resource is reported and the client keeps its last good config', async () => {
    const [v1] = backends as [Backend];
    publish(snapshotInput(backends, [{ match: { prefix: '' }, route: { cluster: clusterOf(v1) } }]));
    await eventually('back to v1', async () => (await call()) === 'v1');
    const nack = new Promise<{ nodeId: string; message: string; typeUrl: string }>((resolve) => ads.once('nack', resolve));
    // The router filter must be last and only last: gRPC rejects this listener.
    const bad = snapshotInput(backends, [{ match: { prefix: '' }, route: { cluster: clusterOf(v1) } }]);
    const router = (name: string): unknown => ({ name, typed_config: { '@type': TYPE_URLS.router } });
    bad.listeners = [apiListener(SERVICE, 'echo-routes', [router('first'), router('second')])];
    publish(bad);
    const n = await nack;
    expect(n.nodeId).toBe(NODE_ID);
    expect(n.typeUrl).toBe(TYPE_URLS.listener);
    expect(n.message.length).toBeGreaterThan(0);
    const lds = ads.status()[0]!.types.find((t) => t.typeUrl === TYPE_URLS.listener)!;
    expect(lds.lastNack?.message).toBe(n.message);
    expect(lds.ackedVersion).not.toBe(lds.sentVersion);
    const sentBefore = ads.metrics.responsesSent;
    // Still served by the last good config, and the bad version is not pushed again.
    for (let i = 0; i < 10; i++) expect(await call()).toBe('v1');
    await new Promise((r) => setTimeout(r, 300));
    expect(ads.metrics.responsesSent).toBe(sentBefore);
  });
});
