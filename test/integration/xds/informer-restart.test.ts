// The registry's supervised informers survive an API server outage: the control plane reaches
// the real API server through a TCP relay on 127.0.0.1 that the test cuts. While it is down the
// informers fail and restart with backoff (the last model is kept); a Service created meanwhile
// appears once the relay is back, without restarting the control plane.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import { loadKubeConfig, makeClients } from '../../../src/kube/client.js';
import { Registry } from '../../../src/xds/registry/registry.js';
import { clusterClients, createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { kubeconfigPath } from '../../helpers/paths.js';

/** A cuttable TCP relay to the API server (127.0.0.1 only). */
class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async up(port = 0): Promise<void> {
    this.server = net.createServer((c) => {
      const u = net.connect(this.target);
      for (const s of [c, u]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); s.on('error', () => { c.destroy(); u.destroy(); }); }
      c.pipe(u);
      u.pipe(c);
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const x of this.sockets) x.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

describe('registry informers across an API server outage', () => {
  const direct = clusterClients();
  let ns: TestNamespace;
  let relay: Relay;
  let registry: Registry;

  const service = (name: string) => ({ metadata: { name }, spec: { ports: [{ name: 'http', port: 80 }] } });
  const hasService = (name: string): boolean => registry.model().services.some((s) => s.namespace === ns.name && s.name === name);

  beforeAll(async () => {
    ns = await createTestNamespace('xds-outage');
    await direct.core.createNamespacedService({ namespace: ns.name, body: service('before') });
    const kc = loadKubeConfig({ kubeconfig: kubeconfigPath });
    const server = new URL(kc.getCurrentCluster()!.server);
    relay = new Relay({ host: server.hostname, port: Number(server.port) });
    await relay.up();
    // Same credentials and CA, through the relay (the API server's certificate names 127.0.0.1).
    kc.clusters = kc.clusters.map((c) => (c.name === kc.getCurrentCluster()!.name ? { ...c, server: `https://127.0.0.1:${relay.port}` } : c));
    registry = new Registry({ kubeClients: makeClients(kc), logger: silentLogger(), minBackoffMs: 100, maxBackoffMs: 1000 });
    registry.start();
    await registry.waitForSync(30_000);
  });

  afterAll(async () => {
    await registry?.stop();
    await relay?.down();
    await ns?.cleanup();
  });

  it('keeps the last model while cut off, restarts its informers, and catches up when the API server is back', async () => {
    expect(hasService('before')).toBe(true);
    const restartsBefore = registry.status().find((s) => s.kind === 'Service')!.restarts;
    const port = relay.port;
    await relay.down();
    await direct.core.createNamespacedService({ namespace: ns.name, body: service('during') });
    // Cut off: the informer fails (and is restarted with backoff); the model it had stays.
    await waitFor('the Service informer to notice the outage', async () => {
      const s = registry.status().find((x) => x.kind === 'Service')!;
      return s.restarts > restartsBefore || s.lastError !== undefined;
    }, 30_000, 100);
    expect(hasService('before')).toBe(true);
    expect(hasService('during')).toBe(false);
    await relay.up(port);
    await waitFor('the Service created during the outage', async () => hasService('during'), 30_000, 100);
    expect(hasService('before')).toBe(true);
    expect(registry.status().find((s) => s.kind === 'Service')!.restarts).toBeGreaterThan(restartsBefore);
  });
});
