import { describe, expect, it } from '@jest/globals';
import { isWeftError } from '../../../src/errors/errors.js';
import {
  MAX_LAGGING_LISTED,
  encodeRotationStatus,
  parseRotationStatus,
  rotationStatusChanged,
  type RotationStatus,
} from '../../../src/ca/rotation-contract.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const valid: RotationStatus = {
  stage: 'add-root',
  currentRoot: A,
  nextRoot: B,
  stageSince: '2030-01-01T00:00:00.000Z',
  completed: 2,
  request: 'token-1',
  proxies: { total: 3, current: 1, lagging: ['sidecar~1', 'sidecar~2'] },
  updatedAt: '2030-01-01T00:00:05Z',
  message: 'waiting',
};

function parseError(value: unknown): string {
  try {
    parseRotationStatus(typeof value === 'string' ? value : JSON.stringify(value));
  } catch (e) {
    if (!isWeftError(e, 'WEFT_E_INVALID_INPUT')) throw e;
    return e.message;
  }
  throw new Error('parsed');
}

describe('rotation contract: rotation.weft.dev/state', () => {
  it('round-trips a full status, fields in contract order', () => {
    const text = encodeRotationStatus(valid);
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['stage', 'currentRoot', 'nextRoot', 'stageSince', 'completed', 'request', 'proxies', 'updatedAt', 'message']);
    expect(parseRotationStatus(text)).toEqual(valid);
  });

  it('accepts the minimal idle status (no nextRoot, request or message)', () => {
    const idle = { stage: 'idle', currentRoot: A, stageSince: '2030-01-01T00:00:00+02:00', completed: 0, proxies: { total: 0, current: 0, lagging: [] }, updatedAt: '2030-01-01T00:00:00Z' };
    expect(parseRotationStatus(JSON.stringify(idle))).toEqual(idle);
  });

  it.each<[string, unknown, string]>([
    ['not JSON', '{"stage":', 'not valid JSON'],
    ['an array', [valid], 'must be a JSON object'],
    ['null', null, 'must be a JSON object'],
    ['an unknown stage', { ...valid, stage: 'rotating' }, 'stage must be one of idle, add-root, switch-issuer, remove-old-root'],
    ['a short fingerprint', { ...valid, currentRoot: 'abc' }, 'currentRoot must be a SHA-256 fingerprint'],
    ['an upper-case fingerprint', { ...valid, nextRoot: B.toUpperCase() }, 'nextRoot must be a SHA-256 fingerprint'],
    ['a rotation stage without nextRoot', { ...valid, nextRoot: undefined }, 'stage add-root needs nextRoot'],
    ['idle with nextRoot', { ...valid, stage: 'idle' }, 'stage idle must not have nextRoot'],
    ['nextRoot equal to currentRoot', { ...valid, nextRoot: A }, 'nextRoot must differ from currentRoot'],
    ['a stageSince without a zone', { ...valid, stageSince: '2030-01-01T00:00:00' }, 'stageSince must be an RFC 3339 timestamp'],
    ['an impossible date', { ...valid, updatedAt: '2030-13-45T00:00:00Z' }, 'updatedAt must be an RFC 3339 timestamp'],
    ['a fractional completed', { ...valid, completed: 1.5 }, 'completed must be a non-negative integer'],
    ['a negative completed', { ...valid, completed: -1 }, 'completed must be a non-negative integer'],
    ['a numeric request', { ...valid, request: 7 }, 'request must be a string'],
    ['no proxies', { ...valid, proxies: undefined }, 'proxies must be an object'],
    ['a string total', { ...valid, proxies: { ...valid.proxies, total: '3' } }, 'proxies.total must be a non-negative integer'],
    ['current above total', { ...valid, proxies: { ...valid.proxies, current: 4 } }, 'proxies.current must not exceed proxies.total'],
    ['lagging not an array', { ...valid, proxies: { ...valid.proxies, lagging: 'sidecar~1' } }, 'proxies.lagging must be an array of xDS node ids'],
    ['lagging with a number', { ...valid, proxies: { ...valid.proxies, lagging: [1] } }, 'proxies.lagging must be an array of xDS node ids'],
    ['too many lagging ids', { ...valid, proxies: { total: 30, current: 0, lagging: Array.from({ length: MAX_LAGGING_LISTED + 1 }, (_, i) => `n${i}`) } }, `lists at most ${MAX_LAGGING_LISTED} ids`],
    ['a numeric message', { ...valid, message: 1 }, 'message must be a string'],
  ])('rejects %s', (_what, value, expected) => {
    const msg = parseError(value);
    expect(msg).toContain('rotation.weft.dev/state: ');
    expect(msg).toContain(expected);
  });

  it('refuses to encode a status the contract forbids', () => {
    expect(() => encodeRotationStatus({ ...valid, stage: 'idle' })).toThrow('stage idle must not have nextRoot');
  });

  it('sees a change in anything but updatedAt', () => {
    expect(rotationStatusChanged(undefined, valid)).toBe(true);
    expect(rotationStatusChanged(valid, { ...valid, updatedAt: '2031-01-01T00:00:00Z' })).toBe(false);
    expect(rotationStatusChanged(valid, { ...valid, proxies: { ...valid.proxies, current: 2, lagging: ['sidecar~2'] } })).toBe(true);
  });
});
