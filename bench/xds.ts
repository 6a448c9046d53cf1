// xDS benchmark: N ADS clients x M services (5 endpoints each), all on loopback in one process.
// One VirtualService weight changes; we measure the time from the change until every client
// has received the new RouteConfiguration and sent its ACK (p50/p99/max), once through the
// debounce (100 ms, as deployed) and once pushed immediately (pushNow: the push itself).
// Anchor, measured in the same run with the same clients: a minimal grpc-js server that just
// writes pre-encoded bytes of the identical RDS response to every stream (the transport floor).
// Bounded: at most 1,000 clients, every wait has a deadline.
//   node dist/bench/xds.js [--quick]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  ADS_METHOD_PATH,
  ADS_SERVICE_NAME,
  TYPE_URLS,
  decodeDiscoveryRequest,
  encodeDiscoveryRequest,
  encodeDiscoveryResponse,
  messageType,
  type DiscoveryRequest,
} from '../src/envoy/index.js';
import type { VirtualService } from '../src/api/istio/types.js';
import { silentLogger } from '../src/log/logger.js';
import { startControlPlane, StaticModelSource } from '../src/xds/controlplane.js';
import { emptyModel, type MeshModel } from '../src/xds/model.js';
import { formatTable, percentile, writeJson, type BenchRow } from './lib/report.js';

const TYPES = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route];
const NS = 'bench';
const PORT = 8080;

interface ResponseHead {
  version: string;
  typeUrl: string;
  nonce: string;
}

/** Decodes only what a client needs to ACK; both servers are measured with this client. */
function decodeHead(b: Buffer): ResponseHead {
  const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const m = t.decode(b) as unknown as { version_info?: string; type_url?: string; nonce?: string };
  return { version: m.version_info ?? '', typeUrl: m.type_url ?? '', nonce: m.nonce ?? '' };
}

const leanAds = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (r: DiscoveryRequest): Buffer => encodeDiscoveryRequest(r),
    requestDeserialize: (b: Buffer): DiscoveryRequest => decodeDiscoveryRequest(b),
    responseSerialize: (b: Buffer): Buffer => b,
    responseDeserialize: decodeHead,
  },
} satisfies grpc.ServiceDefinition;
type LeanStream = grpc.ClientDuplexStream<DiscoveryRequest, ResponseHead>;
const LeanClient = grpc.makeGenericClientConstructor(leanAds, ADS_SERVICE_NAME) as unknown as new (
  a: string,
  c: grpc.ChannelCredentials,
  o: grpc.ChannelOptions,
) => grpc.Client & { StreamAggregatedResources(): LeanStream };

class BenchClient {
  readonly versions = new Map<string, string>();
  /** When a response of this type with a version other than `baseline` arrived (ms, performance.now). */
  changedAt: number | undefined;
  watchType = '';
  baseline = '';
  private readonly client: grpc.Client & { StreamAggregatedResources(): LeanStream };
  private readonly stream: LeanStream;

  constructor(address: string, readonly nodeId: string) {
    // A local subchannel pool: one TCP connection per client, like real proxies.
    this.client = new LeanClient(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 });
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('error', () => undefined);
    this.stream.on('data', (r: ResponseHead) => {
      this.versions.set(r.typeUrl, r.version);
      this.stream.write({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: r.typeUrl === TYPE_URLS.route ? [String(PORT)] : [] });
      if (r.typeUrl === this.watchType && r.version !== this.baseline && this.changedAt === undefined) this.changedAt = performance.now();
    });
    for (const t of TYPES) this.stream.write({ node: { id: nodeId, cluster: 'bench' }, type_url: t, resource_names: t === TYPE_URLS.route ? [String(PORT)] : [] });
  }

  arm(typeUrl: string): void {
    this.watchType = typeUrl;
    this.baseline = this.versions.get(typeUrl) ?? '';
    this.changedAt = undefined;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

function virtualService(weight: number): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'svc-0', namespace: NS },
    spec: { hosts: ['svc-0'], http: [{ route: [{ destination: { host: 'svc-0', subset: 'v1' }, weight }, { destination: { host: 'svc-0', subset: 'v2' }, weight: 100 - weight }] }] },
  };
}

/** M services on one HTTP port, 5 endpoints each (v1/v2 labels), one DestinationRule + VirtualService. */
export function benchModel(services: number, weight: number): MeshModel {
  const m = emptyModel();
  for (let i = 0; i < services; i++) {
    const host = `svc-${i}.${NS}.svc.cluster.local`;
    m.services.push({ hostname: host, name: `svc-${i}`, namespace: NS, addresses: [`10.96.${i >> 8}.${i & 255}`], ports: [{ name: 'http', port: PORT, protocol: 'HTTP' }] });
    for (let e = 0; e < 5; e++) {
      const n = i * 5 + e;
      m.endpoints.push({ hostname: host, portName: 'http', address: `10.88.${n >> 8}.${n & 255}`, port: PORT, labels: { app: `svc-${i}`, version: e < 3 ? 'v1' : 'v2' }, healthy: true, namespace: NS, serviceAccount: `svc-${i}` });
    }
  }
  m.destinationRules.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'svc-0', namespace: NS }, spec: { host: 'svc-0', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } });
  m.virtualServices.push(virtualService(weight));
  return m;
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Convergence {
  p50: number;
  p99: number;
  max: number;
}

async function converge(clients: BenchClient[], typeUrl: string, change: () => void, timeoutMs: number): Promise<Convergence> {
  for (const c of clients) c.arm(typeUrl);
  const t0 = performance.now();
  change();
  await until('all clients to receive the change', () => clients.every((c) => c.changedAt !== undefined), timeoutMs);
  const ds = clients.map((c) => c.changedAt! - t0).sort((a, b) => a - b);
  return { p50: percentile(ds, 50), p99: percentile(ds, 99), max: ds[ds.length - 1]! };
}

