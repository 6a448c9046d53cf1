import { describe, expect, it } from '@jest/globals';
import { buildCluster } from '../../../src/proxy/config/build.js';
import { CircuitBreaker } from '../../../src/proxy/resilience/circuit-breaker.js';
import { retryLimit } from '../../../src/proxy/resilience/retry.js';
import { isWeftError } from '../../../src/errors/errors.js';
import type { ClusterShape } from '../../../src/proxy/config/envoy-shapes.js';
import { edsCluster } from './fixtures.js';

const base = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

function thrown(f: () => unknown): unknown {
  try { f(); } catch (e) { return e; }
  throw new Error('expected a throw');
}

describe('retry budget (Envoy circuit_breakers.thresholds.retry_budget)', () => {
  it('without a budget the limit is max_retries, whatever the load', () => {
    expect(retryLimit(base, 0, 0)).toBe(3);
    expect(retryLimit(base, 1000, 50)).toBe(3);
  });

  it('with a budget the limit is max(min_retry_concurrency, percent of active + pending), max_retries ignored', () => {
    const l = { ...base, maxRetries: 1, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } };
    expect(retryLimit(l, 0, 0)).toBe(3);
    expect(retryLimit(l, 10, 0)).toBe(3); // 2 < min
    expect(retryLimit(l, 100, 0)).toBe(20);
    expect(retryLimit(l, 90, 10)).toBe(20); // pending counts too
    expect(retryLimit(l, 104, 0)).toBe(20); // truncated, as Envoy's uint64 conversion
    expect(retryLimit({ ...base, retryBudget: { budgetPercent: 0, minRetryConcurrency: 0 } }, 500, 0)).toBe(0);
  });

  it('the breaker admits retries up to the budget of the requests in flight', () => {
    const cb = new CircuitBreaker({ ...base, retryBudget: { budgetPercent: 50, minRetryConcurrency: 1 } });
    expect(cb.tryRetry()).toBe(true); // min 1 with nothing active
    expect(cb.tryRetry()).toBe(false);
    for (let i = 0; i < 6; i++) cb.tryRequest();
    expect([cb.tryRetry(), cb.tryRetry(), cb.tryRetry()]).toEqual([true, true, false]); // 50% of 6 = 3 in flight
    cb.releaseRetry();
    expect(cb.tryRetry()).toBe(true);
    for (let i = 0; i < 6; i++) cb.releaseRequest();
    expect(cb.tryRetry()).toBe(false); // load gone: back to the minimum, 3 still held
  });

  it('builds from CDS with Envoy defaults (20%, 3) and keeps max_retries when absent', () => {
    const withBudget = buildCluster(edsCluster('a', { circuit_breakers: { thresholds: [{ max_retries: { value: 7 }, retry_budget: {} }] } }));
    expect(withBudget.circuitBreakers.retryBudget).toEqual({ budgetPercent: 20, minRetryConcurrency: 3 });
    const explicit = buildCluster(edsCluster('b', { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 12.5 }, min_retry_concurrency: { value: 0 } } }] } }));
    expect(explicit.circuitBreakers.retryBudget).toEqual({ budgetPercent: 12.5, minRetryConcurrency: 0 });
    const none = buildCluster(edsCluster('c', { circuit_breakers: { thresholds: [{ max_retries: { value: 7 } }] } }));
    expect(none.circuitBreakers.retryBudget).toBeUndefined();
    expect(none.circuitBreakers.maxRetries).toBe(7);
    // Only the DEFAULT priority thresholds count.
    const high = buildCluster(edsCluster('d', { circuit_breakers: { thresholds: [{ priority: 'HIGH', retry_budget: {} }] } }));
    expect(high.circuitBreakers.retryBudget).toBeUndefined();
  });

  it.each([[150], [-1], [Number.NaN]])('refuses budget_percent %p with INVALID_CONFIG naming the field', (v) => {
    const shape: ClusterShape = edsCluster('bad', { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: v } } }] } });
    const e = thrown(() => buildCluster(shape));
    expect(isWeftError(e, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    expect((e as { details: { field: string } }).details.field).toBe('Cluster(bad).circuit_breakers.thresholds.retry_budget.budget_percent');
  });
});

describe('Istio DestinationRule trafficPolicy.retryBudget', () => {
  it('is rendered into the cluster thresholds and reaches the proxy through protobuf', async () => {
    const { emptyModel } = await import('../../../src/xds/model.js');
    const { buildClusters } = await import('../../../src/xds/translate/clusters.js');
    const { decodeResource, encodeResource, TYPE_URLS } = await import('../../../src/envoy/index.js');
    const host = 'reviews.default.svc.cluster.local';
    const m = emptyModel();
    m.services.push({ hostname: host, name: 'reviews', namespace: 'default', addresses: ['10.0.0.1'], ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }] });
    m.destinationRules.push({
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'default' },
      spec: { host: 'reviews', trafficPolicy: { retryBudget: { percent: 25, minRetryConcurrency: 5 }, connectionPool: { http: { maxRetries: 9 } } }, subsets: [{ name: 'v1', labels: { v: '1' } }] },
    });
    const clusters = buildClusters(m, { flavour: 'sidecar', namespace: 'default', labels: {} });
    for (const name of [`outbound|9080||${host}`, `outbound|9080|v1|${host}`]) {
      const c = clusters.find((x) => x['name'] === name)!;
      expect(c['circuit_breakers']).toEqual({ thresholds: [{ max_retries: { value: 9 }, retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: { value: 5 } } }] });
      const shape = decodeResource(TYPE_URLS.cluster, encodeResource(TYPE_URLS.cluster, c)) as ClusterShape;
      expect(buildCluster(shape).circuitBreakers)
        .toMatchObject({ maxRetries: 9, retryBudget: { budgetPercent: 25, minRetryConcurrency: 5 } });
    }
  });

  it.each([
    [{ percent: 120 }, 'spec.trafficPolicy.retryBudget.percent'],
    [{ percent: 'lots' }, 'spec.trafficPolicy.retryBudget.percent'],
    [{ minRetryConcurrency: -1 }, 'spec.trafficPolicy.retryBudget.minRetryConcurrency'],
    [{ minRetryConcurrency: 1.5 }, 'spec.trafficPolicy.retryBudget.minRetryConcurrency'],
  ])('the validator refuses %p at %s', async (retryBudget, path) => {
    const { ISTIO_VALIDATORS } = await import('../../../src/api/istio/validate.js');
    const issues = ISTIO_VALIDATORS.DestinationRule({ spec: { host: 'r', trafficPolicy: { retryBudget } } });
    expect(issues.map((i) => i.path)).toContain(path);
  });
});
