// A supervised informer: list, then watch from the list's resourceVersion, keeping a cache
// keyed "namespace/name". Every failure (network, watch closed, server error) restarts the
// loop with exponential backoff; 410 Gone (or an ERROR event carrying 410) forces a relist,
// after which the cache is replaced and handlers see the differences as add/update/delete.
// Bookmarks keep the resourceVersion fresh. Handlers receive objects; the operator's
// handlers turn them into workqueue keys and never keep the objects.
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { ApiError, collectionPath, type KubeObject, type KubeRest, type TypeRef } from './apply.js';
import { realClock, type Clock } from './workqueue.js';

export type EventType = 'add' | 'update' | 'delete';
export type InformerHandler<T extends KubeObject> = (type: EventType, obj: T, old?: T) => void;

export interface InformerOptions {
  type: TypeRef;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  clock?: Clock;
  /** Backoff between restarts: min, max. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Server-side watch timeout; the loop simply re-watches after it. */
  watchTimeoutSec?: number;
}

export function cacheKey(o: { metadata: { name: string; namespace?: string } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T & { code?: number; message?: string };
}

export class Informer<T extends KubeObject> {
  private readonly rest: KubeRest;
  private readonly opts: InformerOptions;
  private readonly clock: Clock;
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resourceVersion = '';
  private synced = false;
  private stopped = true;
  private abort: AbortController | undefined;
  private closeWatch: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private syncWaiters: Array<() => void> = [];
  private failures = 0;
  /** Counters for observability and tests. */
  readonly counters = { lists: 0, watches: 0, restarts: 0, relists410: 0 };

  constructor(rest: KubeRest, opts: InformerOptions) {
    this.rest = rest;
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
  }

  onEvent(h: InformerHandler<T>): void {
    this.handlers.push(h);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has filled the cache. */
  async waitForSync(timeoutMs = 30_000): Promise<void> {
    if (this.synced) return;
    await new Promise<void>((resolve, reject) => {
      const t = this.clock.setTimer(() => reject(new Error('informer did not sync in time')), timeoutMs);
      this.syncWaiters.push(() => {
        t.cancel();
        resolve();
      });
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.closeWatch?.();
    await this.loop?.catch(() => undefined);
  }

  private emit(type: EventType, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (e) {
        this.opts.logger.error({ err: e }, 'informer handler threw');
      }
    }
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => this.clock.setTimer(r, ms));
  }

  private async run(): Promise<void> {
    // A restarted informer with a warm cache resumes the watch from its resourceVersion.
    let needList = !this.synced || !this.resourceVersion;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        this.failures = 0;
      } catch (e) {
        if (this.stopped) break;
        const gone = (e instanceof ApiError && e.status === 410) || (e as { gone?: boolean }).gone === true;
        if (gone) {
          this.counters.relists410++;
          needList = true;
          this.opts.logger.info({ kind: this.opts.type.kind }, 'watch expired (410), relisting');
          continue;
        }
        this.counters.restarts++;
        this.failures++;
        const min = this.opts.minBackoffMs ?? 200;
        const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, min * 2 ** Math.min(this.failures - 1, 20));
        this.opts.logger.warn({ kind: this.opts.type.kind, err: (e as Error).message, delayMs: delay }, 'informer failed, restarting');
        needList = needList || this.failures > 3;
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    this.counters.lists++;
    const res = await this.rest.request<{ items: T[]; metadata: { resourceVersion: string } }>('GET', collectionPath(this.opts.type, this.opts.namespace), {
      query: { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
    });
    const seen = new Set<string>();
    for (const raw of res.items) {
      const o = { ...raw, apiVersion: this.opts.type.apiVersion, kind: this.opts.type.kind } as T;
      const k = cacheKey(o);
      seen.add(k);
      const old = this.cache.get(k);
      this.cache.set(k, o);
      if (!old) this.emit('add', o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, old);
    }
    for (const [k, o] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        this.emit('delete', o);
      }
    }
    this.resourceVersion = res.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(): Promise<void> {
    this.counters.watches++;
    this.abort = new AbortController();
    const res = await this.rest.stream(
      collectionPath(this.opts.type, this.opts.namespace),
      {
        watch: 1,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.watchTimeoutSec ?? 300,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
      },
      this.abort.signal,
    );
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    // readline does not end on a destroyed (aborted) socket: close it explicitly.
    this.closeWatch = () => lines.close();
    res.on('close', () => lines.close());
    res.on('error', () => lines.close());
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as WatchEvent<T>;
        if (ev.type === 'ERROR') {
          const err = new Error(ev.object.message ?? 'watch error') as Error & { gone?: boolean };
          err.gone = ev.object.code === 410;
          throw err;
        }
        const o = { ...ev.object, apiVersion: this.opts.type.apiVersion, kind: this.opts.type.kind } as T;
        if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
        if (ev.type === 'BOOKMARK') continue;
        const k = cacheKey(o);
        const old = this.cache.get(k);
        if (ev.type === 'DELETED') {
          this.cache.delete(k);
          this.emit('delete', o);
        } else {
          this.cache.set(k, o);
          this.emit(old ? 'update' : 'add', o, old);
        }
      }
    } finally {
      this.closeWatch = undefined;
      res.destroy();
    }
    if (this.stopped) return;
    // A clean end of stream is the server's timeout: loop and re-watch from resourceVersion.
  }
}
