// The operator manager: supervised informers (MeshConfigs, owned objects by label, injected
// pods), a keyed workqueue, Lease leader election, and N workers that run the reconciler
// only while this replica leads. Entry points (src/cmd) call runOperator().
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MESHCONFIG_OWNER_LABEL, type MeshConfig } from '../api/meshconfig.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_LABEL } from '../api/labels.js';
import { loadKubeConfig } from '../kube/client.js';
import { KubeApplier, KubeRest, type KubeObject } from '../kube/apply.js';
import { Informer } from '../kube/informer.js';
import { LeaderElector } from '../kube/lease.js';
import { realClock, WorkQueue, type Clock } from '../kube/workqueue.js';
import { OWNED_KINDS } from '../render/controlplane/render.js';
import { DEFAULT_EXCLUDED_NAMESPACES } from '../render/inject/decide.js';
import { MESHCONFIG_TYPE, MeshConfigReconciler, TerminalError, type ReconcilerCaches } from './reconciler.js';
import { HttpMetricsSource, type MetricsSource } from './healthgate.js';
import { RepairController, type RepairLimits } from './repair.js';

export type { MetricsSource } from './healthgate.js';

export const FIELD_MANAGER = 'weft-operator';
export const DEFAULT_LEASE_NAME = 'weft-operator';

export interface WebhookHookContext {
  kubeConfig: KubeConfig;
  namespace: string;
  logger: Logger;
}

export interface StartedWebhook {
  /** Base URL the API server uses for clientConfig.url (e.g. https://127.0.0.1:9443). */
  url?: string;
  /** base64 PEM CA bundle for clientConfig.caBundle. */
  caBundle?: string;
  stop(): Promise<void>;
}

export interface OperatorOptions {
  /** Path to a kubeconfig; default: in-cluster or $KUBECONFIG. Ignored if kubeConfig is given. */
  kubeconfig?: string;
  kubeConfig?: KubeConfig;
  /** The operator's namespace: holds its Lease, excluded from injection. */
  namespace: string;
  /** Leader-election identity; default hostname + random suffix. */
  identity?: string;
  logger: Logger;
  /** Starts the webhook server in-process (every replica runs it, leader or not). */
  startWebhook?: (ctx: WebhookHookContext) => Promise<StartedWebhook>;
  /** Used when no webhook hook is given (or it returns none). */
  webhookUrl?: string;
  caBundle?: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  workers?: number;
  clock?: Clock;
  /** Health poll interval while converging. */
  pollMs?: number;
  /**
   * Data-plane health gate from proxy metrics: a source, or true for HTTP scrapes of
   * <podIP>:15090/stats/prometheus. Default: no metrics, the gate is Deployment availability.
   */
  proxyMetrics?: MetricsSource | boolean;
  /** Repair controller scan period (pods missing a sidecar); 0 disables it. Default 30 s. */
  repairIntervalMs?: number;
  repairLimits?: Partial<RepairLimits>;
  /** CA Secret re-check interval while a root rotation runs or is requested. Default 5 s. */
  rotationPollMs?: number;
  /** A rotation stage unchanged this long with lagging proxies is reported stuck. Default 5 min. */
  rotationStuckMs?: number;
  /** CA expiry re-check interval otherwise. Default 1 h. */
  caCheckMs?: number;
}

