// The trust bundle over SDS (ROOTCA) between the real control plane and the proxy's xDS
// client: served issuing root first, ACKed only once the proxy applied it, NACKed when it
// does not parse, and invisible to a client that does not subscribe.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { TYPE_URLS } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel } from '../../../src/xds/model.js';

const SUBSCRIBER = 'sidecar~127.0.0.1~sub-pod.rootca~rootca.svc.cluster.local';
const PLAIN = 'sidecar~127.0.0.2~plain-pod.rootca~rootca.svc.cluster.local';

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ROOTCA over ADS (real control plane, real xDS client)', () => {
  let cp: ControlPlane;
  let a: CaMaterial;
  let b: CaMaterial;
  const clients: XdsClient[] = [];
  const received: string[][] = [];
  let gate: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let configs = 0;

  const sync = (id: string): { ackedVersion?: string; subscribed: boolean; flavour: string } | undefined => cp.rootCaSync().proxies.find((p) => p.nodeId === id);

  beforeAll(async () => {
    a = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    b = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    cp = await startControlPlane({ source: new StaticModelSource(emptyModel()), logger: silentLogger(), host: '127.0.0.1', xdsPort: 0, debounceMs: 10 });
    const sub = new XdsClient({
      address: cp.address, node: { id: SUBSCRIBER }, logger: silentLogger(), onConfig: () => undefined,
      onTrustBundle: (pems) => {
        received.push(pems);
        // The test decides when the proxy has "applied" the bundle.
        return new Promise<void>((resolve, reject) => (gate = { resolve, reject }));
      },
    });
    const plain = new XdsClient({ address: cp.address, node: { id: PLAIN }, logger: silentLogger(), onConfig: () => void configs++ });
    clients.push(sub, plain);
    sub.start();
    plain.start();
    await until('both connected', () => cp.rootCaSync().proxies.length === 2 && configs > 0);
  });

  afterAll(async () => {
    clients.forEach((c) => c.close());
    await cp?.close();
  });

  it('serves the bundle issuing root first and sees the ACK only after the proxy applied it', async () => {
    const pems = [b.issuingRoot.toString('pem'), a.issuingRoot.toString('pem')];
    cp.setTrustBundle(pems);
    const version = cp.rootCaSync().version!;
    expect(version).toBeDefined();
    await until('bundle delivered', () => received.length === 1);
    expect(received[0]!.map((p) => p.trim())).toEqual(pems.map((p) => p.trim()));
    await new Promise((r) => setTimeout(r, 200));
    expect(sync(SUBSCRIBER)!.ackedVersion).not.toBe(version); // still applying: no ACK
    gate!.resolve();
    await until('ACK', () => sync(SUBSCRIBER)!.ackedVersion === version);
    expect(clients[0]!.lastNack.size).toBe(0);
  });

  it('leaves a proxy that does not subscribe alone', () => {
    expect(sync(PLAIN)).toEqual({ nodeId: PLAIN, flavour: 'sidecar', subscribed: false });
    expect(clients[1]!.lastNack.size).toBe(0);
  });

  it('ACKs the newest bundle only when one arrives while another is being applied', async () => {
    cp.setTrustBundle([a.issuingRoot.toString('pem')]);
    await until('second bundle delivered', () => received.length === 2);
    const first = gate!;
    cp.setTrustBundle([a.issuingRoot.toString('pem'), b.issuingRoot.toString('pem')]);
    const newest = cp.rootCaSync().version!;
    await until('third bundle delivered', () => received.length === 3);
    first.resolve(); // superseded: must not ACK
    await new Promise((r) => setTimeout(r, 200));
    expect(sync(SUBSCRIBER)!.ackedVersion).not.toBe(newest);
    gate!.resolve();
    await until('ACK of the newest', () => sync(SUBSCRIBER)!.ackedVersion === newest);
  });

  it('NACKs a bundle that is not PEM, with the reason, and keeps the last good one', async () => {
    const good = sync(SUBSCRIBER)!.ackedVersion;
    cp.setTrustBundle(['this is not a certificate']);
    await until('NACK', () => clients[0]!.lastNack.has(TYPE_URLS.secret));
    expect(clients[0]!.lastNack.get(TYPE_URLS.secret)!.message).toContain('ROOTCA: the trust bundle holds no PEM certificate');
    expect(received.length).toBe(3); // never handed to the identity
    expect(sync(SUBSCRIBER)!.ackedVersion).toBe(good);
    // The client records its NACK before the server has read it: wait for the server's side.
    await until('the control plane saw the NACK', () => cp.status().proxies.find((p) => p.nodeId === SUBSCRIBER)!.types.find((t) => t.type === 'SDS')?.state === 'NACKED');
    expect(sync(SUBSCRIBER)!.ackedVersion).toBe(good);
  });

  it('NACKs a bundle the proxy refuses to apply, with the proxy\'s error', async () => {
    cp.setTrustBundle([b.issuingRoot.toString('pem')]);
    await until('bundle delivered', () => received.length === 4);
    gate!.reject(new Error('ROOTCA does not trust this proxy\'s own certificate: test'));
    await until('NACK', () => clients[0]!.lastNack.get(TYPE_URLS.secret)?.message.includes('does not trust this proxy') === true);
  });
});
