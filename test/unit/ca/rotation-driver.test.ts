// The driver's pure core: which proxies are current, and what one tick decides.
import { describe, expect, it } from '@jest/globals';
import { decide, observeProxies, type DecisionInput, type ProxyObservation } from '../../../src/ca/rotation-driver.js';
import {
  PLUGGED_CA_ROTATION_MESSAGE,
  ROTATION_REQUEST_ANNOTATION,
  ROTATION_STATE_ANNOTATION,
  encodeRotationStatus,
  parseRotationStatus,
  type RotationStatus,
} from '../../../src/ca/rotation-contract.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const NOW = new Date('2030-01-01T00:10:00Z');
const none: ProxyObservation = { total: 0, current: 0, lagging: [], nodes: [] };

function status(over: Partial<RotationStatus>): string {
  return encodeRotationStatus({
    stage: 'idle', currentRoot: A, stageSince: '2030-01-01T00:00:00.000Z', completed: 0,
    proxies: { total: 0, current: 0, lagging: [] }, updatedAt: '2030-01-01T00:00:00.000Z', ...over,
  });
}

function input(over: Partial<DecisionInput>): DecisionInput {
  return { source: 'self-signed', annotations: {}, mainRoot: A, proxies: none, now: NOW, ...over };
}

describe('observeProxies', () => {
  it('counts a proxy as current only when it ACKed the ROOTCA version served now', () => {
    const o = observeProxies({
      version: 'v2',
      proxies: [
        { nodeId: 'p1', flavour: 'sidecar', subscribed: true, ackedVersion: 'v2' },
        { nodeId: 'p2', flavour: 'sidecar', subscribed: true, ackedVersion: 'v1' },
        { nodeId: 'p3', flavour: 'gateway', subscribed: false }, // a Weft proxy that does not subscribe is behind
        { nodeId: 'p4', flavour: 'sidecar', subscribed: true, ackedVersion: 'v2' },
        { nodeId: 'p4', flavour: 'sidecar', subscribed: true }, // a second stream of the same node, not ACKed yet
        { nodeId: 'g1', flavour: 'proxyless', subscribed: false }, // proxyless gRPC without ROOTCA: not counted
        { nodeId: 'g2', flavour: 'proxyless', subscribed: true, ackedVersion: 'v2' }, // proxyless that opted in: counted
      ],
    });
    expect(o).toEqual({ total: 5, current: 2, lagging: ['p2', 'p3', 'p4'], nodes: ['g2', 'p1', 'p2', 'p3', 'p4'] });
  });

  it('counts nobody as current before any ROOTCA is served', () => {
    expect(observeProxies({ version: undefined, proxies: [{ nodeId: 'p1', flavour: 'sidecar', subscribed: true }] }).current).toBe(0);
  });
});