export interface OperatorHandle {
  identity: string;
  isLeader(): boolean;
  reconciler: MeshConfigReconciler;
  queue: WorkQueue;
  rest: KubeRest;
  /** Resolves when the informers have synced. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export async function runOperator(opts: OperatorOptions): Promise<OperatorHandle> {
  const log = opts.logger;
  const kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {});
  const clock = opts.clock ?? realClock;
  const identity = opts.identity ?? `${os.hostname()}-${randomBytes(3).toString('hex')}`;
  const rest = new KubeRest(kc);
  const applier = new KubeApplier(rest, FIELD_MANAGER);

  let webhook: StartedWebhook | undefined;
  if (opts.startWebhook) webhook = await opts.startWebhook({ kubeConfig: kc, namespace: opts.namespace, logger: log.child({ component: 'webhook' }) });
  const webhookUrl = webhook?.url ?? opts.webhookUrl;
  const caBundle = webhook?.caBundle ?? opts.caBundle;

  const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const caches: ReconcilerCaches = {
    meshConfigs: new Informer<MeshConfig & KubeObject>(rest, { type: MESHCONFIG_TYPE, logger: log.child({ informer: 'meshconfigs' }), clock }),
    owned: new Map(OWNED_KINDS.map((t) => [`${t.apiVersion}/${t.kind}`, new Informer<KubeObject>(rest, { type: t, labelSelector: managed, logger: log.child({ informer: t.kind }), clock })])),
    pods: new Informer<KubeObject>(rest, { type: { apiVersion: 'v1', kind: 'Pod' }, labelSelector: REVISION_LABEL, logger: log.child({ informer: 'pods' }), clock }),
  };
  const queue = new WorkQueue({ clock, baseDelayMs: 200, maxDelayMs: 60_000, qps: 20, burst: 100 });
  const reconciler = new MeshConfigReconciler({
    applier,
    caches,
    logger: log.child({ component: 'reconciler' }),
    clock,
    operatorNamespace: opts.namespace,
    ...(webhookUrl ? { webhookUrl } : {}),
    ...(caBundle ? { caBundle } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.rotationPollMs !== undefined ? { rotationPollMs: opts.rotationPollMs } : {}),
    ...(opts.rotationStuckMs !== undefined ? { rotationStuckMs: opts.rotationStuckMs } : {}),
    ...(opts.caCheckMs !== undefined ? { caCheckMs: opts.caCheckMs } : {}),
    ...(opts.proxyMetrics === true ? { metricsSource: new HttpMetricsSource() } : opts.proxyMetrics ? { metricsSource: opts.proxyMetrics } : {}),
  });

  const enqueueAll = (): void => {
    for (const mc of caches.meshConfigs.list()) queue.add(mc.metadata.name);
  };
  caches.meshConfigs.onEvent((_t, o) => queue.add(o.metadata.name));
  for (const inf of caches.owned.values()) {
    inf.onEvent((_t, o, old) => {
      const owner = o.metadata.labels?.[MESHCONFIG_OWNER_LABEL] ?? old?.metadata.labels?.[MESHCONFIG_OWNER_LABEL];
      if (owner) queue.add(owner);
    });
  }
  caches.pods.onEvent(() => enqueueAll());

  let leading = false;
  const workers: Promise<void>[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      if (!leading) {
        queue.done(key);
        continue;
      }
      const started = clock.now();
      try {
        const res = await reconciler.reconcile(key);
        queue.forget(key);
        if (res.requeueAfterMs !== undefined) queue.addAfter(key, res.requeueAfterMs);
        log.debug({ key, ms: clock.now() - started }, 'reconciled');
      } catch (e) {
        if (e instanceof TerminalError) {
          queue.forget(key);
          log.error({ key, err: e.message }, 'reconcile failed terminally; not retrying');
        } else {
          log.warn({ key, err: (e as Error).message, retries: queue.numRequeues(key) }, 'reconcile failed; retrying with backoff');
          queue.addRateLimited(key);
        }
      } finally {
        queue.done(key);
      }
    }
  };

  // Repair controller: periodic scans (missing pods carry no weft.dev/rev label, so the pod
  // informer above cannot see them); its own client keeps the reconciler's request stats exact.
  const repairRest = new KubeRest(kc);
  const repair = new RepairController({
    rest: repairRest,
    logger: log.child({ component: 'repair' }),
    clock,
    excludedNamespaces: [...DEFAULT_EXCLUDED_NAMESPACES, opts.namespace],
    ...(opts.repairLimits ? { limits: opts.repairLimits } : {}),
  });
  const repairIntervalMs = opts.repairIntervalMs ?? 30_000;
  let repairing = false;
  const repairTimer = repairIntervalMs > 0
    ? setInterval(() => {
        if (!leading || repairing) return;
        repairing = true;
        void (async (): Promise<void> => {
          for (const mc of caches.meshConfigs.list()) {
            if (mc.metadata.deletionTimestamp) continue;
            try {
              await repair.repairMeshConfig(mc);
            } catch (e) {
              log.warn({ meshConfig: mc.metadata.name, err: (e as Error).message }, 'repair scan failed');
            }
          }
        })().finally(() => {
          repairing = false;
        });
      }, repairIntervalMs)
    : undefined;
  repairTimer?.unref();

  const informers = [caches.meshConfigs, ...caches.owned.values(), caches.pods];
  for (const inf of informers) inf.start();
  const synced = Promise.all(informers.map((i) => i.waitForSync(60_000))).then(() => undefined);
  synced.catch((e: unknown) => log.error({ err: (e as Error).message }, 'informers failed to sync'));

  const elector = new LeaderElector(rest, {
    namespace: opts.namespace,
    name: opts.leaseName ?? DEFAULT_LEASE_NAME,
    identity,
    logger: log.child({ component: 'leader-election' }),
    clock,
    ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
    ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
    ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
    onStartedLeading: () => {
      leading = true;
      // Reconcile only from synced caches: wait, then queue every MeshConfig.
      synced.then(enqueueAll, () => undefined);
    },
    onStoppedLeading: () => {
      leading = false;
    },
  });
  for (let i = 0; i < (opts.workers ?? 2); i++) workers.push(worker());
  elector.start();

  return {
    identity,
    isLeader: () => elector.isLeader(),
    reconciler,
    queue,
    rest,
    synced,
    stop: async (): Promise<void> => {
      if (repairTimer) clearInterval(repairTimer);
      await elector.stop();
      leading = false;
      queue.shutdown();
      await Promise.all(workers);
      await Promise.all(informers.map((i) => i.stop()));
      await webhook?.stop();
      rest.close();
      repairRest.close();
    },
  };
}
