// A supervised informer over @kubernetes/client-node's makeInformer (list + watch + cache).
// client-node already relists when a watch ends with 410 Gone (it drops its resourceVersion)
// and re-watches after a server timeout. What it does not do is come back after an error:
// a failed list, a refused connection or a broken watch calls the ERROR handlers and stops.
// The supervisor restarts it with exponential backoff (reset once it is healthy again).
// A kind the API server does not serve (404: CRD not installed) counts as synced and empty,
// and is retried at the backoff ceiling so it appears once the CRD is applied.
import { makeInformer, type Informer, type KubeConfig, type KubernetesObject, type ListPromise, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../../log/logger.js';

/** Exponential backoff: min * 2^n, capped at max. Pure; the caller owns the timer. */
export class Backoff {
  private failures = 0;
  constructor(
    readonly minMs = 200,
    readonly maxMs = 30_000,
  ) {}

  /** Delay before the next attempt after one more failure. */
  next(): number {
    const d = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return d;
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/** HTTP status of a client-node error (ApiException.code, watch errors' statusCode), if any. */
export function errorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export interface WatchedKind<T extends KubernetesObject> {
  /** Short name for logs and status, e.g. "EndpointSlice". */
  kind: string;
  /** Collection path for the watch, e.g. /apis/discovery.k8s.io/v1/endpointslices. */
  path: string;
  list: ListPromise<T>;
}

export interface InformerStatus {
  kind: string;
  synced: boolean;
  /** The API server does not serve this kind (yet). */
  notServed: boolean;
  objects: number;
  restarts: number;
  lastError?: string;
}

export interface SupervisedInformerOptions {
  logger: Logger;
  /** Called after every add/update/delete (and when a kind becomes served or unserved). */
  onChange: (kind: string) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class SupervisedInformer<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private synced = false;
  private notServed = false;
  private restarts = 0;
  private lastError: string | undefined;
  private failedSinceStart = false;
  private syncWaiters: Array<() => void> = [];

  constructor(
    kc: KubeConfig,
    readonly kind: WatchedKind<T>,
    private readonly opts: SupervisedInformerOptions,
  ) {
    this.log = opts.logger;
    this.backoff = new Backoff(opts.minBackoffMs ?? 200, opts.maxBackoffMs ?? 30_000);
    this.informer = makeInformer<T>(kc, kind.path, kind.list);
    const changed = (): void => {
      // Any event proves the watch is healthy again.
      this.backoff.reset();
      opts.onChange(kind.kind);
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('error', (err?: unknown) => this.onError(err));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.informer.stop();
  }

  list(): T[] {
    return this.notServed ? [] : [...this.informer.list()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  async waitForSync(timeoutMs: number): Promise<void> {
    if (this.synced) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`informer for ${this.kind.kind} did not sync in ${timeoutMs} ms`)), timeoutMs);
      this.syncWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  status(): InformerStatus {
    const s: InformerStatus = { kind: this.kind.kind, synced: this.synced, notServed: this.notServed, objects: this.list().length, restarts: this.restarts };
    if (this.lastError) s.lastError = this.lastError;
    return s;
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private run(): void {
    this.failedSinceStart = false;
    // start() resolves once the list is in the cache and the watch is open, or after the
    // ERROR handlers ran (then onError has scheduled the next attempt).
    this.informer.start().then(
      () => {
        if (this.stopped || this.failedSinceStart) return;
        if (this.notServed) {
          this.notServed = false;
          this.log.info({ kind: this.kind.kind }, 'kind is served now');
          this.opts.onChange(this.kind.kind);
        }
        this.backoff.reset();
        this.markSynced();
      },
      (err: unknown) => this.onError(err),
    );
  }

  private onError(err: unknown): void {
    this.failedSinceStart = true;
    if (this.stopped) return;
    const status = errorStatus(err);
    this.lastError = err instanceof Error ? err.message : String(err);
    let delay: number;
    if (status === 404) {
      // Not served (CRD absent): empty and synced; look again at the backoff ceiling.
      if (!this.notServed) {
        this.notServed = true;
        this.opts.onChange(this.kind.kind);
      }
      this.markSynced();
      delay = Math.min(this.backoff.maxMs, 5_000);
    } else if (status === 410) {
      delay = 0; // client-node dropped its resourceVersion: the restart relists at once
    } else {
      delay = this.backoff.next();
    }
    this.restarts++;
    this.log.warn({ kind: this.kind.kind, status, err: this.lastError, delayMs: delay }, 'informer failed, restarting');
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      void this.informer.stop().then(() => {
        if (!this.stopped) this.run();
      });
    }, delay);
    this.timer.unref?.();
  }
}
