// The service registry: supervised informers over the Kubernetes and Istio kinds the mesh
// reads, and a model() built by the pure buildModel(). Change notifications are coalesced by
// the caller (the control plane debounces them); the registry never keeps derived state.
import * as k8s from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject, ListPromise } from '@kubernetes/client-node';
import type { KubeClients } from '../../kube/client.js';
import type { Logger } from '../../log/logger.js';
import type { MeshModel } from '../model.js';
import { buildModel, type ModelOptions, type RegistryState } from './convert.js';
import { SupervisedInformer, type InformerStatus, type WatchedKind } from './informer.js';

/** The Istio kinds the registry watches: state key, group, plural. */
export const ISTIO_WATCHED = [
  { key: 'virtualServices', kind: 'VirtualService', group: 'networking.istio.io', plural: 'virtualservices' },
  { key: 'destinationRules', kind: 'DestinationRule', group: 'networking.istio.io', plural: 'destinationrules' },
  { key: 'gateways', kind: 'Gateway', group: 'networking.istio.io', plural: 'gateways' },
  { key: 'serviceEntries', kind: 'ServiceEntry', group: 'networking.istio.io', plural: 'serviceentries' },
  { key: 'peerAuthentications', kind: 'PeerAuthentication', group: 'security.istio.io', plural: 'peerauthentications' },
  { key: 'authorizationPolicies', kind: 'AuthorizationPolicy', group: 'security.istio.io', plural: 'authorizationpolicies' },
  { key: 'requestAuthentications', kind: 'RequestAuthentication', group: 'security.istio.io', plural: 'requestauthentications' },
] as const satisfies ReadonlyArray<{ key: keyof RegistryState; kind: string; group: string; plural: string }>;

export interface RegistryOptions extends Partial<ModelOptions> {
  kubeClients: KubeClients;
  logger: Logger;
  /** Called on every change of any watched object (not debounced). */
  onChange?: (kind: string) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

type AnyInformer = SupervisedInformer<KubernetesObject>;

function asList<T extends KubernetesObject>(p: Promise<unknown>): Promise<KubernetesListObject<T>> {
  return p as Promise<KubernetesListObject<T>>;
}

export class Registry {
  private readonly informers = new Map<keyof RegistryState, AnyInformer>();
  private readonly modelOptions: ModelOptions;
  private readonly listeners: Array<(kind: string) => void> = [];
  /** Bumped on every change: lets callers skip rebuilding an unchanged model. */
  generation = 0;

  constructor(private readonly opts: RegistryOptions) {
    this.modelOptions = { domain: opts.domain ?? 'cluster.local', rootNamespace: opts.rootNamespace ?? 'weft-system' };
    if (opts.trustDomain) this.modelOptions.trustDomain = opts.trustDomain;
    if (opts.outboundTrafficPolicy) this.modelOptions.outboundTrafficPolicy = opts.outboundTrafficPolicy;
    if (opts.onChange) this.listeners.push(opts.onChange);
    const kc = opts.kubeClients.config;
    const core = opts.kubeClients.core;
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    const custom = opts.kubeClients.custom;
    this.add('services', { kind: 'Service', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces() });
    this.add('endpointSlices', {
      kind: 'EndpointSlice',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => discovery.listEndpointSliceForAllNamespaces(),
    });
    this.add('pods', { kind: 'Pod', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces() });
    this.add('nodes', { kind: 'Node', path: '/api/v1/nodes', list: () => core.listNode() });
    this.add('namespaces', { kind: 'Namespace', path: '/api/v1/namespaces', list: () => core.listNamespace() });
    for (const w of ISTIO_WATCHED) {
      const list: ListPromise<KubernetesObject> = () => asList(custom.listClusterCustomObject({ group: w.group, version: 'v1', plural: w.plural }));
      this.add(w.key, { kind: w.kind, path: `/apis/${w.group}/v1/${w.plural}`, list });
    }
  }

  private add<T extends KubernetesObject>(key: keyof RegistryState, kind: WatchedKind<T>): void {
    const inf = new SupervisedInformer<T>(this.opts.kubeClients.config, kind, {
      logger: this.opts.logger.child({ informer: kind.kind }),
      onChange: (k) => this.changed(k),
      ...(this.opts.minBackoffMs !== undefined ? { minBackoffMs: this.opts.minBackoffMs } : {}),
      ...(this.opts.maxBackoffMs !== undefined ? { maxBackoffMs: this.opts.maxBackoffMs } : {}),
    });
    this.informers.set(key, inf as unknown as AnyInformer);
  }

  private changed(kind: string): void {
    this.generation++;
    for (const l of this.listeners) l(kind);
  }

  onChange(l: (kind: string) => void): void {
    this.listeners.push(l);
  }

  start(): void {
    for (const i of this.informers.values()) i.start();
  }

  async waitForSync(timeoutMs = 30_000): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(timeoutMs)));
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** The informer caches as plain lists. */
  state(): RegistryState {
    const get = <T>(k: keyof RegistryState): T[] => (this.informers.get(k)?.list() ?? []) as unknown as T[];
    return {
      services: get('services'),
      endpointSlices: get('endpointSlices'),
      pods: get('pods'),
      nodes: get('nodes'),
      namespaces: get('namespaces'),
      virtualServices: get('virtualServices'),
      destinationRules: get('destinationRules'),
      gateways: get('gateways'),
      serviceEntries: get('serviceEntries'),
      peerAuthentications: get('peerAuthentications'),
      authorizationPolicies: get('authorizationPolicies'),
      requestAuthentications: get('requestAuthentications'),
    };
  }

  model(): MeshModel {
    return buildModel(this.state(), this.modelOptions);
  }

  /** A pod from the cache by namespace and name (to scope a proxy by its labels). */
  pod(namespace: string, name: string): k8s.V1Pod | undefined {
    const pods = (this.informers.get('pods')?.list() ?? []) as k8s.V1Pod[];
    return pods.find((p) => p.metadata?.namespace === namespace && p.metadata?.name === name);
  }

  status(): InformerStatus[] {
    return [...this.informers.values()].map((i) => i.status());
  }
}
