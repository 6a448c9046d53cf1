// The operator's CA conclusions as pure functions of (Secret facts, previous status, now).
import { describe, expect, it } from '@jest/globals';
import { caToSecret, createSelfSignedCa, fingerprint } from '../../../src/ca/authority.js';
import { encodeRotationStatus, type RotationStatus } from '../../../src/ca/rotation-contract.js';
import {
  assessCa, autoRequestToken, caSecretFacts, expiryCondition, rotationRequest, rotationStuck, stageReason, type CaSecretFacts, type CertFacts,
} from '../../../src/operator/ca-status.js';
import { mergePatchFor } from '../../../src/operator/status.js';
import { secondsFlag } from '../../../src/cmd/operator.js';

const DAY = 86_400_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function cert(notBefore: number, notAfter: number, fp = A): CertFacts {
  return { subject: 'O=cluster.local, CN=Weft Root CA', notBefore: new Date(notBefore), notAfter: new Date(notAfter), fingerprint: fp };
}

/** A root living 1000 days from T0 and an intermediate living `interDays` from T0. */
function facts(over: Partial<CaSecretFacts> = {}, interDays = 1000): CaSecretFacts {
  return { namespace: 'mesh', name: 'weft-ca-secret', source: 'self-signed', root: cert(T0, T0 + 1000 * DAY), intermediate: cert(T0, T0 + interDays * DAY, B), ...over };
}

function state(over: Partial<RotationStatus> = {}): RotationStatus {
  return { stage: 'idle', currentRoot: A, stageSince: '2030-01-01T00:00:00Z', completed: 0, proxies: { total: 0, current: 0, lagging: [] }, updatedAt: '2030-01-01T00:00:00Z', ...over };
}

describe('CertificatesExpiringSoon', () => {
  it('is False (NotExpiring) at 31 days left and True at 29, naming the certificate, its notAfter, days left and what to do', () => {
    const f = facts();
    const at31 = expiryCondition({ facts: f, namespace: 'mesh', nowMs: T0 + 969 * DAY });
    expect(at31).toMatchObject({ status: 'False', reason: 'NotExpiring' });
    const at29 = expiryCondition({ facts: f, namespace: 'mesh', nowMs: T0 + 971 * DAY });
    expect(at29.status).toBe('True');
    expect(at29.reason).toBe('ExpiringSoon');
    expect(at29.message).toContain('the root certificate (Secret mesh/weft-ca-secret root-cert.pem');
    expect(at29.message).toContain('expires at 2032-09-27T00:00:00Z (29 days left)');
    expect(at29.message).toContain('weftctl rotate-root');
    expect(at29.message).toContain('the intermediate certificate');
  });

  it('warns about the intermediate alone, with the fix for a self-signed and for a plugged-in CA', () => {
    const own = expiryCondition({ facts: facts({}, 100), namespace: 'mesh', nowMs: T0 + 80 * DAY });
    expect(own.status).toBe('True');
    expect(own.message).not.toContain('root certificate');
    expect(own.message).toMatch(/intermediate certificate .* expires at .*\(20 days left\); the control plane renews it/);
    const plugged = expiryCondition({ facts: facts({ name: 'cacerts', source: 'plugged-in' }, 100), namespace: 'mesh', nowMs: T0 + 80 * DAY });
    expect(plugged.message).toContain('replace ca-cert.pem, ca-key.pem and cert-chain.pem in cacerts');
  });

  it('says expired for a certificate past notAfter', () => {
    expect(expiryCondition({ facts: facts({}, 10), namespace: 'mesh', nowMs: T0 + 11 * DAY }).message).toContain('expired at 2030-01-11T00:00:00Z');
  });

  it('warns for a plugged-in root that is due for rotation but not yet within 30 days; a self-signed one is rotated instead', () => {
    const nowMs = T0 + 850 * DAY; // 150 days = 15% left
    const plugged = expiryCondition({ facts: facts({ name: 'cacerts', source: 'plugged-in' }), namespace: 'mesh', nowMs });
    expect(plugged).toMatchObject({ status: 'True', reason: 'PluggedRootRotationDue' });
    expect(plugged.message).toContain('Weft cannot rotate a plugged-in root');
    expect(expiryCondition({ facts: facts(), namespace: 'mesh', nowMs })).toMatchObject({ status: 'False', reason: 'NotExpiring' });
  });

  it('is Unknown when there is no CA yet, the lookup failed, or the certificates are unreadable', () => {
    expect(expiryCondition({ namespace: 'mesh', nowMs: T0 })).toMatchObject({ status: 'Unknown', reason: 'CaNotFound' });
    expect(expiryCondition({ namespace: 'mesh', nowMs: T0 }).message).toMatch(/^CA not created yet: no Secret cacerts or weft-ca-secret in namespace mesh/);
    expect(expiryCondition({ namespace: 'mesh', lookupError: 'cannot read Secret mesh/cacerts: forbidden', nowMs: T0 })).toMatchObject({ status: 'Unknown', reason: 'CaUnreadable', message: 'cannot read Secret mesh/cacerts: forbidden' });
    const unreadable = { namespace: 'mesh', name: 'weft-ca-secret', source: 'self-signed' as const, readError: 'Secret mesh/weft-ca-secret: root-cert.pem is missing' };
    expect(expiryCondition({ facts: unreadable, namespace: 'mesh', nowMs: T0 })).toMatchObject({ status: 'Unknown', reason: 'CaUnreadable', message: unreadable.readError });
  });
});

