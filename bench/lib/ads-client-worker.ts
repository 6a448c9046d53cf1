// Child process that runs a share of the lean ADS clients (bench/lib/ads-client.ts), so the
// server under test is measured in a process of its own. Driven over the IPC channel by
// ads-client-pool.ts: {cmd:'connect'} -> {ev:'synced'}, {cmd:'arm'} -> {ev:'armed'} and later
// {ev:'changed', at:[epoch ms]}, {cmd:'close'}. Loopback only; every wait has a deadline.
import { AdsBenchClient } from './ads-client.js';

export type WorkerCommand =
  | { cmd: 'connect'; address: string; from: number; count: number; timeoutMs: number }
  | { cmd: 'arm'; typeUrl: string; timeoutMs: number }
  | { cmd: 'close' };

export type WorkerEvent =
  | { ev: 'synced'; sizes: Record<string, number> }
  | { ev: 'armed' }
  | { ev: 'changed'; at: number[]; cpuMs: number }
  | { ev: 'failed'; message: string };

/** The node id of bench client i: sidecars of one workload in namespace "bench". */
export function benchNodeId(i: number): string {
  return `sidecar~10.90.${i >> 8}.${i & 255}~client-${i}.bench~bench.svc.cluster.local`;
}

const clients: AdsBenchClient[] = [];

function send(e: WorkerEvent): void {
  process.send!(e);
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    const bad = clients.find((c) => c.failed !== undefined);
    if (bad) throw new Error(`client ${bad.nodeId}: ${bad.failed}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function handle(m: WorkerCommand): Promise<void> {
  if (m.cmd === 'connect') {
    if (!/^127\.\d+\.\d+\.\d+:\d+$/.test(m.address)) throw new Error(`ads-client-worker: loopback addresses only, got ${m.address}`);
    if (!(m.count >= 1 && m.count <= 5000)) throw new Error(`ads-client-worker: count must be 1..5000, got ${m.count}`);
    for (let i = m.from; i < m.from + m.count; i++) {
      clients.push(new AdsBenchClient(m.address, benchNodeId(i)));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let connections progress
    }
    await until(`${m.count} clients to receive the initial config`, () => clients.every((c) => c.synced()), m.timeoutMs);
    send({ ev: 'synced', sizes: Object.fromEntries(clients[0]!.sizes) });
  } else if (m.cmd === 'arm') {
    for (const c of clients) c.arm(m.typeUrl);
    const cpu = process.cpuUsage();
    send({ ev: 'armed' });
    await until('every client to receive the change', () => clients.every((c) => c.changedAt !== undefined), m.timeoutMs);
    const used = process.cpuUsage(cpu);
    send({ ev: 'changed', at: clients.map((c) => c.changedAt!), cpuMs: (used.user + used.system) / 1000 });
  } else {
    for (const c of clients) c.close();
    process.exit(0);
  }
}

process.on('message', (m: WorkerCommand) => {
  handle(m).catch((e: unknown) => send({ ev: 'failed', message: e instanceof Error ? e.message : String(e) }));
});
process.on('disconnect', () => process.exit(0));
