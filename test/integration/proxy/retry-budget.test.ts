// Retry budget on loopback: an upstream that always fails, with retries on. Without a
// budget every request is tried 1 + num_retries times; with Envoy's retry_budget the
// retries in flight are capped by a share of the active requests, so load is not amplified.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { agent, freePort, httpBackend, request, startProxy, type Backend } from './helpers.js';

const N = 40;
const RETRIES = 3;
let budgeted: Backend, unbounded: Backend;
let proxy: Proxy;
let port: number;

const failSlowly = (_req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
  _req.resume();
  setTimeout(() => res.writeHead(503).end('down'), 50);
};

beforeAll(async () => {
  budgeted = await httpBackend('budgeted', failSlowly);
  unbounded = await httpBackend('unbounded', failSlowly);
  port = await freePort();
  const retry = { retry_on: '5xx', num_retries: { value: RETRIES }, retry_back_off: { base_interval: { nanos: 2_000_000 } } };
  proxy = await startProxy({
    listeners: [httpListener('http', port, 'r')],
    routes: [routeConfig('r', [
      { match: { prefix: '/budget' }, route: { cluster: 'budgeted', retry_policy: retry } },
      { match: { prefix: '/unbounded' }, route: { cluster: 'unbounded', retry_policy: retry } },
    ])],
    clusters: [
      // max_retries is huge on both: only the budget can hold retries back.
      edsCluster('budgeted', { circuit_breakers: { thresholds: [{ max_retries: { value: 100_000 }, retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: { value: 2 } } }] } }),
      edsCluster('unbounded', { circuit_breakers: { thresholds: [{ max_retries: { value: 100_000 } }] } }),
    ],
    endpoints: [cla('budgeted', [budgeted.port]), cla('unbounded', [unbounded.port])],
  });
});

afterAll(async () => {
  agent.destroy();
  await proxy.close();
  await budgeted.close();
  await unbounded.close();
});

async function burst(path: string): Promise<number[]> {
  const rs = await Promise.all(Array.from({ length: N }, () => request(port, path)));
  return rs.map((r) => r.status);
}

describe('retry budget', () => {
  it('without a budget, a 100% failing upstream sees every retry', async () => {
    const statuses = await burst('/unbounded');
    expect(statuses.every((s) => s === 503)).toBe(true);
    expect(unbounded.hits).toBe(N * (1 + RETRIES));
  }, 20_000);

  it('with a 20% budget the retries are capped by the requests in flight', async () => {
    const statuses = await burst('/budget');
    expect(statuses.every((s) => s === 503)).toBe(true); // the upstream's own answer comes back
    // First tries: N. Retries in flight never exceed max(2, 20% of active): about N/5 once,
    // then the minimum as the burst drains (typically ~N + 12 hits in all). The bound leaves
    // room for requests arriving spread out on a loaded machine, and is still half of the
    // N * (1 + RETRIES) an unbudgeted proxy sends.
    expect(budgeted.hits).toBeGreaterThan(N); // retries do happen
    expect(budgeted.hits).toBeLessThanOrEqual((N * (1 + RETRIES)) / 2);
    expect(proxy.stats.sum('weft_retry_overflow_total', { cluster: 'budgeted' })).toBeGreaterThan(0);
    expect(proxy.stats.sum('weft_retry_overflow_total', { cluster: 'unbounded' })).toBe(0);
  }, 20_000);
});