/** The anchor: accepts ADS streams, answers each subscription with a tiny response, and on push() writes the same pre-encoded bytes to every stream. */
async function startAnchor(): Promise<{ address: string; push: (bytes: Buffer) => void; close: () => void }> {
  const server = new grpc.Server();
  const streams = new Set<grpc.ServerDuplexStream<DiscoveryRequest, Buffer>>();
  server.addService(leanAds, {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) => {
      streams.add(call);
      call.on('data', (req: DiscoveryRequest) => {
        if (!req.response_nonce) call.write(encodeDiscoveryResponse({ version_info: 'a1', type_url: req.type_url ?? '', nonce: 'a1', framedResources: [] }));
      });
      call.on('error', () => streams.delete(call));
      call.on('cancelled', () => streams.delete(call));
      call.on('end', () => {
        streams.delete(call);
        call.end();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    address: `127.0.0.1:${port}`,
    push: (bytes) => {
      for (const s of streams) s.write(bytes);
    },
    close: () => server.forceShutdown(),
  };
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const nClients = opts.quick ? 100 : 1000;
  const nServices = 1000;
  const timeoutMs = 60_000;
  const scenario = `${nClients} clients x ${nServices} services`;
  const source = new StaticModelSource(benchModel(nServices, 90));
  const cp = await startControlPlane({ source, logger: silentLogger(), xdsPort: 0, debounceMs: 100, debounceMaxMs: 10_000 });
  const clients: BenchClient[] = [];
  try {
    // Sidecars in one namespace that are clients of the services (not endpoints themselves):
    // they share one translation group, as replicas of one workload do.
    const memBefore = process.memoryUsage().rss;
    for (let i = 0; i < nClients; i++) clients.push(new BenchClient(cp.address, `sidecar~10.90.${i >> 8}.${i & 255}~client-${i}.${NS}~${NS}.svc.cluster.local`));
    await until('initial config on all clients', () => clients.every((c) => TYPES.every((t) => c.versions.has(t))), timeoutMs);
    await until('initial ACKs', () => cp.status().proxies.length === nClients && cp.status().proxies.every((p) => p.types.every((t) => t.state === 'SYNCED')), timeoutMs);
    const memPerClientMb = (process.memoryUsage().rss - memBefore) / nClients / 1e6;

    let weight = 90;
    const debounced = await converge(clients, TYPE_URLS.route, () => source.set(benchModel(nServices, (weight = weight === 90 ? 80 : 90))), timeoutMs);
    const cpuBefore = process.cpuUsage();
    const immediate = await converge(
      clients,
      TYPE_URLS.route,
      () => {
        source.set(benchModel(nServices, (weight = weight === 90 ? 80 : 90)));
        cp.pushNow();
      },
      timeoutMs,
    );
    const cpu = process.cpuUsage(cpuBefore);
    const push = cp.status().lastPush;

    // The identical RDS response as bytes, replayed by the anchor to the same kind of clients.
    const snap = cp.cache.getSnapshot(clients[0]!.nodeId)!;
    const rds = snap.types.get(TYPE_URLS.route)!;
    const rdsBytes = encodeDiscoveryResponse({ version_info: 'anchor-2', type_url: TYPE_URLS.route, nonce: 'anchor-2', framedResources: [...rds.byName.values()].map((r) => r.framed) });
    for (const c of clients) c.close();
    clients.length = 0;

    const anchor = await startAnchor();
    const anchorClients: BenchClient[] = [];
    let floor: Convergence;
    try {
      for (let i = 0; i < nClients; i++) anchorClients.push(new BenchClient(anchor.address, `anchor-${i}`));
      await until('anchor clients subscribed', () => anchorClients.every((c) => TYPES.every((t) => c.versions.has(t))), timeoutMs);
      floor = await converge(anchorClients, TYPE_URLS.route, () => anchor.push(rdsBytes), timeoutMs);
    } finally {
      for (const c of anchorClients) c.close();
      anchor.close();
    }
    const common = { scenario: `${scenario}, RDS ${(rdsBytes.length / 1e6).toFixed(2)} MB`, unit: 'ms', anchorName: 'replay grpc-js', better: 'lower' as const };
    const rows: BenchRow[] = [
      { ...common, measure: 'change -> all ACKed p99, 100 ms debounce', weft: debounced.p99, anchor: floor.p99, goal: 'p99 < 1 s (absolute)' },
      { ...common, measure: 'change -> all ACKed p50, 100 ms debounce', weft: debounced.p50, anchor: floor.p50 },
      { ...common, measure: 'pushNow -> all ACKed p99', weft: immediate.p99, anchor: floor.p99, goal: '<= 5x anchor', maxRatio: 5 },
      { ...common, measure: 'pushNow -> all ACKed p50', weft: immediate.p50, anchor: floor.p50 },
      { ...common, measure: 'translate + encode per push', weft: push?.translateMs ?? Number.NaN, anchor: floor.max },
      { ...common, measure: 'CPU per push (user+sys)', weft: (cpu.user + cpu.system) / 1000, anchor: floor.max },
      // Server and clients share one process here, so this overstates the server's share.
      { ...common, measure: 'RSS per client (server+client, one process)', unit: 'MB', weft: memPerClientMb, anchor: 0.5, anchorName: 'goal 0.5 MB', goal: 'server <= 0.5 MB' },
    ];
    return rows;
  } finally {
    for (const c of clients) c.close();
    await cp.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  run({ quick }).then(
    (rows) => {
      console.log(formatTable(rows));
      writeJson('bench/results/xds.json', { when: new Date().toISOString(), quick, rows });
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