describe('rotation requests', () => {
  const due = T0 + 800 * DAY; // exactly 20% of the 1000-day life left
  const notDue = T0 + 800 * DAY - 1;

  it('asks automatically at the 20% boundary, with a token derived from the root fingerprint', () => {
    expect(rotationRequest(facts(), undefined, true, undefined, notDue)).toBeUndefined();
    expect(rotationRequest(facts(), undefined, true, undefined, due)).toEqual({ token: `auto-${A.slice(0, 16)}`, why: 'auto' });
    expect(autoRequestToken(A)).toBe('auto-aaaaaaaaaaaaaaaa');
  });

  it('never asks twice for the same root, never overrides a pending request, and waits while a rotation runs', () => {
    const token = autoRequestToken(A);
    expect(rotationRequest(facts({ request: token }), undefined, true, undefined, due)).toBeUndefined();
    expect(rotationRequest(facts({ request: token }), state({ request: token, completed: 1 }), true, undefined, due)).toBeUndefined();
    expect(rotationRequest(facts({ request: 'manual-1' }), state(), true, undefined, due)).toBeUndefined(); // pending
    expect(rotationRequest(facts({ request: 'manual-1' }), state({ request: 'manual-1' }), true, undefined, due)).toEqual({ token, why: 'auto' }); // acted on
    expect(rotationRequest(facts(), state({ stage: 'add-root', nextRoot: B }), true, undefined, due)).toBeUndefined();
    expect(rotationRequest(facts(), undefined, false, undefined, due)).toBeUndefined(); // unreadable state
  });

  it('never asks for a plugged-in root', () => {
    expect(rotationRequest(facts({ name: 'cacerts', source: 'plugged-in' }), undefined, true, undefined, due)).toBeUndefined();
    expect(rotationRequest(facts({ name: 'cacerts', source: 'plugged-in' }), undefined, true, 'tok', due)).toBeUndefined();
  });

  it('copies an on-demand token unless it was already written or acted on', () => {
    expect(rotationRequest(facts(), undefined, true, 'tok-1', T0)).toEqual({ token: 'tok-1', why: 'on-demand' });
    expect(rotationRequest(facts({ request: 'tok-1' }), undefined, true, 'tok-1', T0)).toBeUndefined();
    expect(rotationRequest(facts({ request: 'auto-x' }), state({ request: 'tok-1', completed: 1 }), true, 'tok-1', T0)).toBeUndefined();
    expect(rotationRequest(facts(), undefined, true, '  ', T0)).toBeUndefined();
  });
});

describe('stuck rotations', () => {
  const since = Date.parse('2030-01-01T00:00:00Z');
  const lagging = state({ stage: 'add-root', nextRoot: B, proxies: { total: 2, current: 1, lagging: ['p1'] } });

  it('is stuck only past the threshold, in a stage other than idle, with proxies lagging', () => {
    expect(rotationStuck(lagging, since + 5 * 60_000)).toBe(false);
    expect(rotationStuck(lagging, since + 5 * 60_000 + 1)).toBe(true);
    expect(rotationStuck(lagging, since + 61_000, 60_000)).toBe(true);
    expect(rotationStuck({ ...lagging, proxies: { total: 2, current: 2, lagging: [] } }, since + DAY)).toBe(false);
    expect(rotationStuck(state(), since + DAY)).toBe(false);
  });

  it('turns stage names into CamelCase reasons', () => {
    expect(stageReason('remove-old-root')).toBe('RemoveOldRoot');
  });
});

