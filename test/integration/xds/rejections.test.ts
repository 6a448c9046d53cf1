// NACKs reach Kubernetes: a proxy that rejects its config gets a Warning Event on its pod and an
// entry in the weft-xds-rejections ConfigMap (what the operator's ConfigRejected condition
// reads); the entry goes away when the proxy leaves. Real control plane, real API server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PUSH_ORDER } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel } from '../../../src/xds/model.js';
import { RejectionReporter } from '../../../src/xds/rejections.js';
import { parseRejectionReport, REJECTIONS_CONFIGMAP, REJECTIONS_KEY, type RejectionReport } from '../../../src/api/rejections.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { RawAdsClient } from '../../helpers/raw-ads.js';

const MESSAGE = 'rejections-test: unknown filter on purpose';

describe('config rejections reported to the API server', () => {
  const clients = clusterClients();
  let ns: TestNamespace;
  let cp: ControlPlane;
  let reporter: RejectionReporter;
  let good: RawAdsClient | undefined;
  let bad: RawAdsClient | undefined;

  const report = async (): Promise<RejectionReport | undefined> => {
    const cm = await clients.core.readNamespacedConfigMap({ name: REJECTIONS_CONFIGMAP, namespace: ns.name }).catch(() => undefined);
    const text = cm?.data?.[REJECTIONS_KEY];
    return text === undefined ? undefined : parseRejectionReport(text);
  };

  beforeAll(async () => {
    ns = await createTestNamespace('xds-nack');
    cp = await startControlPlane({ source: new StaticModelSource(emptyModel()), logger: silentLogger(), host: '127.0.0.1', xdsPort: 0, debounceMs: 10 });
    reporter = new RejectionReporter({ clients, namespace: ns.name, status: () => cp.status().proxies, logger: silentLogger() });
  });

  afterAll(async () => {
    good?.close();
    bad?.close();
    await reporter?.stop();
    await cp?.close();
    await ns?.cleanup();
  });

  it('a NACKing proxy gets a Warning Event on its pod and is listed in the ConfigMap; an ACKing one is not', async () => {
    const badNode = `sidecar~10.0.0.2~bad-pod.${ns.name}~${ns.name}.svc.cluster.local`;
    good = new RawAdsClient(cp.address, `sidecar~10.0.0.1~good-pod.${ns.name}~${ns.name}.svc.cluster.local`, undefined);
    bad = new RawAdsClient(cp.address, badNode, MESSAGE);
    // Every subscribed type has been sent and NACKed (each one is a rejection of its own).
    await waitFor('every type NACKed', async () => cp.status().proxies.some((p) => p.nodeId === badNode && p.types.length === PUSH_ORDER.length && p.types.every((t) => t.state === 'NACKED')), 10_000, 50);
    await reporter.tick();
    const r = await report();
    expect(r?.proxies).toBe(1);
    expect(r?.count).toBeGreaterThan(0);
    expect(r?.rejections.every((x) => x.pod === 'bad-pod' && x.namespace === ns.name && x.message === MESSAGE)).toBe(true);
    const events = await clients.core.listNamespacedEvent({ namespace: ns.name });
    const mine = events.items.filter((e) => e.reason === 'XdsConfigRejected');
    expect(mine.length).toBe(r!.count); // one per rejected type and version
    expect(mine.every((e) => e.involvedObject.name === 'bad-pod' && e.type === 'Warning' && (e.message ?? '').includes(MESSAGE))).toBe(true);
    // A second pass with nothing new writes no new Events.
    await reporter.tick();
    expect((await clients.core.listNamespacedEvent({ namespace: ns.name })).items.filter((e) => e.reason === 'XdsConfigRejected')).toHaveLength(mine.length);
  });

  it('the entry goes once the proxy disconnects', async () => {
    bad?.close();
    bad = undefined;
    await waitFor('the NACKing proxy to be gone', async () => !cp.status().proxies.some((p) => p.nodeId.includes('bad-pod')), 10_000, 50);
    await reporter.tick();
    expect(await report()).toEqual({ proxies: 0, count: 0, rejections: [] });
  });
});