describe('decide (one driver tick)', () => {
  it('writes the initial idle status once, then stays quiet while nothing changes', () => {
    const d = decide(input({}));
    expect(d.kind).toBe('steady');
    if (d.kind !== 'steady') return;
    expect(d.write).toBe(true);
    const again = decide(input({ annotations: { [ROTATION_STATE_ANNOTATION]: encodeRotationStatus(d.status) }, now: new Date(NOW.getTime() + 2000) }));
    expect(again).toMatchObject({ kind: 'steady', write: false });
  });

  it('rewrites the status when the proxy numbers change', () => {
    const d = decide(input({ annotations: { [ROTATION_STATE_ANNOTATION]: status({}) }, proxies: { total: 1, current: 1, lagging: [], nodes: ['p1'] } }));
    expect(d).toMatchObject({ kind: 'steady', write: true, status: { proxies: { total: 1, current: 1, lagging: [] } } });
  });

  it('starts on a new request token when idle, and not on the one it already acted on', () => {
    expect(decide(input({ annotations: { [ROTATION_REQUEST_ANNOTATION]: 't1' } }))).toMatchObject({ kind: 'start', request: 't1' });
    const acted = { [ROTATION_REQUEST_ANNOTATION]: 't1', [ROTATION_STATE_ANNOTATION]: status({ request: 't1', completed: 1 }) };
    expect(decide(input({ annotations: acted })).kind).toBe('steady');
    expect(decide(input({ annotations: { ...acted, [ROTATION_REQUEST_ANNOTATION]: '' } })).kind).toBe('steady');
  });

  it('does not start a second rotation while one runs', () => {
    const running = status({ stage: 'add-root', nextRoot: B, request: 't1' });
    const d = decide(input({ annotations: { [ROTATION_REQUEST_ANNOTATION]: 't2', [ROTATION_STATE_ANNOTATION]: running }, nextRoot: B, proxies: { total: 1, current: 0, lagging: ['p1'], nodes: ['p1'] } }));
    expect(d).toMatchObject({ kind: 'steady', status: { stage: 'add-root', request: 't1', proxies: { lagging: ['p1'] } } });
  });

  it('advances only when every connected proxy is current, then counts everyone as behind', () => {
    const annotations = { [ROTATION_STATE_ANNOTATION]: status({ stage: 'add-root', nextRoot: B, request: 't1' }) };
    const lagging = decide(input({ annotations, nextRoot: B, proxies: { total: 2, current: 1, lagging: ['p2'], nodes: ['p1', 'p2'] } }));
    expect(lagging).toMatchObject({ kind: 'steady', write: true, status: { message: 'waiting for 1 of 2 proxies to ACK the add-root trust bundle' } });
    const all = decide(input({ annotations, nextRoot: B, proxies: { total: 2, current: 2, lagging: [], nodes: ['p1', 'p2'] } }));
    expect(all).toMatchObject({ kind: 'advance', state: { stage: 'switch-issuer' }, status: { stage: 'switch-issuer', stageSince: NOW.toISOString(), proxies: { total: 2, current: 0, lagging: ['p1', 'p2'] } } });
    // With no proxies connected there is nobody to wait for.
    expect(decide(input({ annotations, nextRoot: B })).kind).toBe('advance');
  });

  it('finishes from remove-old-root: idle at the new root, completed + 1', () => {
    const annotations = { [ROTATION_STATE_ANNOTATION]: status({ stage: 'remove-old-root', nextRoot: B, request: 't1', completed: 3 }) };
    const d = decide(input({ annotations, nextRoot: B }));
    expect(d.kind).toBe('advance');
    if (d.kind !== 'advance') return;
    expect(parseRotationStatus(encodeRotationStatus(d.status))).toMatchObject({ stage: 'idle', currentRoot: B, completed: 4, request: 't1' });
    expect(d.status.nextRoot).toBeUndefined();
  });

  it('does nothing with a malformed state annotation', () => {
    const d = decide(input({ annotations: { [ROTATION_STATE_ANNOTATION]: '{"stage":"add-root"', [ROTATION_REQUEST_ANNOTATION]: 't9' } }));
    expect(d.kind).toBe('invalid');
    if (d.kind === 'invalid') expect(d.error.message).toContain('not valid JSON');
  });

  it('does nothing when the state names another root than the Secret holds', () => {
    const d = decide(input({ annotations: { [ROTATION_STATE_ANNOTATION]: status({ currentRoot: B }) } }));
    expect(d).toMatchObject({ kind: 'invalid', error: { code: 'WEFT_E_INVALID_CONFIG' } });
  });

  it('does nothing mid-rotation when the next-* keys are missing or hold another root', () => {
    const annotations = { [ROTATION_STATE_ANNOTATION]: status({ stage: 'switch-issuer', nextRoot: B }) };
    expect(decide(input({ annotations })).kind).toBe('invalid');
    expect(decide(input({ annotations, nextRoot: 'c'.repeat(64) })).kind).toBe('invalid');
  });

  it('refuses a request for a plugged-in CA with the contract message, once per token', () => {
    const d = decide(input({ source: 'plugged-in', annotations: { [ROTATION_REQUEST_ANNOTATION]: 't1' } }));
    expect(d).toMatchObject({ kind: 'refuse', status: { stage: 'idle', request: 't1', message: PLUGGED_CA_ROTATION_MESSAGE, currentRoot: A } });
    if (d.kind !== 'refuse') return;
    const again = decide(input({ source: 'plugged-in', annotations: { [ROTATION_REQUEST_ANNOTATION]: 't1', [ROTATION_STATE_ANNOTATION]: encodeRotationStatus(d.status) } }));
    expect(again.kind).toBe('steady');
  });
});