describe('assessCa', () => {
  it('mirrors the state into status.rootRotation and the RootRotation condition, with Stage and Stuck events once', () => {
    const st = state({ stage: 'switch-issuer', nextRoot: B, request: 'tok', completed: 1, proxies: { total: 3, current: 1, lagging: ['p1', 'p2'] }, message: 'waiting' });
    const f = facts({ request: 'tok', stateText: encodeRotationStatus(st) });
    const nowMs = T0 + 10 * 60_000;
    const a = assessCa({ facts: f, namespace: 'mesh', nowMs });
    expect(a.rootRotation).toEqual({
      stage: 'switch-issuer', since: '2030-01-01T00:00:00Z', request: 'tok', completed: 1, currentRoot: A, nextRoot: B,
      proxies: { total: 3, current: 1 }, lagging: ['p1', 'p2'], stuck: true, message: 'waiting',
    });
    expect(a.conditions[1]).toMatchObject({ type: 'RootRotation', status: 'True', reason: 'SwitchIssuer' });
    expect(a.conditions[1]!.message).toContain('1/3 proxies at this stage; lagging: p1, p2; stuck');
    expect(a.events.map((e) => `${e.type}/${e.reason}`)).toEqual(['Normal/RootRotationStage', 'Warning/RootRotationStuck']);
    expect(a.active).toBe(true);
    expect(a.writeRequest).toBeUndefined();
    // The same observation again: no new events.
    expect(assessCa({ facts: f, namespace: 'mesh', nowMs, previous: a.rootRotation! }).events).toEqual([]);
  });

  it('reports completion when the completed count grows', () => {
    const prev = { stage: 'remove-old-root', completed: 1 };
    const f = facts({ request: 'tok', stateText: encodeRotationStatus(state({ currentRoot: B, request: 'tok', completed: 2 })) });
    const a = assessCa({ facts: f, namespace: 'mesh', nowMs: T0, previous: prev });
    expect(a.events.map((e) => e.reason)).toEqual(['RootRotationCompleted']);
    expect(a.conditions[1]).toMatchObject({ status: 'False', reason: 'Idle' });
    expect(a.active).toBe(false);
  });

  it('emits CertificatesExpiringSoon (Warning) only when the condition turns True', () => {
    const nowMs = T0 + 990 * DAY;
    const a = assessCa({ facts: facts({ request: autoRequestToken(A) }), namespace: 'mesh', nowMs });
    expect(a.events.filter((e) => e.reason === 'CertificatesExpiringSoon').map((e) => e.type)).toEqual(['Warning']);
    const prev = [{ type: 'CertificatesExpiringSoon', status: 'True' as const, reason: 'ExpiringSoon', message: '', lastTransitionTime: '' }];
    expect(assessCa({ facts: facts({ request: autoRequestToken(A) }), namespace: 'mesh', nowMs, previousConditions: prev }).events.filter((e) => e.reason === 'CertificatesExpiringSoon')).toEqual([]);
  });

  it('requests automatically with an event and reports the request as pending', () => {
    const a = assessCa({ facts: facts(), namespace: 'mesh', nowMs: T0 + 900 * DAY });
    expect(a.writeRequest).toEqual({ token: autoRequestToken(A), why: 'auto' });
    expect(a.events.map((e) => e.reason)).toEqual(['RootRotationRequested']);
    expect(a.rootRotation).toEqual({ pendingRequest: autoRequestToken(A) });
    expect(a.conditions[1]).toMatchObject({ status: 'False', reason: 'Requested' });
    expect(a.active).toBe(true);
  });

  it('explains a malformed state annotation without throwing, and keeps the expiry condition', () => {
    const a = assessCa({ facts: facts({ stateText: '{"stage":"sideways"}' }), namespace: 'mesh', nowMs: T0 });
    expect(a.conditions[0]).toMatchObject({ type: 'CertificatesExpiringSoon', status: 'False' });
    expect(a.conditions[1]).toMatchObject({ type: 'RootRotation', status: 'Unknown', reason: 'RotationStateInvalid' });
    expect(a.rootRotation?.message).toMatch(/^cannot read annotation rotation\.weft\.dev\/state on Secret mesh\/weft-ca-secret: rotation\.weft\.dev\/state: stage must be one of idle/);
    expect(a.active).toBe(true);
  });

  it('says a plugged-in CA is not rotated, and ignores weft.dev/rotate-root for it', () => {
    const a = assessCa({ facts: facts({ name: 'cacerts', source: 'plugged-in' }), namespace: 'mesh', nowMs: T0 + 900 * DAY, rotateRootToken: 'tok' });
    expect(a.writeRequest).toBeUndefined();
    expect(a.rootRotation).toBeUndefined();
    expect(a.conditions[1]).toMatchObject({ status: 'False', reason: 'PluggedInCa' });
    expect(a.conditions[1]!.message).toContain('weft.dev/rotate-root annotation is ignored');
    expect(a.conditions[0]).toMatchObject({ status: 'True', reason: 'PluggedRootRotationDue' });
  });

  it('has Unknown conditions when there is no CA Secret', () => {
    const a = assessCa({ namespace: 'mesh', nowMs: T0 });
    expect(a.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['CertificatesExpiringSoon=Unknown/CaNotFound', 'RootRotation=Unknown/CaNotFound']);
    expect(a.active).toBe(false);
  });
});

