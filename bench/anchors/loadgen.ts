// Load generator, run as its own process so it can sit on its own core:
//   open   fixed arrival rate (open loop): request i is due at start + i/rate whatever happened
//          before; a slow target does not slow the sender down, and time spent waiting for a free
//          connection counts as latency (no coordinated omission). For latency figures.
//   closed `conns` loops back to back: only for the throughput ceiling (when wrk is missing).
// Keep-alive HTTP/1.1 to 127.0.0.1 only; bounded in count and time.
//   node dist/bench/anchors/loadgen.js '<json LoadJob>'   -> prints one JSON LoadResult line
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface LoadJob {
  mode: 'open' | 'closed';
  port: number;
  conns: number;
  /** open: requests per second. */
  rate?: number;
  /** open: requests measured; closed: upper bound on requests. */
  count: number;
  /** open: requests sent first at the same rate and not recorded. */
  warmup?: number;
  /** Hard time bound for the measured part. */
  maxMs: number;
  /** Request body size in bytes (0 = GET). */
  bodyBytes?: number;
}

export interface LoadResult {
  sent: number;
  ok: number;
  errors: number;
  elapsedMs: number;
  /** Open loop only: latency of each measured request in ms, in completion order. */
  latenciesMs: number[];
  /** Requests actually sent per second during the measured part (open loop: did we keep up?). */
  achievedRate: number;
}

function requester(port: number, conns: number, bodyBytes: number): { one: () => Promise<boolean>; close: () => void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns, maxFreeSockets: conns });
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 'y') : undefined;
  const one = (): Promise<boolean> => new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port, path: '/bench', method: body ? 'POST' : 'GET', agent,
      headers: body ? { host: 'bench', 'content-length': body.length } : { host: 'bench' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end(body);
  });
  return { one, close: () => agent.destroy() };
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  if (!(job.port > 0 && job.port < 65536)) throw new Error(`loadgen: bad port ${job.port}`);
  if (!(job.conns >= 1 && job.conns <= 1024)) throw new Error(`loadgen: conns must be 1..1024, got ${job.conns}`);
  if (!(job.count >= 1 && job.count <= 10_000_000)) throw new Error(`loadgen: count must be 1..1e7, got ${job.count}`);
  const { one, close } = requester(job.port, job.conns, job.bodyBytes ?? 0);
  let ok = 0;
  let errors = 0;
  let sent = 0;
  const latenciesMs: number[] = [];
  try {
    if (job.mode === 'closed') {
      await Promise.all(Array.from({ length: job.conns }, () => one())); // open every connection first
      const start = performance.now();
      await Promise.all(Array.from({ length: job.conns }, async () => {
        while (sent < job.count && performance.now() - start < job.maxMs) {
          sent++;
          if (await one()) ok++;
          else errors++;
        }
      }));
      const elapsedMs = performance.now() - start;
      return { sent, ok, errors, elapsedMs, latenciesMs, achievedRate: (sent / elapsedMs) * 1000 };
    }
    const rate = job.rate ?? 0;
    if (!(rate > 0 && rate <= 100_000)) throw new Error(`loadgen: open loop needs rate 1..100000, got ${rate}`);
    const warmup = job.warmup ?? 0;
    const total = warmup + job.count;
    const interval = 1000 / rate;
    const start = performance.now();
    const stopAt = start + warmup * interval + job.maxMs;
    let measuredStart = start + warmup * interval;
    const pending: Promise<void>[] = [];
    const send = (i: number): void => {
      const due = start + i * interval;
      const keep = i >= warmup;
      if (i === warmup) measuredStart = due;
      if (keep) sent++;
      const issued = performance.now();
      pending.push(one().then((good) => {
        if (!keep) return;
        if (good) ok++;
        else errors++;
        latenciesMs.push(performance.now() - issued);
      }));
    };
    // Never send early and never spin (the generator shares a core with the backend): on each
    // wake-up send every request that is due, then sleep until the next one. Latency runs from
    // the moment a request is issued, which is never before its due time: the wait for a free
    // connection (all 16 busy = the target is slow) counts; the generator's own timer lateness
    // does not. The schedule is fixed, so a slow target still gets the full rate (open loop).
    let i = 0;
    while (i < total) {
      const now = performance.now();
      if (now > stopAt) break;
      while (i < total && start + i * interval <= now) send(i++);
      if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
    }
    const lastSend = performance.now();
    await Promise.all(pending);
    const elapsedMs = performance.now() - measuredStart;
    return { sent, ok, errors, elapsedMs, latenciesMs, achievedRate: (sent / Math.max(1, lastSend - measuredStart)) * 1000 };
  } finally {
    close();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
  runLoad(job).then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
  }, (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
