// The operator side of CA root rotation on the real API server, with the real operator: it
// reads the mesh's CA Secret, sets CertificatesExpiringSoon (+ Event), asks for a rotation
// automatically (a root past 80% of its life) and on demand (weft.dev/rotate-root), mirrors
// the rotation driver's state annotation into status.rootRotation with Events, survives a
// malformed state, and weftctl rotate-root follows a rotation to the end. The test plays the
// control plane's rotation driver by writing rotation.weft.dev/state itself.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { kubeconfigPath, repoRoot } from '../../helpers/paths.js';
import { KubeApplier, type KubeObject, type KubeRest } from '../../../src/kube/apply.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { silentLogger } from '../../../src/log/logger.js';
import { runOperator, type OperatorHandle } from '../../../src/operator/manager.js';
import { caToSecret, createSelfSignedCa, fingerprint } from '../../../src/ca/authority.js';
import { encodeRotationStatus, ROTATION_REQUEST_ANNOTATION, ROTATION_STATE_ANNOTATION, type RotationStatus } from '../../../src/ca/rotation-contract.js';
import type { MeshConfig, MeshConfigSpec } from '../../../src/api/meshconfig.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';

jest.setTimeout(240_000);

const MC = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig' } as const;
const SECRET = { apiVersion: 'v1', kind: 'Secret' } as const;
const DAY = 86_400_000;
const BIN = path.join(repoRoot, 'dist/src/cmd/weftctl.js');
const B = 'b'.repeat(64);

interface Result { code: number; out: string; err: string }

