// Root rotation end to end: the operator's request annotation on weft-ca-secret, the
// control plane's rotation driver, the trust bundle over SDS (ROOTCA), and two proxies wired
// the way runProxy wires them (startWorkloadIdentity + XdsClient with onTrustBundle) that
// keep talking mTLS through it all. Real API server, real TokenReview, real gRPC CA.
// The proxies' routing config is fixed (fixtures): this test is about identity, not routing.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { CA_TOKEN_AUDIENCE } from '../../../src/api/sidecar.js';
import { CA_SECRET_KEYS, caFromSecret, caToSecret, createSelfSignedCa, fingerprint, splitPem, type CaMaterial, type SecretLike } from '../../../src/ca/authority.js';
import {
  NEXT_CA_SECRET_KEYS,
  PLUGGED_CA_ROTATION_MESSAGE,
  ROTATION_REQUEST_ANNOTATION,
  ROTATION_STATE_ANNOTATION,
  parseRotationStatus,
  type RotationStatus,
} from '../../../src/ca/rotation-contract.js';
import { runCaService, type CaService } from '../../../src/ca/service.js';
import { AdsClient, TYPE_URLS, decodeAny, type AdsClientStream, type DiscoveryResponse } from '../../../src/envoy/index.js';
import { rootCaBundle } from '../../../src/envoy/root-ca.js';
import { pemFingerprint, verifyChain } from '../../../src/identity/chain.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { startWorkloadIdentity, type WorkloadIdentity } from '../../../src/proxy/workload-identity.js';
import { XdsClient } from '../../../src/proxy/xds-client.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel } from '../../../src/xds/model.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../helpers/cluster.js';
import { cla, edsCluster, HCM_TYPE, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, startProxy, type Backend } from '../proxy/helpers.js';

const DOWN = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UP = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const TICK_MS = 1000;
const fp = (m: CaMaterial): string => fingerprint(m.issuingRoot.toString('pem'));

function mtlsListener(port: number, clientId: string): ListenerShape {
  return {
    name: 'inbound', address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{
      filter_chain_match: { transport_protocol: 'tls' },
      filters: [{ name: 'hcm', typed_config: { '@type': HCM_TYPE, stat_prefix: 'inbound', rds: { route_config_name: 'in' } } }],
      transport_socket: { name: 'tls', typed_config: { '@type': DOWN, require_client_certificate: { value: true }, common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: clientId }] } } } } },
    }],
  };
}

async function readSecret(ns: TestNamespace, name: string): Promise<SecretLike & { metadata?: { annotations?: Record<string, string> } }> {
  return (await ns.clients.core.readNamespacedSecret({ name, namespace: ns.name })) as SecretLike;
}

async function rotationStatus(ns: TestNamespace, name = 'weft-ca-secret'): Promise<RotationStatus | undefined> {
  const text = (await readSecret(ns, name)).metadata?.annotations?.[ROTATION_STATE_ANNOTATION];
  return text === undefined ? undefined : parseRotationStatus(text);
}

/** What the operator does: set the request annotation (read-modify-write; the driver writes too). */
async function requestRotation(ns: TestNamespace, token: string, name = 'weft-ca-secret'): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const s = await ns.clients.core.readNamespacedSecret({ name, namespace: ns.name });
    s.metadata = { ...s.metadata, annotations: { ...s.metadata?.annotations, [ROTATION_REQUEST_ANNOTATION]: token } };
    try {
      await ns.clients.core.replaceNamespacedSecret({ name, namespace: ns.name, body: s });
      return;
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
  }
  throw new Error('could not set the request annotation');
}

/**
 * A raw ADS client that subscribes to ROOTCA and ACKs only the bundles `ack` accepts (by
 * default none). It records every bundle it is sent, as root fingerprints in order.
 */
class SilentProxy {
  private readonly client: AdsClient;
  private readonly stream: AdsClientStream;
  readonly bundles: string[][] = [];
  constructor(address: string, readonly nodeId: string, ack: (roots: string[]) => boolean = () => false) {
    this.client = new AdsClient(address, grpc.credentials.createInsecure());
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('error', () => undefined);
    this.stream.on('data', (r: DiscoveryResponse) => {
      const roots = r.resources.flatMap((a) => rootCaBundle(decodeAny(a)).map(pemFingerprint));
      this.bundles.push(roots);
      if (roots.length > 0 && ack(roots)) this.stream.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: ['ROOTCA'] });
    });
    this.stream.write({ node: { id: nodeId, cluster: 'test' }, type_url: TYPE_URLS.secret, resource_names: ['ROOTCA'] });
  }
  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