describe('caSecretFacts', () => {
  it('reads the first root and the intermediate of a real CA Secret, and the annotations', async () => {
    const now = new Date(T0);
    const ca = await createSelfSignedCa({ now, trustDomain: 'cluster.local', rootTtlMs: 100 * DAY, intermediateTtlMs: 50 * DAY });
    const secret = await caToSecret(ca, 'weft-ca-secret', 'mesh');
    const f = caSecretFacts({ ...secret, metadata: { ...secret.metadata, annotations: { 'rotation.weft.dev/request': 'tok', 'rotation.weft.dev/state': '{}' } } } as never);
    expect(f.source).toBe('self-signed');
    expect(f.root?.fingerprint).toBe(fingerprint(ca.issuingRoot.toString('pem')));
    expect(f.root?.notAfter.getTime()).toBe(T0 + 100 * DAY);
    expect(f.intermediate?.notAfter.getTime()).toBe(T0 + 50 * DAY);
    expect(f).toMatchObject({ request: 'tok', stateText: '{}' });
    expect(caSecretFacts({ ...secret, metadata: { name: 'cacerts', namespace: 'mesh' } }).source).toBe('plugged-in');
  });

  it('names the missing or unreadable key', () => {
    expect(caSecretFacts({ metadata: { name: 'weft-ca-secret', namespace: 'mesh' }, data: {} }).readError).toBe('Secret mesh/weft-ca-secret: root-cert.pem is missing');
    expect(caSecretFacts({ metadata: { name: 'weft-ca-secret', namespace: 'mesh' }, data: { 'root-cert.pem': Buffer.from('hello').toString('base64') } }).readError).toBe('Secret mesh/weft-ca-secret: root-cert.pem holds no PEM certificate');
    const garbage = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64');
    expect(caSecretFacts({ metadata: { name: 'weft-ca-secret', namespace: 'mesh' }, data: { 'root-cert.pem': garbage } }).readError).toMatch(/^Secret mesh\/weft-ca-secret: root-cert.pem does not parse as X.509/);
  });
});

describe('mergePatchFor (status.rootRotation is written as a merge patch)', () => {
  it('nulls members that went away, recursing into objects and replacing arrays', () => {
    expect(mergePatchFor({ pendingRequest: 't', stage: 'idle', proxies: { total: 1, current: 0 }, lagging: ['a', 'b'] }, { stage: 'add-root', proxies: { total: 1, current: 1 }, lagging: ['b'] }))
      .toEqual({ pendingRequest: null, stage: 'add-root', proxies: { total: 1, current: 1 }, lagging: ['b'] });
    expect(mergePatchFor({ stage: 'idle' }, undefined)).toBeNull();
    expect(mergePatchFor(undefined, undefined)).toBeUndefined();
    expect(mergePatchFor(undefined, { stage: 'idle' })).toEqual({ stage: 'idle' });
  });

  it('drops versions gone from status.dataPlane.proxiesByVersion (else an upgraded mesh still lists them)', () => {
    expect(mergePatchFor({ proxiesByVersion: { '0.0.8': 1, '0.0.9': 1, '0.1.0': 7 }, outdatedProxies: 2 }, { proxiesByVersion: { '0.1.0': 9 }, outdatedProxies: 0 }))
      .toEqual({ proxiesByVersion: { '0.0.8': null, '0.0.9': null, '0.1.0': 9 }, outdatedProxies: 0 });
  });
});

describe('weft operator rotation flags', () => {
  it('parses positive seconds and rejects anything else with a WeftError naming the flag', () => {
    expect(secondsFlag('5', '--rotation-poll-seconds')).toBe(5000);
    expect(secondsFlag('0.5', '--rotation-poll-seconds')).toBe(500);
    for (const bad of ['0', '-1', 'soon', '', '5s']) {
      expect(() => secondsFlag(bad, '--rotation-poll-seconds')).toThrow(expect.objectContaining({ code: 'WEFT_E_INVALID_INPUT', message: expect.stringContaining('--rotation-poll-seconds') }) as unknown as Error);
    }
  });
});
