// xDS benchmark: N ADS clients x M services (5 endpoints each), on loopback. The control plane
// runs in this process (pinned to core 1 when possible) and the clients in child processes of
// their own on core 0 (bench/lib/ads-client-pool.ts), so this process's RSS and CPU are the
// server's. One VirtualService weight changes; we measure the time from the change until every
// client has received the new RouteConfiguration and sent its ACK (p50/p99/max), once through
// the debounce (100 ms, as deployed) and once pushed immediately (pushNow: the push itself).
// Anchor, measured in the same run with the same clients: a minimal grpc-js server that just
// writes the pre-encoded bytes of the identical RDS response to every stream (the transport floor).
// Repetitions: 5 changes of each kind (quick 3); median and [min..max]. Bounded: at most 1,000
// clients, every wait has a deadline.
//   node dist/bench/xds.js [--quick] [--clients N]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  GrpcFramedResponse,
  TYPE_URLS,
  adsServiceDefinition,
  encodeGrpcFramedDiscoveryResponse,
  type AdsStream,
  type DiscoveryRequest,
} from '../src/envoy/index.js';
import type { VirtualService } from '../src/api/istio/types.js';
import { silentLogger } from '../src/log/logger.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../src/xds/controlplane.js';
import { emptyModel, type MeshModel } from '../src/xds/model.js';
import { AdsClientPool, convergence, type Convergence } from './lib/ads-client-pool.js';
import { canPin } from './lib/procs.js';
import { aggregateReps, formatTable, writeJson, type BenchRow } from './lib/report.js';

const NS = 'bench';
const PORT = 8080;
const CLIENT_CORE = 0;
const SERVER_CORE = 1;

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

/** Every connected proxy has ACKed every type: the server has read all ACKs. */
function allAcked(cp: ControlPlane, clients: number): boolean {
  const ps = cp.status().proxies;
  return ps.length === clients && ps.every((p) => p.types.every((t) => t.state === 'SYNCED'));
}

function serverCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The anchor: accepts ADS streams, answers each subscription with a tiny response, and on push() writes the same pre-encoded bytes to every stream. */
async function startAnchor(): Promise<{ address: string; push: (message: GrpcFramedResponse) => void; close: () => void }> {
  const server = new grpc.Server();
  const streams = new Set<AdsStream>();
  const hello = (typeUrl: string): GrpcFramedResponse => new GrpcFramedResponse(encodeGrpcFramedDiscoveryResponse({ version_info: 'a1', type_url: typeUrl, nonce: 'a1', framedResources: [] }));
  server.addService(adsServiceDefinition, {
    StreamAggregatedResources: (call: AdsStream) => {
      streams.add(call);
      call.on('data', (req: DiscoveryRequest) => {
        if (!req.response_nonce) call.write(hello(req.type_url ?? ''));
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
    push: (message) => {
      for (const s of streams) s.write(message);
    },
    close: () => server.forceShutdown(),
  };
}

function rssMb(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

export async function run(opts: { quick: boolean; clients?: number }): Promise<BenchRow[]> {
  const nClients = opts.clients ?? (opts.quick ? 200 : 1000);
  if (!(nClients >= 1 && nClients <= 1000)) throw new Error(`bench/xds: clients must be 1..1000, got ${nClients}`);
  const nServices = 1000;
  const nReps = opts.quick ? 3 : 5;
  const timeoutMs = 60_000;
  const scenario = `${nClients} clients x ${nServices} services`;
  // The server is this process: keep it off the clients' core.
  if (canPin(SERVER_CORE)) spawnSync('/usr/bin/taskset', ['-pc', String(SERVER_CORE), String(process.pid)], { stdio: 'ignore' });
  const source = new StaticModelSource(benchModel(nServices, 90));
  const cp = await startControlPlane({ source, logger: silentLogger(), xdsPort: 0, host: '127.0.0.1', debounceMs: 100, debounceMaxMs: 10_000 });
  let pool: AdsClientPool | undefined;
  try {
    await new Promise((r) => setTimeout(r, 300));
    const rssIdle = rssMb();
    // One client first: its snapshot (shared by all the others) is then built and counted.
    const first = await AdsClientPool.connect(cp.address, 1, { core: CLIENT_CORE, timeoutMs });
    await until('the first client\'s ACKs', () => allAcked(cp, 1), timeoutMs);
    await new Promise((r) => setTimeout(r, 300));
    const rssOne = rssMb();
    first.pool.close();
    await until('the first client to go', () => cp.status().proxies.length === 0, timeoutMs);
    const connected = await AdsClientPool.connect(cp.address, nClients, { core: CLIENT_CORE, timeoutMs, firstId: 1 });
    pool = connected.pool;
    await until('initial ACKs', () => allAcked(cp, nClients), timeoutMs);
    await new Promise((r) => setTimeout(r, 1000));
    const rssSynced = rssMb();

    let weight = 90;
    const flip = (): void => source.set(benchModel(nServices, (weight = weight === 90 ? 80 : 90)));
    const reps: Array<{ debounced: Convergence; immediate: Convergence; cpuMs: number; clientCpuMs: number; translateMs: number }> = [];
    for (let k = 0; k < nReps; k++) {
      const debounced = convergence(await pool.measure(TYPE_URLS.route, flip, timeoutMs));
      await until('ACKs of the debounced push', () => allAcked(cp, nClients), timeoutMs);
      const cpu0 = serverCpuMs();
      const immediate = convergence(await pool.measure(TYPE_URLS.route, () => { flip(); cp.pushNow(); }, timeoutMs));
      const clientCpuMs = pool.lastClientCpuMs;
      await until('ACKs of the immediate push', () => allAcked(cp, nClients), timeoutMs);
      reps.push({ debounced, immediate, cpuMs: serverCpuMs() - cpu0, clientCpuMs, translateMs: cp.status().lastPush?.translateMs ?? Number.NaN });
    }

    // The identical RDS response as bytes (two versions, so each replay is a change), replayed
    // by the anchor to the same kind of clients.
    const snap = cp.cache.getSnapshot(cp.status().proxies[0]!.nodeId)!;
    const rds = [...snap.types.get(TYPE_URLS.route)!.byName.values()].map((r) => r.framed);
    const rdsMessages = ['anchor-2', 'anchor-3'].map((v) => new GrpcFramedResponse(encodeGrpcFramedDiscoveryResponse({ version_info: v, type_url: TYPE_URLS.route, nonce: v, framedResources: rds })));
    pool.close();
    pool = undefined;
    await cp.close();

    const anchor = await startAnchor();
    const floors: Convergence[] = [];
    try {
      const a = await AdsClientPool.connect(anchor.address, nClients, { core: CLIENT_CORE, timeoutMs });
      pool = a.pool;
      for (let k = 0; k < nReps; k++) {
        floors.push(convergence(await pool.measure(TYPE_URLS.route, () => anchor.push(rdsMessages[k % 2]!), timeoutMs)));
        await new Promise((r) => setTimeout(r, 300)); // ACKs drain
      }
    } finally {
      pool?.close();
      pool = undefined;
      anchor.close();
    }
    const common = { scenario: `${scenario}, RDS ${((rdsMessages[0]!.bytes.length - 5) / 1e6).toFixed(2)} MB`, unit: 'ms', anchorName: 'replay grpc-js', better: 'lower' as const };
    const perRep = reps.map(({ debounced, immediate, cpuMs, clientCpuMs, translateMs }, k): BenchRow[] => {
      const floor = floors[k]!;
      return [
        { ...common, measure: 'change -> all ACKed p99, 100 ms debounce', weft: debounced.p99, anchor: floor.p99, goal: 'p99 < 1 s (absolute)', maxAbs: 1000 },
        { ...common, measure: 'change -> all ACKed p50, 100 ms debounce', weft: debounced.p50, anchor: floor.p50 },
        { ...common, measure: 'pushNow -> all ACKed p99', weft: immediate.p99, anchor: floor.p99, goal: '<= 5x anchor', maxRatio: 5 },
        { ...common, measure: 'pushNow -> all ACKed p50', weft: immediate.p50, anchor: floor.p50 },
        { ...common, measure: 'translate + encode per push', weft: translateMs, anchor: floor.max },
        { ...common, measure: 'server CPU per push (user+sys, incl. reading ACKs)', weft: cpuMs, anchor: floor.max },
        { ...common, measure: 'clients\' CPU for that push (harness, all client processes)', weft: clientCpuMs, anchor: floor.max },
      ];
    });
    return [
      ...aggregateReps(perRep),
      { ...common, measure: `server RSS per connected client, (N - 0 clients) / N (${rssIdle.toFixed(0)} MB at 0)`, unit: 'MB', weft: (rssSynced - rssIdle) / nClients, anchor: 0.5, anchorName: 'goal 0.5 MB', goal: 'server <= 0.5 MB', maxAbs: 0.5 },
      { ...common, measure: `server RSS per client beyond the first (shared snapshot ${(rssOne - rssIdle).toFixed(0)} MB)`, unit: 'MB', weft: (rssSynced - rssOne) / nClients, anchor: 0.5, anchorName: 'goal 0.5 MB' },
    ];
  } finally {
    pool?.close();
    await cp.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--clients');
  run({ quick, clients: i > 0 ? Number(process.argv[i + 1]) : undefined }).then(
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
