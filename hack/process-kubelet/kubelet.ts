// The process kubelet: registers its Node, watches the pods bound to it and runs each one
// through a PodWorker. Shutdown stops every pod, removes every netns/veth and the Node.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import { KubeRest, isNotFound, type KubeObject } from '../../src/kube/apply.js';
import { Informer } from '../../src/kube/informer.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../../src/errors/errors.js';
import { NodeAgent } from './node.js';
import { Ipam } from './ipam.js';
import { cleanupAllPodNetworks } from './netns.js';
import { PodWorker } from './pod-worker.js';
import { CREATED_PATHS_FILE, removeCreatedMountPoints } from './launch.js';
import { TcpForwarder } from './forwarder.js';
import { ClusterDns } from './cluster-dns.js';
import type { RefLookup } from './env.js';
import type { ImageContext } from './images.js';
import type { IssuedToken } from './volumes.js';

export interface KubeletOptions {
  kubeconfig: KubeConfig;
  nodeName: string;
  nodeIP: string;
  bridge: string;
  gateway: string;
  /** Prefix length on pod eth0 (the whole routed pod CIDR, so pod-to-pod is on-link). */
  podPrefixLen: number;
  stateDir: string;
  images: ImageContext;
  /** Listen address of the in-pod API forwarder (host:port) and the real API server. */
  apiForwardListen: { host: string; port: number };
  apiTarget: { host: string; port: number };
  /** Cluster DNS on this address, port 53 (the pods' nameserver); undefined = none. */
  clusterDnsHost?: string;
  backoffBaseMs: number;
  backoffMaxMs: number;
  deleteNodeOnExit: boolean;
  logger: Logger;
}

type PodObject = V1Pod & KubeObject;

function decodeSecret(data: Record<string, string> | undefined, stringData?: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return { ...out, ...(stringData ?? {}) };
}

export class ProcessKubelet {
  private readonly o: KubeletOptions;
  private readonly rest: KubeRest;
  private readonly node: NodeAgent;
  private readonly forwarder: TcpForwarder;
  private clusterDns: ClusterDns | undefined;
  private readonly workers = new Map<string, PodWorker>();
  private informer: Informer<PodObject> | undefined;
  private ipam: Ipam | undefined;
  podCIDR = '';

  constructor(o: KubeletOptions) {
    this.o = o;
    this.rest = new KubeRest(o.kubeconfig);
    this.node = new NodeAgent({ name: o.nodeName, ip: o.nodeIP, rest: this.rest, logger: o.logger });
    this.forwarder = new TcpForwarder(o.apiForwardListen, o.apiTarget, o.logger);
  }

