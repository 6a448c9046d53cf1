// A real @grpc/grpc-js-xds proxyless client against startControlPlane on the real cluster: the
// backend is a gRPC server on 127.0.0.1, published through a ServiceEntry with static
// endpoints (EndpointSlices may not hold loopback addresses; ServiceEntries may). Routing
// comes from a DestinationRule + VirtualService applied to the API server.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, type ControlPlane } from '../../../src/xds/controlplane.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { ensureIstioCrds } from '../../helpers/crds.js';

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
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo') as unknown as new (target: string, creds: grpc.ChannelCredentials) => EchoClient;

async function startBackend(name: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(echoService, { Call: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { backend: name }) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port };
}

describe('startControlPlane with a real @grpc/grpc-js-xds proxyless client', () => {
  const clients = clusterClients();
  let createdCrds: string[] = [];
  let ns: TestNamespace;
  let cp: ControlPlane;
  let client: EchoClient;
  const backends: Array<{ server: grpc.Server; port: number }> = [];
  let host = '';

  function call(md: Record<string, string> = {}): Promise<string> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return new Promise((resolve, reject) => client.Call({}, metadata, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!.backend))));
  }

  function create(plural: string, body: object): Promise<unknown> {
    return clients.custom.createNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural, body });
  }

  beforeAll(async () => {
    createdCrds = await ensureIstioCrds(clients);
    ns = await createTestNamespace('xds-cp');
    host = `echo.${ns.name}.weft.test`;
    backends.push(await startBackend('v1'), await startBackend('v2'));
    await create('serviceentries', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'echo' },
      spec: {
        hosts: [host],
        location: 'MESH_INTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 50051, name: 'grpc', protocol: 'GRPC' }],
        endpoints: backends.map((b, i) => ({ address: '127.0.0.1', ports: { grpc: b.port }, labels: { version: `v${i + 1}` }, locality: 'r1/z1' })),
      },
    });
    await create('destinationrules', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'echo' },
      spec: { host, subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
    });
    await create('virtualservices', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'echo' },
      spec: {
        hosts: [host],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host, subset: 'v2' } }] },
          { route: [{ destination: { host, subset: 'v1' } }] },
        ],
      },
    });
    cp = await startControlPlane({ kubeClients: clients, logger: silentLogger(), xdsPort: 0, debounceMs: 50, syncTimeoutMs: 30_000 });
    // The informers may not have seen the objects yet at sync: wait until the model has them.
    await waitFor('model with the ServiceEntry and VirtualService', async () => {
      const m = cp.source.model();
      return m.services.some((s) => s.hostname === host) && m.virtualServices.some((v) => v.metadata.namespace === ns.name);
    }, 20_000);
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: `proxyless~127.0.0.1~echo-client.${ns.name}~${ns.name}.svc.cluster.local`, cluster: 'echo-client', locality: { region: 'r1', zone: 'z1' } },
    });
    grpcXds.register();
    client = new EchoClient(`xds:///${host}`, grpc.credentials.createInsecure());
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cp?.close();
    for (const b of backends) b.server.forceShutdown();
    await ns?.cleanup();
    for (const name of createdCrds) await clients.apiext.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  }, 60_000);

  it('resolves xds:///<host> from the ServiceEntry and calls the default subset', async () => {
    await waitFor('a call to v1', async () => (await call()) === 'v1', 20_000);
    const p = cp.status().proxies.find((x) => x.nodeId.startsWith('proxyless~'));
    expect(p?.flavour).toBe('proxyless');
    expect(p?.types.every((t) => t.state === 'SYNCED')).toBe(true);
  });

  it('routes on the end-user header from the VirtualService', async () => {
    expect(await call({ 'end-user': 'jason' })).toBe('v2');
    expect(await call({ 'end-user': 'someone' })).toBe('v1');
  });

  it('follows a VirtualService edit to a 50/50 split', async () => {
    const live = (await clients.custom.getNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural: 'virtualservices', name: 'echo' })) as {
      metadata: { resourceVersion: string };
    };
    await clients.custom.replaceNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: ns.name,
      plural: 'virtualservices',
      name: 'echo',
      body: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'echo', resourceVersion: live.metadata.resourceVersion },
        spec: { hosts: [host], http: [{ route: [{ destination: { host, subset: 'v1' }, weight: 50 }, { destination: { host, subset: 'v2' }, weight: 50 }] }] },
      },
    });
    await waitFor('v2 without a header', async () => (await call()) === 'v2', 20_000);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i += 50) {
      for (const b of await Promise.all(Array.from({ length: 50 }, () => call()))) counts[b] = (counts[b] ?? 0) + 1;
    }
    expect(Math.abs((counts['v1'] ?? 0) / 400 - 0.5)).toBeLessThan(0.1);
  });
});
