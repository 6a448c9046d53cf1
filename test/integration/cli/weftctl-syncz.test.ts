// weftctl check / proxy-status --controlplane-debug against the real control plane started in
// process (StaticModelSource, 127.0.0.1, debug port): one raw ADS client ACKs everything, the
// other NACKs every response, and the built weftctl binary must name the NACKing proxy.
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel } from '../../../src/xds/model.js';
import { kubeconfigPath } from '../../helpers/paths.js';
import { RawAdsClient } from '../../helpers/raw-ads.js';

jest.setTimeout(120_000);

const BIN = path.join(process.cwd(), 'dist/src/cmd/weftctl.js');
const GOOD = 'sidecar~127.0.0.1~good-pod.syncz-test~syncz-test.svc.cluster.local';
const BAD = 'sidecar~127.0.0.2~bad-pod.syncz-test~syncz-test.svc.cluster.local';
const NACK_MESSAGE = 'syncz-test: rejected on purpose';

interface Result { code: number; out: string; err: string }

function weftctl(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--kubeconfig', kubeconfigPath, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

async function until(what: string, f: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('weftctl --controlplane-debug against a real control plane', () => {
  let cp: ControlPlane;
  let good: RawAdsClient;
  let bad: RawAdsClient;
  let debugUrl = '';

  beforeAll(async () => {
    cp = await startControlPlane({ source: new StaticModelSource(emptyModel()), logger: silentLogger(), host: '127.0.0.1', xdsPort: 0, debugPort: 0, debounceMs: 10 });
    debugUrl = `http://${cp.debugAddress}`;
    good = new RawAdsClient(cp.address, GOOD, undefined);
    bad = new RawAdsClient(cp.address, BAD, NACK_MESSAGE);
    await until('one ACKed and one NACKed proxy', () => {
      const ps = cp.status().proxies;
      const g = ps.find((p) => p.nodeId === GOOD);
      const b = ps.find((p) => p.nodeId === BAD);
      return !!g && g.types.length > 0 && g.types.every((t) => t.state === 'SYNCED') && !!b && b.types.some((t) => t.state === 'NACKED');
    });
  });

  afterAll(async () => {
    good?.close();
    bad?.close();
    await cp?.close();
  });

  it('check fails (exit 1) naming the NACKing proxy, its type and error, and not the ACKing one', async () => {
    const r = await weftctl(['check', '--controlplane-debug', debugUrl]);
    expect(r.code).toBe(1);
    const line = r.out.split('\n').find((l) => l.includes('NACKed')) ?? '';
    expect(line).toContain('bad-pod.syncz-test [');
    expect(line).toContain(NACK_MESSAGE);
    expect(line).toMatch(/bad-pod\.syncz-test \[CDS,EDS,LDS,RDS,SDS\] \(CDS,EDS,LDS,RDS,SDS NACKed: syncz-test: rejected on purpose\)/);
    expect(line).not.toContain('good-pod');
  });

  it('check -o json carries the config sync result as a fail', async () => {
    const r = await weftctl(['check', '--controlplane-debug', debugUrl, '-o', 'json']);
    expect(r.code).toBe(1);
    const sync = (JSON.parse(r.out) as Array<{ name: string; status: string; message: string }>).find((x) => x.name === 'config sync');
    expect(sync?.status).toBe('fail');
    expect(sync?.message).toContain('bad-pod.syncz-test');
  });

  it('proxy-status --controlplane-debug shows SYNCED for the ACKing proxy and NACK for the other', async () => {
    const r = await weftctl(['proxy-status', '--controlplane-debug', debugUrl]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/good-pod\.syncz-test\s+SYNCED/);
    expect(r.out).toMatch(/bad-pod\.syncz-test\s+.*NACK/);
    expect(r.out).toContain(`NACK bad-pod.syncz-test:`);
    const one = await weftctl(['proxy-status', '--controlplane-debug', debugUrl, 'syncz-test/good-pod']);
    expect(one.code).toBe(0);
    expect(one.out).not.toContain('bad-pod');
  });

  it('without the flag the sync check is skipped with an explanation', async () => {
    const r = await weftctl(['check', '-o', 'json']);
    const sync = (JSON.parse(r.out) as Array<{ name: string; status: string; message: string }>).find((x) => x.name === 'config sync');
    expect(sync?.status).toBe('skip');
    expect(sync?.message).toContain('--controlplane-debug');
  });

  it('a debug URL that serves something else fails the check with a clear message', async () => {
    const r = await weftctl(['check', '--controlplane-debug', `${debugUrl}/healthz/debug/syncz`, '-o', 'json']);
    expect(r.code).toBe(1);
    const sync = (JSON.parse(r.out) as Array<{ name: string; status: string; message: string }>).find((x) => x.name === 'config sync');
    expect(sync?.status).toBe('fail');
    expect(sync?.message).toContain('answered HTTP 404');
  });
});