  private lookup(): RefLookup {
    const get = async <T>(p: string): Promise<T | undefined> => {
      try {
        return await this.rest.request<T>('GET', p);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    };
    return {
      secret: async (ns, name) => {
        const s = await get<{ data?: Record<string, string>; stringData?: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/${name}`);
        return s ? decodeSecret(s.data, s.stringData) : undefined;
      },
      configMap: async (ns, name) => {
        const c = await get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
        return c ? { ...decodeSecret(c.binaryData), ...(c.data ?? {}) } : undefined;
      },
    };
  }

  private async requestToken(ns: string, sa: string, pod: { name: string; uid: string }, audience: string | undefined, expirationSeconds: number): Promise<IssuedToken> {
    const r = await this.rest.request<{ status: { token: string; expirationTimestamp: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { ...(audience ? { audiences: [audience] } : {}), expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } },
      },
    });
    return { token: r.status.token, expiresAt: new Date(r.status.expirationTimestamp) };
  }

  async start(): Promise<void> {
    const log = this.o.logger;
    const leftovers = await cleanupAllPodNetworks();
    if (leftovers > 0) log.info({ leftovers }, 'removed leftover pod network namespaces');
    removeCreatedMountPoints(path.join(this.o.stateDir, CREATED_PATHS_FILE)); // from a crashed run
    fs.mkdirSync(path.join(this.o.stateDir, 'pods'), { recursive: true, mode: 0o755 });
    fs.chmodSync(this.o.stateDir, 0o755);
    await this.forwarder.start();
    await this.startClusterDns();
    await this.node.register();
    this.podCIDR = await this.node.waitForPodCIDR();
    log.info({ podCIDR: this.podCIDR }, 'node podCIDR assigned');
    this.ipam = new Ipam(this.podCIDR, [this.o.gateway]);
    this.node.startHeartbeat();
    const informer = new Informer<PodObject>(this.rest, {
      type: { apiVersion: 'v1', kind: 'Pod' },
      fieldSelector: `spec.nodeName=${this.o.nodeName}`,
      logger: log.child({ informer: 'pods' }),
    });
    informer.onEvent((type, pod) => this.onPod(type, pod));
    this.informer = informer;
    informer.start();
    await informer.waitForSync();
    log.info({ node: this.o.nodeName }, 'process kubelet ready');
  }

  private async startClusterDns(): Promise<void> {
    const host = this.o.clusterDnsHost;
    if (!host) return;
    const dns = new ClusterDns({ rest: this.rest, host, logger: this.o.logger.child({ component: 'cluster-dns' }) });
    try {
      await dns.start();
      this.clusterDns = dns;
    } catch (e) {
      // Port 53 taken (another resolver on the bridge): pods still run, names just don't resolve.
      this.o.logger.warn({ err: errorMessage(e), host }, 'cluster dns not started');
      await dns.stop().catch(() => undefined);
    }
  }

  private onPod(type: 'add' | 'update' | 'delete', pod: PodObject): void {
    const uid = pod.metadata.uid ?? '';
    const existing = this.workers.get(uid);
    if (type === 'delete') {
      // Force-deleted (or finalized by us): stop whatever still runs, nothing to delete.
      if (existing) void existing.terminate(0, false);
      return;
    }
    if (existing) {
      existing.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (pod.metadata.deletionTimestamp) {
      // Never started here (or a previous run's pod): just finalize it.
      void this.rest
        .request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } } })
        .catch((e: unknown) => this.o.logger.warn({ err: errorMessage(e) }, 'finalizing pod failed'));
      return;
    }
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (!this.ipam) return;
    const w = new PodWorker(pod, {
      rest: this.rest,
      logger: this.o.logger,
      nodeName: this.o.nodeName,
      nodeIP: this.o.nodeIP,
      ipam: this.ipam,
      net: { bridge: this.o.bridge, gateway: this.o.gateway, prefixLen: this.o.podPrefixLen },
      stateRoot: this.o.stateDir,
      images: this.o.images,
      lookup: this.lookup(),
      requestToken: (ns, sa, p, aud, exp) => this.requestToken(ns, sa, p, aud, exp),
      nameservers: this.o.clusterDnsHost ? [this.o.clusterDnsHost] : ['127.0.0.1'],
      baseEnv: {
        PATH: `${path.dirname(this.o.images.nodePath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: '/root',
        KUBERNETES_SERVICE_HOST: this.o.apiForwardListen.host,
        KUBERNETES_SERVICE_PORT: String(this.o.apiForwardListen.port),
        KUBERNETES_SERVICE_PORT_HTTPS: String(this.o.apiForwardListen.port),
      },
      backoffBaseMs: this.o.backoffBaseMs,
      backoffMaxMs: this.o.backoffMaxMs,
      onGone: (id) => this.workers.delete(id),
    });
    this.workers.set(uid, w);
    w.start();
  }

  /** Stops every pod (bounded grace), removes all pod networks and the Node. */
  async stop(graceSeconds = 5): Promise<void> {
    const log = this.o.logger;
    await this.informer?.stop();
    const all = [...this.workers.values()];
    await Promise.all(all.map((w) => w.terminate(Math.min(graceSeconds, w.pod.spec?.terminationGracePeriodSeconds ?? 30), this.o.deleteNodeOnExit)));
    await cleanupAllPodNetworks();
    // No container runs any more, so no mount namespace uses the mount points we created.
    const removed = removeCreatedMountPoints(path.join(this.o.stateDir, CREATED_PATHS_FILE));
    if (removed > 0) log.info({ removed }, 'removed mount points created on the host');
    // Every pod is gone: remove the state dir too, so a stopped kubelet leaves nothing behind.
    fs.rmSync(path.join(this.o.stateDir, 'pods'), { recursive: true, force: true });
    try {
      fs.rmdirSync(this.o.stateDir);
    } catch {
      /* not empty (someone else's files) or already gone */
    }
    await this.forwarder.stop();
    await this.clusterDns?.stop();
    await this.node.shutdown(this.o.deleteNodeOnExit);
    this.rest.close();
    log.info({ pods: all.length }, 'process kubelet stopped');
  }
}