function weftctl(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--kubeconfig', kubeconfigPath, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

interface CheckLine { category: string; name: string; status: string; message: string }

/** weftctl check -o json, only the lines about this MeshConfig's CA (the shared cluster fails other checks). */
async function caChecks(mcName: string): Promise<CheckLine[]> {
  const r = await weftctl(['check', '-o', 'json']);
  return (JSON.parse(r.out) as CheckLine[]).filter((c) => c.category === 'certificates' && c.message.startsWith(`MeshConfig ${mcName}:`));
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('operator: CA expiry and root rotation (real API server)', () => {
  let rest: KubeRest;
  let applier: KubeApplier;
  let op: OperatorHandle;
  let opNs: TestNamespace;
  const sfx = randSuffix();
  const name = `rot-${sfx}`;
  const meshNs = `rot-${sfx}-mesh`;
  let rootFp = '';

  const spec = (): MeshConfigSpec => ({
    version: '1.0.0',
    namespace: meshNs,
    injection: { namespaceLabel: `rot-${sfx}.weft.dev/injection`, revisionLabel: `rot-${sfx}.weft.dev/rev`, failurePolicy: 'Ignore' },
    gateways: [],
  });

  async function getMc(): Promise<MeshConfig | undefined> {
    return (await applier.get(MC, name)) as unknown as MeshConfig | undefined;
  }
  async function secretAnn(): Promise<Record<string, string>> {
    return (await applier.get(SECRET, 'weft-ca-secret', meshNs))?.metadata.annotations ?? {};
  }
  async function waitStatus(what: string, ok: (mc: MeshConfig) => boolean, timeout = 30_000): Promise<MeshConfig> {
    return await waitFor(what, async () => {
      const mc = await getMc();
      return mc && ok(mc) ? mc : undefined;
    }, timeout, 100);
  }
  const cond = (mc: MeshConfig, type: string): { status: string; reason: string; message: string } | undefined => mc.status?.conditions?.find((c) => c.type === type);
  async function events(): Promise<Array<{ reason: string; type: string; message: string }>> {
    const res = await rest.request<{ items: Array<{ reason: string; type: string; message: string }> }>('GET', '/api/v1/namespaces/default/events', {
      query: { fieldSelector: `involvedObject.name=${name}` },
    });
    return res.items;
  }
  async function waitEvent(reason: string, count = 1): Promise<Array<{ reason: string; type: string; message: string }>> {
    return await waitFor(`${count} ${reason} event(s)`, async () => {
      const evs = (await events()).filter((e) => e.reason === reason);
      return evs.length >= count ? evs : undefined;
    }, 30_000, 200);
  }
  async function putCa(nowMs: number, rootTtlMs: number): Promise<string> {
    const ca = await createSelfSignedCa({ now: new Date(nowMs), trustDomain: 'cluster.local', rootTtlMs, intermediateTtlMs: rootTtlMs });
    await applier.apply((await caToSecret(ca, 'weft-ca-secret', meshNs)) as unknown as KubeObject);
    return fingerprint(ca.issuingRoot.toString('pem'));
  }
  async function writeState(s: Partial<RotationStatus>): Promise<void> {
    const now = Date.now();
    const rec: RotationStatus = { stage: 'idle', currentRoot: rootFp, stageSince: iso(now), completed: 0, proxies: { total: 0, current: 0, lagging: [] }, updatedAt: iso(now), ...s };
    await applier.mergePatch(SECRET, 'weft-ca-secret', meshNs, { metadata: { annotations: { [ROTATION_STATE_ANNOTATION]: encodeRotationStatus(rec) } } });
  }

  beforeAll(async () => {
    rest = testRest();
    applier = new KubeApplier(rest, 'weft-test-driver');
    await ensureMeshConfigCrd(rest);
    opNs = await createTestNamespace('op-rot');
    op = await runOperator({
      kubeConfig: loadKubeConfig({ kubeconfig: kubeconfigPath }),
      namespace: opNs.name,
      logger: silentLogger(),
      webhookUrl: 'https://127.0.0.1:1',
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 250,
      pollMs: 300,
      rotationPollMs: 300,
      rotationStuckMs: 60_000,
      // Only status and requests are polled; Secret data changes are noticed at the next CA check (hourly by default).
      caCheckMs: 1000,
      repairIntervalMs: 0,
    });
    await waitFor('leader', async () => op.isLeader(), 10_000, 50);
    await applier.apply({ ...MC, metadata: { name }, spec: spec() } as unknown as KubeObject);
  });
  afterAll(async () => {
    await applier?.delete(MC, name).catch(() => undefined);
    await waitFor('MeshConfig torn down', async () => !(await getMc()), 60_000, 200).catch(() => undefined);
    await op?.stop();
    await opNs?.cleanup();
    rest?.close();
  });

  it('reports no CA before the control plane created one', async () => {
    const mc = await waitStatus('CaNotFound', (m) => cond(m, 'CertificatesExpiringSoon')?.reason === 'CaNotFound');
    expect(cond(mc, 'CertificatesExpiringSoon')?.status).toBe('Unknown');
    expect(cond(mc, 'CertificatesExpiringSoon')?.message).toContain('CA not created yet');
    expect(cond(mc, 'RootRotation')).toMatchObject({ status: 'Unknown', reason: 'CaNotFound' });
    await waitFor('mesh namespace', async () => applier.get({ apiVersion: 'v1', kind: 'Namespace' }, meshNs), 30_000, 100);
  });

  it('asks for a rotation of a root past 80% of its life (not expiring yet), once', async () => {
    rootFp = await putCa(Date.now() - 850 * DAY, 1000 * DAY);
    const token = `auto-${rootFp.slice(0, 16)}`;
    await waitFor('request annotation', async () => (await secretAnn())[ROTATION_REQUEST_ANNOTATION] === token, 30_000, 100);
    const mc = await waitStatus('pending request in status', (m) => m.status?.rootRotation?.pendingRequest === token);
    expect(cond(mc, 'CertificatesExpiringSoon')).toMatchObject({ status: 'False', reason: 'NotExpiring' });
    expect(cond(mc, 'RootRotation')).toMatchObject({ status: 'False', reason: 'Requested' });
    const [ev] = await waitEvent('RootRotationRequested');
    expect(ev!.message).toContain(token);
    // Several more passes (status polls every 300 ms while requested) ask nothing more.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await events()).filter((e) => e.reason === 'RootRotationRequested')).toHaveLength(1);
  });

  it('mirrors the driver state into status.rootRotation with Stage, Stuck and Completed events', async () => {
    const token = `auto-${rootFp.slice(0, 16)}`;
    await writeState({ stage: 'add-root', nextRoot: B, stageSince: iso(Date.now() - 10 * 60_000), request: token, proxies: { total: 3, current: 1, lagging: ['p1', 'p2'] }, message: 'waiting for 2 proxies' });
    let mc = await waitStatus('add-root mirrored', (m) => m.status?.rootRotation?.stage === 'add-root');
    expect(mc.status?.rootRotation).toMatchObject({ stage: 'add-root', request: token, completed: 0, currentRoot: rootFp, nextRoot: B, proxies: { total: 3, current: 1 }, lagging: ['p1', 'p2'], stuck: true, message: 'waiting for 2 proxies' });
    expect(mc.status?.rootRotation?.pendingRequest).toBeUndefined();
    expect(cond(mc, 'RootRotation')).toMatchObject({ status: 'True', reason: 'AddRoot' });
    expect((await waitEvent('RootRotationStuck'))[0]!.type).toBe('Warning');
    await waitEvent('RootRotationStage');
    expect(await caChecks(name)).toEqual([
      expect.objectContaining({ name: 'ca expiry', status: 'pass' }),
      expect.objectContaining({ name: 'root rotation', status: 'warn', message: expect.stringContaining('root rotation stuck in stage add-root') }),
    ]);

    await writeState({ stage: 'switch-issuer', nextRoot: B, request: token, proxies: { total: 3, current: 3, lagging: [] } });
    mc = await waitStatus('switch-issuer mirrored', (m) => m.status?.rootRotation?.stage === 'switch-issuer');
    expect(mc.status?.rootRotation?.stuck).toBe(false);
    await waitEvent('RootRotationStage', 2);

    await writeState({ stage: 'idle', currentRoot: B, request: token, completed: 1 });
    mc = await waitStatus('idle mirrored', (m) => m.status?.rootRotation?.stage === 'idle');
    expect(cond(mc, 'RootRotation')).toMatchObject({ status: 'False', reason: 'Idle' });
    await waitEvent('RootRotationCompleted');
  });

  it('sets CertificatesExpiringSoon with a Warning event for a root that expires in 10 days', async () => {
    rootFp = await putCa(Date.now() - 355 * DAY, 365 * DAY);
    const mc = await waitStatus('ExpiringSoon', (m) => cond(m, 'CertificatesExpiringSoon')?.status === 'True');
    const c = cond(mc, 'CertificatesExpiringSoon')!;
    expect(c.reason).toBe('ExpiringSoon');
    expect(c.message).toMatch(/the root certificate \(Secret rot-\w+-mesh\/weft-ca-secret root-cert\.pem, .*\) expires at \S+ \((9|10) days left\)/);
    expect(c.message).toContain('weftctl rotate-root');
    const [ev] = await waitEvent('CertificatesExpiringSoon');
    expect(ev!.type).toBe('Warning');
    expect(await caChecks(name)).toContainEqual(expect.objectContaining({ name: 'ca expiry', status: 'warn', message: expect.stringContaining('the root certificate') }));
    // The new root is due as well: a request for it, not for the old one.
    await waitFor('auto request for the new root', async () => (await secretAnn())[ROTATION_REQUEST_ANNOTATION] === `auto-${rootFp.slice(0, 16)}`, 30_000, 100);
  });

  it('copies weft.dev/rotate-root from the MeshConfig to the Secret', async () => {
    await applier.mergePatch(MC, name, undefined, { metadata: { annotations: { 'weft.dev/rotate-root': `tok-${sfx}` } } });
    await waitFor('on-demand request copied', async () => (await secretAnn())[ROTATION_REQUEST_ANNOTATION] === `tok-${sfx}`, 30_000, 100);
    await waitStatus('pending on-demand request', (m) => m.status?.rootRotation?.pendingRequest === `tok-${sfx}`);
  });

  it('explains a malformed state annotation and keeps reconciling', async () => {
    await applier.mergePatch(SECRET, 'weft-ca-secret', meshNs, { metadata: { annotations: { [ROTATION_STATE_ANNOTATION]: '{"stage":"sideways"}' } } });
    const mc = await waitStatus('RotationStateInvalid', (m) => cond(m, 'RootRotation')?.reason === 'RotationStateInvalid');
    expect(mc.status?.rootRotation?.message).toMatch(/cannot read annotation rotation\.weft\.dev\/state on Secret rot-\w+-mesh\/weft-ca-secret: rotation\.weft\.dev\/state: stage must be one of idle, add-root, switch-issuer, remove-old-root/);
    expect(cond(mc, 'RootRotation')?.status).toBe('Unknown');
    expect(cond(mc, 'Reconciled')?.status).toBe('True');
    expect(cond(mc, 'CertificatesExpiringSoon')?.status).toBe('True');
    // A spec change is still reconciled.
    await applier.mergePatch(MC, name, undefined, { spec: { proxy: { logLevel: 'debug' } } });
    await waitStatus('new generation observed', (m) => m.status?.observedGeneration === m.metadata.generation && (m.metadata.generation ?? 0) > (mc.metadata.generation ?? 0));
  });

  it('weftctl rotate-root --wait follows the rotation to the end; without a driver it times out clearly', async () => {
    await writeState({ stage: 'idle', request: `tok-${sfx}`, completed: 1 });
    // Idle, or Requested: the root (expiring in 10 days) is due, so an automatic request follows.
    await waitStatus('state readable again', (m) => ['Idle', 'Requested'].includes(cond(m, 'RootRotation')?.reason ?? ''));

    const run = weftctl(['rotate-root', '--name', name, '--wait', '--timeout', '90s']);
    // Play the driver: start on the new request and walk the stages.
    const token = await waitFor('manual request on the Secret', async () => {
      const t = (await secretAnn())[ROTATION_REQUEST_ANNOTATION];
      return t?.startsWith('manual-') ? t : undefined;
    }, 60_000, 100);
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 1500));
    await writeState({ stage: 'add-root', nextRoot: B, request: token, completed: 1, proxies: { total: 2, current: 1, lagging: ['sidecar~10.0.0.9~web-1.shop~shop.svc.cluster.local'] } });
    await pause();
    await writeState({ stage: 'switch-issuer', nextRoot: B, request: token, completed: 1, proxies: { total: 2, current: 2, lagging: [] } });
    await pause();
    await writeState({ stage: 'remove-old-root', nextRoot: B, request: token, completed: 1, proxies: { total: 2, current: 2, lagging: [] } });
    await pause();
    await writeState({ stage: 'idle', currentRoot: B, request: token, completed: 2, proxies: { total: 2, current: 2, lagging: [] } });
    const r = await run;
    expect(r.err).toContain(`requested root rotation ${token}`);
    expect(r.err).toContain('stage add-root: 1/2 proxies at this stage; lagging: sidecar~10.0.0.9~web-1.shop~shop.svc.cluster.local');
    expect(r.err).toContain('stage switch-issuer');
    expect(r.err).toContain(`root rotation ${token} completed`);
    expect(r.out).toContain(`root rotated: the root is now ${B.slice(0, 16)}`);
    expect(r.code).toBe(0);

    const late = await weftctl(['rotate-root', '--name', name, '--wait', '--timeout', '3s']);
    expect(late.code).toBe(1);
    expect(late.err).toMatch(/timed out after 3s waiting for root rotation manual-\S+: the control plane has not started it/);
  });
});
