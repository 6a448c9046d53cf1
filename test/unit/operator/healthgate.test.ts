import { describe, expect, it } from '@jest/globals';
import { judgeHealthGate, parsePrometheus, summarize } from '../../../src/operator/healthgate.js';

const scrape = (ok: number, fail: number, fastShare = 1): string => {
  const total = ok + fail;
  const fast = Math.round(total * fastShare);
  return [
    '# TYPE istio_requests_total counter',
    `istio_requests_total{reporter="destination",destination_service="app",response_code="200",response_flags="-"} ${ok}`,
    `istio_requests_total{reporter="destination",destination_service="app",response_code="503",response_flags="UF"} ${fail}`,
    `istio_requests_total{reporter="source",destination_service="other",response_code="503",response_flags="UF"} 1000`,
    '# TYPE istio_request_duration_milliseconds histogram',
    `istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="app",response_code="200",response_flags="-",le="10"} ${fast}`,
    `istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="app",response_code="200",response_flags="-",le="1000"} ${total}`,
    `istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="app",response_code="200",response_flags="-",le="+Inf"} ${total}`,
  ].join('\n');
};

describe('health gate', () => {
  it('parses Prometheus text', () => {
    const s = parsePrometheus('# c\nfoo{a="1",b="x\\"y"} 3\nbar 2.5\nbaz{le="+Inf"} +Inf\n');
    expect(s).toEqual([
      { name: 'foo', labels: { a: '1', b: 'x\\"y' }, value: 3 },
      { name: 'bar', labels: {}, value: 2.5 },
      { name: 'baz', labels: { le: '+Inf' }, value: Infinity },
    ]);
  });
  it('summarizes inbound traffic only, across pods', () => {
    const s = summarize([scrape(99, 1), scrape(100, 0)]);
    expect(s.requests).toBe(200);
    expect(s.errors).toBe(1);
    expect(s.successRatePercent).toBeCloseTo(99.5);
    expect(s.p99Ms).toBe(10);
  });
  it('passes healthy traffic and no traffic; fails low success rate or slow p99 with a reason', () => {
    const t = { minSuccessRatePercent: 99, maxP99LatencyMs: 100 };
    expect(judgeHealthGate(summarize([scrape(1000, 0)]), t).ok).toBe(true);
    expect(judgeHealthGate(summarize([]), t)).toEqual({ ok: true, message: 'no inbound traffic observed' });
    const bad = judgeHealthGate(summarize([scrape(50, 50)]), t);
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/success rate 50\.00% < 99% \(50\/100 failed\)/);
    const slow = judgeHealthGate(summarize([scrape(100, 0, 0.5)]), t);
    expect(slow.message).toMatch(/p99 latency 1000ms > 100ms/);
  });
});
