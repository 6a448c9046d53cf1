import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../../src/log/logger.js';
import { JwksResolver, type JwksFetcher } from '../../../src/xds/jwks-resolver.js';
import { emptyModel, type MeshModel } from '../../../src/xds/model.js';

const URI = 'https://idp.example/jwks.json';
const KEYS_A = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'a', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });
const KEYS_B = KEYS_A.replace('"kid":"a"', '"kid":"b"');

function model(rule: Record<string, unknown>): MeshModel {
  return {
    ...emptyModel(),
    requestAuthentications: [{ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'ra', namespace: 'shop' }, spec: { jwtRules: [{ issuer: 'idp', ...rule }] } }],
  } as MeshModel;
}
const ruleOf = (m: MeshModel): Record<string, unknown> => m.requestAuthentications[0]!.spec.jwtRules![0] as unknown as Record<string, unknown>;

/** A scripted fetcher and a manual clock. */
function setup(answers: Array<string | Error>): { r: JwksResolver; calls: string[]; updates: () => number; clock: { t: number } } {
  const calls: string[] = [];
  let updates = 0;
  const clock = { t: 0 };
  const fetcher: JwksFetcher = async (uri) => {
    calls.push(uri);
    const a = answers.shift();
    if (a === undefined || a instanceof Error) throw a ?? new Error('no answer scripted');
    return a;
  };
  const r = new JwksResolver({ logger: silentLogger(), onUpdate: () => { updates++; }, fetcher, ttlMs: 1000, retryMs: 100, now: () => clock.t });
  return { r, calls, updates: () => updates, clock };
}

describe('JwksResolver', () => {
  it('leaves the rule remote until the first fetch lands, then inlines the keys and asks for a push', async () => {
    const { r, calls, updates } = setup([KEYS_A]);
    expect(ruleOf(r.apply(model({ jwksUri: URI })))).toEqual({ issuer: 'idp', jwksUri: URI });
    await r.settled();
    expect(calls).toEqual([URI]);
    expect(updates()).toBe(1);
    expect(ruleOf(r.apply(model({ jwksUri: URI })))['jwks']).toBe(KEYS_A);
    expect(calls).toHaveLength(1); // cached within the TTL
  });

  it('refreshes after the TTL; new keys trigger a push, the same keys do not', async () => {
    const { r, calls, updates, clock } = setup([KEYS_A, KEYS_A, KEYS_B]);
    r.apply(model({ jwksUri: URI }));
    await r.settled();
    clock.t = 1500;
    r.refreshDue();
    await r.settled();
    expect(updates()).toBe(1);
    clock.t = 3000;
    r.refreshDue();
    await r.settled();
    expect(calls).toHaveLength(3);
    expect(updates()).toBe(2);
    expect(ruleOf(r.apply(model({ jwksUri: URI })))['jwks']).toBe(KEYS_B);
  });

  it('keeps the last good keys when a refresh fails or returns garbage, and retries sooner', async () => {
    const { r, calls, clock } = setup([KEYS_A, new Error('connect ECONNREFUSED'), '{"keys": "nope"}', KEYS_B]);
    r.apply(model({ jwksUri: URI }));
    await r.settled();
    for (const t of [1500, 1650, 1800]) {
      clock.t = t;
      r.refreshDue();
      await r.settled();
      if (t < 1800) expect(ruleOf(r.apply(model({ jwksUri: URI })))['jwks']).toBe(KEYS_A);
    }
    expect(calls).toHaveLength(4);
    expect(ruleOf(r.apply(model({ jwksUri: URI })))['jwks']).toBe(KEYS_B);
  });

  it('reports a fetch error in status and never inlines what does not parse', async () => {
    const { r } = setup(['not json']);
    r.apply(model({ jwksUri: URI }));
    await r.settled();
    expect(ruleOf(r.apply(model({ jwksUri: URI })))['jwks']).toBeUndefined();
    expect(r.status()).toEqual([{ uri: URI, fetched: false, error: expect.stringContaining('not valid JSON') }]);
  });

  it('inline jwks rules are untouched and never fetched; unreferenced URIs are forgotten', async () => {
    const { r, calls } = setup([KEYS_A]);
    const m = model({ jwks: KEYS_A });
    expect(r.apply(m)).toBe(m);
    expect(calls).toEqual([]);
    r.apply(model({ jwksUri: URI }));
    await r.settled();
    r.apply(emptyModel());
    expect(r.status()).toEqual([]);
  });
});
