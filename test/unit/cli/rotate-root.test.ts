// weftctl rotate-root's pure helpers and the CA warnings of weftctl check.
import { describe, expect, it } from '@jest/globals';
import type { Condition, MeshConfig, RootRotationStatus } from '../../../src/api/meshconfig.js';
import type { App } from '../../../src/cli/app.js';
import { meshCaChecks } from '../../../src/cli/check/checks.js';
import { newRotationToken, rotationOutcome, rotationProgressLines, rotationStandsAt } from '../../../src/cli/commands/rotate-root.js';
import { bufferIO, EXIT, painter } from '../../../src/cli/io.js';
import { run } from '../../../src/cli/program.js';
import { rootRotationLine } from '../../../src/cli/commands/status.js';

const paint = painter(false);
const TOKEN = 'manual-20260101t000000z-abcdef';

function mc(rootRotation?: RootRotationStatus, conditions: Condition[] = []): MeshConfig {
  return { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'm' }, spec: { version: '1.0.0' }, status: { conditions, ...(rootRotation ? { rootRotation } : {}) } };
}

function cond(type: string, status: Condition['status'], reason: string, message = 'msg'): Condition {
  return { type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' };
}

describe('rotate-root helpers', () => {
  it('makes distinct tokens from the time and randomness', () => {
    expect(newRotationToken(new Date('2026-01-01T00:00:00.123Z'), 'abcdef')).toBe(TOKEN);
    expect(newRotationToken(new Date())).not.toBe(newRotationToken(new Date()));
  });

  it('prints the hand-over, each stage, progress changes and stuck', () => {
    const pending = mc({ pendingRequest: TOKEN });
    expect(rotationProgressLines(mc(), pending, TOKEN, paint)).toEqual([`the operator passed request ${TOKEN} to the control plane; waiting for it to start`]);
    const add = mc({ stage: 'add-root', request: TOKEN, since: 't1', proxies: { total: 3, current: 1 }, lagging: ['p1', 'p2'] });
    expect(rotationProgressLines(pending, add, TOKEN, paint)).toEqual(['stage add-root: 1/3 proxies at this stage; lagging: p1, p2']);
    const more = mc({ stage: 'add-root', request: TOKEN, since: 't1', proxies: { total: 3, current: 2 }, lagging: ['p2'], stuck: true });
    expect(rotationProgressLines(add, more, TOKEN, paint)).toEqual(['  2/3 proxies at this stage; lagging: p2', 'stuck: stage add-root has not moved since t1']);
    expect(rotationProgressLines(more, more, TOKEN, paint)).toEqual([]);
    // Another request's stages are not ours.
    expect(rotationProgressLines(pending, mc({ stage: 'add-root', request: 'other', proxies: { total: 1, current: 0 } }), TOKEN, paint)).toEqual([]);
  });

  it('is done when the control plane reports our request back at idle, and fails for a plugged-in CA', () => {
    expect(rotationOutcome(mc({ stage: 'remove-old-root', request: TOKEN }), TOKEN)).toEqual({ state: 'pending' });
    expect(rotationOutcome(mc({ stage: 'idle', request: 'older' }), TOKEN)).toEqual({ state: 'pending' });
    expect(rotationOutcome(mc({ stage: 'idle', request: TOKEN, currentRoot: 'c'.repeat(64) }), TOKEN)).toEqual({ state: 'done', root: 'c'.repeat(64) });
    expect(rotationOutcome(mc(undefined, [cond('RootRotation', 'False', 'PluggedInCa', 'the CA comes from cacerts')]), TOKEN)).toEqual({ state: 'failed', reason: 'the CA comes from cacerts' });
  });

  it('says where a timed-out rotation stands', () => {
    expect(rotationStandsAt(undefined, TOKEN)).toContain('the operator has not passed the request on');
    expect(rotationStandsAt(mc({ pendingRequest: TOKEN }), TOKEN)).toContain('the control plane has not started it');
    expect(rotationStandsAt(mc({ stage: 'switch-issuer', request: TOKEN, since: 't', proxies: { total: 2, current: 1 }, lagging: ['p'], stuck: true }), TOKEN))
      .toBe('stage switch-issuer since t, 1/2 proxies at this stage; lagging: p, stuck');
  });

  it('rejects a bad --timeout as a usage error before touching the cluster', async () => {
    const io = bufferIO();
    const app: App = { io, now: () => new Date(), packageRoot: process.cwd(), version: '0.1.0' };
    expect(await run(['rotate-root', '--timeout', 'soon'], app)).toBe(EXIT.usage);
    expect(io.stderr.join('')).toContain('--timeout soon: use e.g. 90s or 5m');
  });
});

describe('weftctl check: CA warnings', () => {
  it('warns (never fails) on expiring certificates, a stuck rotation and an unreadable state', () => {
    const expiring = meshCaChecks(mc(undefined, [cond('CertificatesExpiringSoon', 'True', 'ExpiringSoon', 'the root certificate expires in 9 days')]));
    expect(expiring).toEqual([expect.objectContaining({ status: 'warn', name: 'ca expiry', message: 'MeshConfig m: the root certificate expires in 9 days' })]);
    const stuck = meshCaChecks(mc({ stage: 'add-root', since: 't', stuck: true, proxies: { total: 2, current: 1 }, lagging: ['p1'] }, [cond('CertificatesExpiringSoon', 'False', 'NotExpiring')]));
    expect(stuck.map((c) => c.status)).toEqual(['pass', 'warn']);
    expect(stuck[1]!.message).toBe('MeshConfig m: root rotation stuck in stage add-root since t (1/2 proxies at this stage; lagging: p1)');
    const invalid = meshCaChecks(mc({ message: 'bad' }, [cond('RootRotation', 'Unknown', 'RotationStateInvalid', 'cannot read annotation')]));
    expect(invalid).toEqual([expect.objectContaining({ status: 'warn', name: 'root rotation' })]);
    expect(meshCaChecks(mc({ stage: 'add-root', proxies: { total: 1, current: 0 } }))).toEqual([expect.objectContaining({ status: 'pass' })]);
    expect(meshCaChecks(mc())).toEqual([]);
  });
});

describe('weftctl status: root rotation line', () => {
  it('summarises the stage, proxies, lagging, stuck and a pending request', () => {
    expect(rootRotationLine(undefined, paint)).toBeUndefined();
    expect(rootRotationLine({ stage: 'idle', completed: 2, pendingRequest: 'tok' }, paint)).toBe('idle, 2 completed, request tok pending');
    expect(rootRotationLine({ stage: 'add-root', since: 't', proxies: { total: 3, current: 1 }, lagging: ['a', 'b'], stuck: true }, paint))
      .toBe('stage add-root since t, 1/3 proxies at this stage; lagging: a, b (stuck)');
    expect(rootRotationLine({ message: 'cannot read annotation' }, paint)).toBe('cannot read annotation');
  });
});
