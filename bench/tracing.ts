// Per-request CPU cost of tracing in the proxy's hot path, measured on the tracer alone
// (the rest of the request path is the same with tracing on or off):
//   node dist/bench/tracing.js [--count N]
// Off = what the HTTP layers do without a tracer (nothing). On = start + inject + end for a
// request with no incoming context (new trace, sampled) and for one continuing a traceparent.
// Bounded: N iterations per case (default 200,000), no network.
import { performance } from 'node:perf_hooks';
import { Tracer } from '../src/proxy/tracing/tracer.js';
import type { Span } from '../src/proxy/tracing/span.js';

const args = process.argv.slice(2);
const count = Math.min(2_000_000, Number(args[args.indexOf('--count') + 1]) || 200_000);

function run(name: string, headers: Record<string, string>, sampling: number): void {
  let kept = 0;
  const sink = { add: (_s: Span): void => { kept++; } };
  const tracer = new Tracer({ samplingPercent: sampling, nodeId: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local' }, sink);
  const get = (n: string): string | undefined => headers[n];
  for (let i = 0; i < 10_000; i++) tracer.end(tracer.start(get, 'client', 0, 'GET', 'http://a/b', 'a'), 1, 200, '-', 'c'); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const t = tracer.start(get, 'client', i, 'GET', 'http://reviews:9080/reviews/1', 'reviews:9080');
    const out: Record<string, string> = {};
    tracer.inject(out, t);
    tracer.end(t, i + 1, 200, '-', 'outbound|9080||reviews');
  }
  const ns = ((performance.now() - t0) * 1e6) / count;
  process.stdout.write(`${name.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/request  (${kept} spans)\n`);
}

run('on, new trace, 100% sampled', {}, 100);
run('on, new trace, 1% sampled', {}, 1);
run('on, traceparent continued, sampled', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, 1);
run('on, B3 multi continued, unsampled', { 'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736', 'x-b3-spanid': '00f067aa0ba902b7', 'x-b3-sampled': '0' }, 1);
process.stdout.write('off: no tracer, no work (one undefined check per request)\n');