describe('root rotation driven by the control plane (real API server, real proxies)', () => {
  let ns: TestNamespace;
  let cp: ControlPlane;
  let ca: CaService;
  let backend: Backend;
  let caPort = 0;
  const ids: WorkloadIdentity[] = [];
  const xds: XdsClient[] = [];
  const proxies: Proxy[] = [];
  let outboundPort = 0;
  const serverName = (): string => `weft-ca.${ns.name}.svc`;

  const startCa = (port: number): Promise<CaService> => runCaService({
    clients: ns.clients, namespace: ns.name, port, logger: silentLogger(),
    tls: { dnsNames: [serverName()], ipAddresses: ['127.0.0.1'] },
    onTrustBundle: (pems) => cp.setTrustBundle(pems),
    rotation: { proxies: cp, tickMs: TICK_MS },
  });

  async function workload(sa: string): Promise<WorkloadIdentity> {
    await ns.clients.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: sa } } });
    const tr = await ns.clients.core.createNamespacedServiceAccountToken({
      name: sa, namespace: ns.name,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [CA_TOKEN_AUDIENCE], expirationSeconds: 3600 } },
    });
    const token = tr.status!.token!;
    const w = await startWorkloadIdentity({
      caAddress: `127.0.0.1:${caPort}`, token: async () => token, rootCertPem: ca.trustBundle().join(''), caServerName: serverName(),
      namespace: ns.name, serviceAccount: sa, ttlSeconds: 3600, backoff: { initialMs: 200, maxMs: 2000 }, logger: silentLogger(),
    });
    ids.push(w);
    const client = new XdsClient({
      address: cp.address, node: { id: `sidecar~127.0.0.1~${sa}-pod.${ns.name}~${ns.name}.svc.cluster.local` }, logger: silentLogger(),
      onConfig: () => undefined, // routing comes from the fixtures below
      onTrustBundle: (pems, superseded) => w.applyTrustBundle(pems, superseded),
    });
    xds.push(client);
    client.start();
    return w;
  }

  beforeAll(async () => {
    ns = await createTestNamespace('weft-rot-drv');
    cp = await startControlPlane({ source: new StaticModelSource(emptyModel()), logger: silentLogger(), host: '127.0.0.1', xdsPort: 0, debounceMs: 10 });
    caPort = await freePort();
    ca = await startCa(caPort);
    backend = await httpBackend('app');
    const server = await workload('server');
    const client = await workload('client');
    const inboundPort = await freePort();
    outboundPort = await freePort();
    const serverProxy = await startProxy({
      listeners: [mtlsListener(inboundPort, client.agent.spiffeId)],
      routes: [routeConfig('in', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])],
      clusters: [edsCluster('app')], endpoints: [cla('app', [backend.port])],
    });
    serverProxy.identity = server.identity;
    const clientProxy = await startProxy({
      listeners: [httpListener('outbound', outboundPort, 'out')],
      routes: [routeConfig('out', [{ match: { prefix: '/' }, route: { cluster: 'mesh' } }])],
      clusters: [edsCluster('mesh', { transport_socket: { name: 'tls', typed_config: { '@type': UP, sni: 'server', common_tls_context: { combined_validation_context: { default_validation_context: { match_subject_alt_names: [{ exact: server.agent.spiffeId }] } } } } } })],
      endpoints: [cla('mesh', [inboundPort])],
    });
    clientProxy.identity = client.identity;
    proxies.push(serverProxy, clientProxy);
  });

  afterAll(async () => {
    xds.forEach((c) => c.close());
    ids.forEach((w) => w.stop());
    for (const p of proxies) await p.close();
    await backend?.close();
    await ca?.close();
    await cp?.close();
    await ns?.cleanup();
  });

  it('rotates the root in three stages under continuous mTLS: 0 failed requests, 0 restarts', async () => {
    // Both proxies ACK the idle bundle and the driver records them.
    await waitFor('idle status with both proxies current', async () => {
      const s = await rotationStatus(ns);
      return s?.stage === 'idle' && s.proxies.total === 2 && s.proxies.current === 2 ? s : undefined;
    }, 30_000, 100);
    const oldCa = await caFromSecret(await readSecret(ns, 'weft-ca-secret'), new Date());
    const oldRoot = fp(oldCa);
    const generations = proxies.map((p) => p.identity!.generation);
    let expired = 0;
    ids.forEach((w) => w.agent.on('expired', () => expired++));

    // One keep-alive connection that must survive the whole rotation.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const viaKeepAlive = (): Promise<number> => new Promise((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: outboundPort, path: '/ka', headers: { host: 'svc' }, agent: keepAlive }, (res) => {
        sockets.add(res.socket);
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      r.on('error', reject);
      r.end();
    });
    expect(await viaKeepAlive()).toBe(200);

    let ok = 0;
    const failures: string[] = [];
    const keepAliveFailures: string[] = [];
    let stop = false;
    const plain = new http.Agent({ keepAlive: false });
    const one = (): Promise<number> => new Promise((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: outboundPort, path: '/load', headers: { host: 'svc' }, agent: plain }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      r.on('error', reject);
      r.end();
    });
    const deadline = Date.now() + 90_000;
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop && Date.now() < deadline && ok + failures.length < 20_000) {
        try {
          const status = await one();
          if (status === 200) ok++;
          else failures.push(`status ${status}`);
        } catch (e) {
          failures.push(String(e));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    });

    await requestRotation(ns, 'rotate-1');
    const stages: string[] = [];
    let final: RotationStatus | undefined;
    try {
      final = await waitFor('rotation complete', async () => {
        const s = await rotationStatus(ns);
        if (s && stages[stages.length - 1] !== s.stage) stages.push(s.stage);
        if (s && s.stage !== 'idle') {
          const code = await viaKeepAlive().catch((e: unknown) => String(e));
          if (code !== 200) keepAliveFailures.push(`${s.stage}: ${code}`);
        }
        return s?.stage === 'idle' && s.completed === 1 ? s : undefined;
      }, 60_000, 100);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(await viaKeepAlive()).toBe(200);

    expect(stages.filter((s) => s !== 'idle')).toEqual(['add-root', 'switch-issuer', 'remove-old-root']);
    expect(stages[stages.length - 1]).toBe('idle');
    expect(failures).toEqual([]);
    expect(keepAliveFailures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(expired).toBe(0);
    expect(sockets.size).toBe(1); // the keep-alive connection never dropped
    expect(proxies.map((p) => p.identity!.generation).every((g, i) => g > generations[i]!)).toBe(true);

    // The Secret's main keys hold the new root, alone; the next-* keys are gone.
    const secret = await readSecret(ns, 'weft-ca-secret');
    const newCa = await caFromSecret(secret, new Date());
    const newRoot = fp(newCa);
    expect(newRoot).not.toBe(oldRoot);
    expect(final).toMatchObject({ currentRoot: newRoot, request: 'rotate-1', completed: 1 });
    expect(final!.nextRoot).toBeUndefined();
    expect(splitPem(Buffer.from(secret.data![CA_SECRET_KEYS.rootCert]!, 'base64').toString()).map(pemFingerprint)).toEqual([newRoot]);
    expect(Object.keys(secret.data!).filter((k) => Object.values(NEXT_CA_SECRET_KEYS).includes(k as never))).toEqual([]);

    // Every leaf chains to the new root only.
    for (const w of ids) {
      const c = w.agent.current()!;
      expect(c.rootFingerprint).toBe(newRoot);
      expect(c.trustBundlePem.map(pemFingerprint)).toEqual([newRoot]);
      expect(verifyChain(c.certChainPem, [newCa.issuingRoot.toString('pem')], new Date()).rootFingerprint).toBe(newRoot);
      expect(() => verifyChain(c.certChainPem, [oldCa.issuingRoot.toString('pem')], new Date())).toThrow();
    }
    // The CA's own serving certificate moved too: a client that trusts only the new root renews.
    const before = ids[0]!.agent.current()!.serialNumber;
    await ids[0]!.agent.renewNow();
    expect(ids[0]!.agent.current()!.serialNumber).not.toBe(before);
    keepAlive.destroy();
  }, 150_000);

  it('waits in add-root for a proxy that never ACKs, lists it, resumes after a control-plane restart, and proceeds once it leaves', async () => {
    const silent = new SilentProxy(cp.address, `sidecar~127.0.0.9~silent-pod.${ns.name}~${ns.name}.svc.cluster.local`);
    try {
      await requestRotation(ns, 'rotate-2');
      const stalled = await waitFor('add-root with the silent proxy lagging', async () => {
        const s = await rotationStatus(ns);
        return s?.stage === 'add-root' && s.request === 'rotate-2' && s.proxies.total === 3 && s.proxies.current === 2 ? s : undefined;
      }, 30_000, 100);
      expect(stalled.proxies.lagging).toEqual([silent.nodeId]);
      expect(stalled.message).toBe('waiting for 1 of 3 proxies to ACK the add-root trust bundle');
      await new Promise((r) => setTimeout(r, 3 * TICK_MS));
      expect((await rotationStatus(ns))?.stage).toBe('add-root');

      // Restart the CA service (and its driver) on the same port: it resumes add-root from the Secret.
      await ca.close();
      ca = await startCa(caPort);
      await waitFor('resumed add-root material', async () => (ca.trustBundle().length === 2 ? true : undefined), 10_000, 100);
      expect(ca.issuer.currentMaterial.trustBundle.map(pemFingerprint)).toContain(stalled.currentRoot);
      expect(ca.issuer.currentMaterial.trustBundle.map(pemFingerprint)).toContain(stalled.nextRoot);
      await new Promise((r) => setTimeout(r, 2 * TICK_MS));
      expect((await rotationStatus(ns))?.stage).toBe('add-root');
    } finally {
      silent.close();
    }
    const done = await waitFor('rotation 2 complete', async () => {
      const s = await rotationStatus(ns);
      return s?.stage === 'idle' && s.completed === 2 ? s : undefined;
    }, 60_000, 100);
    expect(ids.every((w) => w.agent.current()!.rootFingerprint === done.currentRoot)).toBe(true);
  }, 150_000);

  it('restarting in switch-issuer keeps serving that stage: the issuer stays new and ROOTCA never falls back to the old root alone', async () => {
    const before = await rotationStatus(ns);
    const oldRoot = before!.currentRoot;
    // ACKs bundles led by the current root (idle, add-root), never the switched one.
    const holder = new SilentProxy(cp.address, `sidecar~127.0.0.8~holder-pod.${ns.name}~${ns.name}.svc.cluster.local`, (roots) => roots[0] === oldRoot);
    try {
      await requestRotation(ns, 'rotate-switch');
      const held = await waitFor('held in switch-issuer', async () => {
        const s = await rotationStatus(ns);
        return s?.stage === 'switch-issuer' && s.request === 'rotate-switch' && s.proxies.total === 3 && s.proxies.current === 2 ? s : undefined;
      }, 30_000, 100);
      expect(held.proxies.lagging).toEqual([holder.nodeId]);
      const newRoot = held.nextRoot!;
      const versionBefore = cp.rootCaSync().version;
      const seen = holder.bundles.length;

      await ca.close();
      ca = await startCa(caPort);
      expect(fingerprint(ca.issuer.currentMaterial.issuingRoot.toString('pem'))).toBe(newRoot);
      expect(ca.trustBundle().map(pemFingerprint).sort()).toEqual([oldRoot, newRoot].sort());
      expect(cp.rootCaSync().version).toBe(versionBefore);
      await new Promise((r) => setTimeout(r, 2 * TICK_MS));
      expect((await rotationStatus(ns))?.stage).toBe('switch-issuer');
      // Nothing new was pushed to the proxies by the restart, least of all the old root alone.
      expect(holder.bundles.slice(seen)).toEqual([]);
      for (const w of ids) expect(w.agent.current()!.rootFingerprint).toBe(newRoot);
      // A workload renewing now still gets a certificate under the new root.
      await ids[1]!.agent.renewNow();
      expect(ids[1]!.agent.current()!.rootFingerprint).toBe(newRoot);
    } finally {
      holder.close();
    }
    const done = await waitFor('switch rotation complete', async () => {
      const s = await rotationStatus(ns);
      return s?.stage === 'idle' && s.request === 'rotate-switch' && s.completed === before!.completed + 1 ? s : undefined;
    }, 60_000, 100);
    expect(ids.every((w) => w.agent.current()!.rootFingerprint === done.currentRoot)).toBe(true);
  }, 150_000);

  it('does not rotate a plugged-in cacerts CA; it records why', async () => {
    const plugNs = await createTestNamespace('weft-rot-plug');
    let plugged: CaService | undefined;
    try {
      const m = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
      const noRootKey: CaMaterial = { source: 'plugged-in', signingCert: m.signingCert, signingKey: m.signingKey, signingKeyKind: m.signingKeyKind, intermediates: [], issuingRoot: m.issuingRoot, trustBundle: m.trustBundle };
      await plugNs.clients.core.createNamespacedSecret({ namespace: plugNs.name, body: (await caToSecret(noRootKey, 'cacerts', plugNs.name)) as never });
      plugged = await runCaService({ clients: plugNs.clients, namespace: plugNs.name, port: 0, logger: silentLogger(), tls: false, rotation: { proxies: cp, tickMs: 300 } });
      await requestRotation(plugNs, 'rotate-plugged', 'cacerts');
      const s = await waitFor('refusal recorded', () => rotationStatus(plugNs, 'cacerts'), 20_000, 100);
      expect(s).toMatchObject({ stage: 'idle', request: 'rotate-plugged', message: PLUGGED_CA_ROTATION_MESSAGE, currentRoot: fp(m), completed: 0 });
      const secret = await readSecret(plugNs, 'cacerts');
      expect(Object.keys(secret.data!).sort()).toEqual(['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
      await expect(plugNs.clients.core.readNamespacedSecret({ name: 'weft-ca-secret', namespace: plugNs.name })).rejects.toBeDefined();
      expect(plugged.trustBundle().map(pemFingerprint)).toEqual([fp(m)]);
    } finally {
      await plugged?.close();
      await plugNs.cleanup();
    }
  }, 60_000);

  it('leaves a malformed state annotation alone and does nothing', async () => {
    const s = await ns.clients.core.readNamespacedSecret({ name: 'weft-ca-secret', namespace: ns.name });
    const broken = '{"stage":"add-root"';
    s.metadata = { ...s.metadata, annotations: { ...s.metadata?.annotations, [ROTATION_STATE_ANNOTATION]: broken, [ROTATION_REQUEST_ANNOTATION]: 'rotate-3' } };
    await ns.clients.core.replaceNamespacedSecret({ name: 'weft-ca-secret', namespace: ns.name, body: s });
    await waitFor('driver saw the bad state', async () => (ca.rotation?.lastError?.message.includes('not valid JSON') ? true : undefined), 10_000, 100);
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    const after = await readSecret(ns, 'weft-ca-secret');
    expect(after.metadata?.annotations?.[ROTATION_STATE_ANNOTATION]).toBe(broken);
    expect(Object.keys(after.data!).some((k) => k.startsWith('next-'))).toBe(false);
    expect(ca.trustBundle().length).toBe(1);
  }, 30_000);

  it('refuses unusable next-* material with a clear error and writes nothing', async () => {
    const incoming = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    const s = await ns.clients.core.readNamespacedSecret({ name: 'weft-ca-secret', namespace: ns.name });
    const current = await caFromSecret(s as SecretLike, new Date());
    const nextData = (await caToSecret(incoming, 'x', ns.name)).data!;
    const state = JSON.stringify({
      stage: 'add-root', currentRoot: fp(current), nextRoot: fp(incoming), stageSince: new Date().toISOString(), completed: 9,
      request: 'rotate-4', proxies: { total: 0, current: 0, lagging: [] }, updatedAt: new Date().toISOString(),
    });
    s.metadata = { ...s.metadata, annotations: { ...s.metadata?.annotations, [ROTATION_STATE_ANNOTATION]: state, [ROTATION_REQUEST_ANNOTATION]: 'rotate-4' } };
    s.data = {
      ...s.data,
      [NEXT_CA_SECRET_KEYS.caCert]: nextData[CA_SECRET_KEYS.caCert]!,
      [NEXT_CA_SECRET_KEYS.caKey]: Buffer.from('not a key').toString('base64'),
      [NEXT_CA_SECRET_KEYS.rootCert]: nextData[CA_SECRET_KEYS.rootCert]!,
    };
    const written = await ns.clients.core.replaceNamespacedSecret({ name: 'weft-ca-secret', namespace: ns.name, body: s });
    await waitFor('driver saw the bad next-* keys', async () => (ca.rotation?.lastError?.message.includes('the incoming CA in the next-* keys is unusable') ? true : undefined), 10_000, 100);
    expect(ca.rotation!.lastError!.message).toContain('ca-key.pem is not a readable PEM private key');
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    const after = await ns.clients.core.readNamespacedSecret({ name: 'weft-ca-secret', namespace: ns.name });
    expect(after.metadata?.resourceVersion).toBe(written.metadata?.resourceVersion);
    expect(ca.trustBundle().length).toBe(1);
  }, 30_000);
});
