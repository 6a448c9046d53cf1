import { describe, expect, it } from '@jest/globals';
import {
  encodeRotationState, parseRotationState, ROTATION_REQUEST_ANNOTATION, ROTATION_STATE_ANNOTATION, type RotationStateRecord,
} from '../../../src/ca/rotation-contract.js';
import { WeftError } from '../../../src/errors/errors.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

const valid: RotationStateRecord = {
  stage: 'add-root',
  currentRoot: A,
  nextRoot: B,
  stageSince: '2030-01-01T00:00:00Z',
  completed: 2,
  request: 'auto-aaaaaaaaaaaaaaaa',
  proxies: { total: 3, current: 1, lagging: ['sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', 'b'] },
  updatedAt: '2030-01-01T00:00:05.123+01:00',
  message: 'waiting for 2 proxies',
};

function withField(field: string, value: unknown): string {
  return JSON.stringify({ ...JSON.parse(encodeRotationState(valid)) as object, [field]: value });
}

function expectBad(text: string, field: string): void {
  let err: unknown;
  try {
    parseRotationState(text);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WeftError);
  expect((err as WeftError).code).toBe('WEFT_E_INVALID_INPUT');
  expect((err as WeftError).details.field).toBe(field);
  expect((err as WeftError).message).toContain(ROTATION_STATE_ANNOTATION);
  if (!field.startsWith('(')) expect((err as WeftError).message).toContain(field);
}

describe('rotation contract (annotations on weft-ca-secret)', () => {
  it('names the annotations', () => {
    expect(ROTATION_REQUEST_ANNOTATION).toBe('rotation.weft.dev/request');
    expect(ROTATION_STATE_ANNOTATION).toBe('rotation.weft.dev/state');
  });

  it('round-trips a full record and a minimal idle one', () => {
    expect(parseRotationState(encodeRotationState(valid))).toEqual(valid);
    const idle: RotationStateRecord = { stage: 'idle', currentRoot: A, stageSince: '2030-01-01T00:00:00Z', completed: 0, proxies: { total: 0, current: 0, lagging: [] }, updatedAt: '2030-01-01T00:00:00Z' };
    expect(parseRotationState(encodeRotationState(idle))).toEqual(idle);
    expect(encodeRotationState(idle)).toBe('{"stage":"idle","currentRoot":"' + A + '","stageSince":"2030-01-01T00:00:00Z","completed":0,"proxies":{"total":0,"current":0,"lagging":[]},"updatedAt":"2030-01-01T00:00:00Z"}');
  });

  it('encodes in a fixed key order, whatever the input order', () => {
    const shuffled = { message: valid.message, updatedAt: valid.updatedAt, proxies: valid.proxies, request: valid.request, completed: 2, stageSince: valid.stageSince, nextRoot: B, currentRoot: A, stage: 'add-root' } as RotationStateRecord;
    expect(encodeRotationState(shuffled)).toBe(encodeRotationState(valid));
  });

  it('treats nextRoot as optional in every stage, as the contract says', () => {
    const { nextRoot: _omitted, ...rest } = valid;
    expect(parseRotationState(encodeRotationState(rest))).toEqual(rest);
  });

  it('ignores unknown fields (forward compatible)', () => {
    expect(parseRotationState(withField('future', 1))).toEqual(valid);
  });

  it('rejects each malformed shape with the field named', () => {
    expectBad('{not json', '(json)');
    expectBad('[]', '(root)');
    expectBad('"idle"', '(root)');
    expectBad(withField('stage', 'rotating'), 'stage');
    expectBad(withField('stage', undefined), 'stage');
    expectBad(withField('currentRoot', 'AB:CD'), 'currentRoot');
    expectBad(withField('currentRoot', A.toUpperCase()), 'currentRoot');
    expectBad(withField('nextRoot', 'short'), 'nextRoot');
    expectBad(withField('stageSince', 'yesterday'), 'stageSince');
    expectBad(withField('stageSince', '2030-01-01T00:00:00'), 'stageSince'); // no offset
    expectBad(withField('completed', -1), 'completed');
    expectBad(withField('completed', 1.5), 'completed');
    expectBad(withField('completed', '2'), 'completed');
    expectBad(withField('request', 7), 'request');
    expectBad(withField('proxies', undefined), 'proxies');
    expectBad(withField('proxies', []), 'proxies');
    expectBad(withField('proxies', { total: 1, current: 2, lagging: [] }), 'proxies.current');
    expectBad(withField('proxies', { total: -1, current: 0, lagging: [] }), 'proxies.total');
    expectBad(withField('proxies', { total: 1, current: 0, lagging: 'a' }), 'proxies.lagging');
    expectBad(withField('proxies', { total: 1, current: 0, lagging: [1] }), 'proxies.lagging');
    expectBad(withField('proxies', { total: 30, current: 0, lagging: Array.from({ length: 21 }, (_, i) => `p${i}`) }), 'proxies.lagging');
    expectBad(withField('updatedAt', 0), 'updatedAt');
    expectBad(withField('message', { text: 'x' }), 'message');
  });
});
