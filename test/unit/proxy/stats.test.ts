import { describe, expect, it } from '@jest/globals';
import { Stats, type RequestRecord } from '../../../src/proxy/stats.js';
import { parsePrometheus } from '../../../src/operator/healthgate.js';
import { workloadFromPodName } from '../../../src/proxy/command.js';

const ME = { workload: 'reviews', namespace: 'shop', principal: 'spiffe://cluster.local/ns/shop/sa/reviews' };

function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  return { cluster: 'c', status: 200, flags: '-', durationMs: 3, direction: 'outbound', reqBytes: 10, respBytes: 20, ...over };
}

describe('stats (prom-client exposition)', () => {
  it('renders istio_requests_total with Istio standard labels, the source side for outbound', async () => {
    const s = new Stats(ME);
    s.recordRequest(rec());
    s.recordRequest(rec({ durationMs: 700 }));
    const text = await s.prometheus();
    expect(text).toContain('# TYPE istio_requests_total counter');
    expect(text).toContain('istio_requests_total{reporter="source",source_workload="reviews",source_workload_namespace="shop",'
      + 'source_principal="spiffe://cluster.local/ns/shop/sa/reviews",destination_workload="unknown",destination_workload_namespace="unknown",'
      + 'destination_principal="unknown",destination_service="c",response_code="200",response_flags="-"} 2');
    const buckets = parsePrometheus(text).filter((x) => x.name === 'istio_request_duration_milliseconds_bucket');
    expect(buckets.find((b) => b.labels.le === '5')?.value).toBe(1);
    expect(buckets.find((b) => b.labels.le === '1000')?.value).toBe(2);
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(2);
  });

  it('reports the destination side for inbound, with the peer principal and its namespace', async () => {
    const s = new Stats(ME);
    s.recordRequest(rec({ direction: 'inbound', status: 503, flags: 'UF', peerPrincipal: 'spiffe://cluster.local/ns/web/sa/front' }));
    s.recordRequest(rec({ direction: 'inbound' }));
    const series = parsePrometheus(await s.prometheus()).filter((x) => x.name === 'istio_requests_total');
    expect(series.map((x) => x.labels)).toEqual([
      expect.objectContaining({ reporter: 'destination', source_principal: 'spiffe://cluster.local/ns/web/sa/front', source_workload_namespace: 'web',
        destination_workload: 'reviews', destination_workload_namespace: 'shop', response_code: '503', response_flags: 'UF' }),
      expect.objectContaining({ reporter: 'destination', source_principal: 'unknown', source_workload_namespace: 'unknown', response_code: '200' }),
    ]);
  });

  it('records request and response sizes as Istio histograms', async () => {
    const s = new Stats();
    s.recordRequest(rec({ reqBytes: 150, respBytes: 5000 }));
    const samples = parsePrometheus(await s.prometheus());
    expect(samples.find((x) => x.name === 'istio_request_bytes_sum')?.value).toBe(150);
    expect(samples.find((x) => x.name === 'istio_request_bytes_bucket' && x.labels.le === '1000')?.value).toBe(1);
    expect(samples.find((x) => x.name === 'istio_request_bytes_bucket' && x.labels.le === '100')?.value).toBe(0);
    expect(samples.find((x) => x.name === 'istio_response_bytes_count')?.value).toBe(1);
    expect(samples.find((x) => x.name === 'istio_response_bytes_sum')?.value).toBe(5000);
  });

  it('keeps TCP counters with Istio\'s TCP labels and sums them by label', async () => {
    const s = new Stats(ME);
    const db = { cluster: 'db', direction: 'outbound', mtls: false } as const;
    s.recordTcp('istio_tcp_connections_opened_total', db);
    s.recordTcp('istio_tcp_sent_bytes_total', db, 300);
    s.recordTcp('istio_tcp_sent_bytes_total', { ...db }, 200);
    s.recordTcp('istio_tcp_sent_bytes_total', { ...db, cluster: 'other' }, 1);
    expect(s.sum('istio_tcp_sent_bytes_total', { destination_service: 'db' })).toBe(500);
    expect(s.sum('istio_tcp_sent_bytes_total')).toBe(501);
    expect(s.sum('istio_tcp_sent_bytes_total', { destination_service: 'other', reporter: 'source', connection_security_policy: 'unknown' })).toBe(1);
    expect(await s.prometheus()).toContain('istio_tcp_sent_bytes_total{reporter="source",source_workload="reviews",source_workload_namespace="shop",'
      + 'source_principal="spiffe://cluster.local/ns/shop/sa/reviews",destination_workload="unknown",destination_workload_namespace="unknown",'
      + 'destination_principal="unknown",destination_service="db",connection_security_policy="unknown"} 500');
  });

  it('bounds the TCP series too: peers past the cap fold into the overflow series', async () => {
    const s = new Stats(ME);
    for (let i = 0; i < 2100; i++) {
      s.recordTcp('istio_tcp_connections_opened_total', { cluster: 'db', direction: 'inbound', mtls: true, peerPrincipal: `spiffe://td/ns/n${i}/sa/x` });
    }
    const opened = parsePrometheus(await s.prometheus()).filter((x) => x.name === 'istio_tcp_connections_opened_total');
    expect(opened).toHaveLength(2001);
    expect(opened.at(-1)).toEqual({ name: 'istio_tcp_connections_opened_total', labels: { overflow: 'true' }, value: 100 });
  });

  it('bounds label cardinality: past 2000 series per metric, new combinations fold into one overflow series', async () => {
    const s = new Stats();
    for (let i = 0; i < 3000; i++) s.inc('m', { k: String(i) });
    expect(s.get('m', { overflow: 'true' })).toBe(1000);
    expect(s.sum('m')).toBe(3000);
    for (let i = 0; i < 2500; i++) s.recordRequest(rec({ cluster: `c${i}` }));
    const text = await s.prometheus();
    const requests = parsePrometheus(text).filter((x) => x.name === 'istio_requests_total');
    expect(requests).toHaveLength(2001);
    expect(requests.at(-1)).toEqual({ name: 'istio_requests_total', labels: { overflow: 'true' }, value: 500 });
    expect(text).toContain('istio_request_duration_milliseconds_count{overflow="true"} 500');
  });

  it('renders each series\' labels once per scrape line, and gives JSON readers the full label sets', async () => {
    const s = new Stats(ME);
    s.recordRequest(rec({ durationMs: 2 }));
    const text = await s.prometheus();
    // Shared labels follow le on bucket lines (Prometheus does not care about label order).
    expect(text).toMatch(/^istio_request_duration_milliseconds_bucket\{le="5",reporter="source",.*,response_flags="-"\} 1$/m);
    const json = await s.registry.getMetricsAsJSON();
    const buckets = json.find((m) => m.name === 'istio_request_duration_milliseconds')!.values;
    expect(buckets[0]!.labels).toEqual(expect.objectContaining({ le: 0.5, reporter: 'source', destination_service: 'c' }));
    const requests = json.find((m) => m.name === 'istio_requests_total')!.values;
    expect(requests).toEqual([expect.objectContaining({ value: 1, labels: expect.objectContaining({ response_code: '200', source_workload: 'reviews' }) })]);
  });

  it('keeps each proxy\'s metrics in its own registry', async () => {
    const a = new Stats();
    const b = new Stats();
    a.recordRequest(rec());
    expect(await b.prometheus()).not.toContain('destination_service="c"');
    expect(a.sum('istio_requests_total')).toBe(1);
  });

  it('rejects a label a metric was not declared with, naming both', () => {
    const s = new Stats();
    s.inc('weft_x_total', { cluster: 'a' });
    expect(() => s.inc('weft_x_total', { host: 'h' })).toThrow(/weft_x_total: label "host" is not one of its labels \(cluster, overflow\)/);
  });

  it('names a Deployment pod\'s workload', () => {
    expect(workloadFromPodName('reviews-v1-5d8f7c9b4-x2x9q')).toBe('reviews-v1');
    expect(workloadFromPodName('db-0')).toBe('db-0');
  });
});
