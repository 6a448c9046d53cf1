// Remote JWKS: fetched only through the cluster the config names (http_uri.cluster), with a
// timeout, cached for cache_duration. A request never waits on a fetch: until the first fetch
// succeeds the provider has no keys and its tokens are refused (401, "Jwks remote fetch is
// failed"), with a log line saying why. A failed fetch is retried after FAILED_REFETCH_MS.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../../log/logger.js';
import type { ClusterManager } from '../cluster-manager.js';
import { parseJwks, type VerifyKey } from '../../api/jwks.js';
import type { RemoteJwks } from './model.js';

/** Largest JWKS document accepted. */
export const MAX_JWKS_BYTES = 256 * 1024;
/** Envoy's JwksAsyncFetch.failed_refetch_duration default. */
export const FAILED_REFETCH_MS = 1_000;

interface Entry { keys?: VerifyKey[]; expiresAt: number; retryAt: number; inflight?: Promise<void> }

export interface JwksCacheDeps {
  clusters: Pick<ClusterManager, 'get'>;
  logger: Logger;
  now: () => number;
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: JwksCacheDeps) {}

  private keyOf(r: RemoteJwks): string {
    return `${r.cluster}|${r.uri}`;
  }

  /** Forgets JWKS the config no longer names (called on every config apply). */
  retainOnly(remotes: readonly RemoteJwks[]): void {
    const keep = new Set(remotes.map((r) => this.keyOf(r)));
    for (const k of this.entries.keys()) if (!keep.has(k)) this.entries.delete(k);
  }

  /** Current keys (stale keys stay usable while a refresh runs); starts a fetch when due. */
  keysFor(r: RemoteJwks): VerifyKey[] | undefined {
    const now = this.deps.now();
    const e = this.entries.get(this.keyOf(r));
    if (!e || (!e.inflight && now >= e.expiresAt && now >= e.retryAt)) void this.refresh(r);
    if (!e?.keys) this.deps.logger.warn({ uri: r.uri, cluster: r.cluster }, 'jwt refused: remote jwks not fetched yet');
    return e?.keys;
  }

  /** Starts a fetch unless one is fresh or running; resolves when it ends (never rejects). */
  refresh(r: RemoteJwks): Promise<void> {
    const id = this.keyOf(r);
    const now = this.deps.now();
    const e = this.entries.get(id) ?? { expiresAt: 0, retryAt: 0 };
    this.entries.set(id, e);
    if (e.inflight) return e.inflight;
    if ((e.keys && now < e.expiresAt) || now < e.retryAt) return Promise.resolve();
    e.inflight = this.fetch(r).then((keys) => {
      e.keys = keys;
      e.expiresAt = this.deps.now() + r.cacheMs;
      this.deps.logger.info({ uri: r.uri, cluster: r.cluster, keys: keys.length }, 'remote jwks fetched');
    }, (err: Error) => {
      e.retryAt = this.deps.now() + FAILED_REFETCH_MS;
      this.deps.logger.warn({ uri: r.uri, cluster: r.cluster, reason: err.message }, 'remote jwks fetch failed');
    }).finally(() => { delete e.inflight; });
    return e.inflight;
  }

  private fetch(r: RemoteJwks): Promise<VerifyKey[]> {
    const cs = this.deps.clusters.get(r.cluster);
    if (!cs) return Promise.reject(new Error(`cluster ${r.cluster} does not exist`));
    const host = cs.balancer.pick({ now: this.deps.now() });
    if (!host) return Promise.reject(new Error(`cluster ${r.cluster} has no healthy endpoint`));
    const url = new URL(r.uri);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request({
        host: host.endpoint.address, port: host.endpoint.port, method: 'GET', path: `${url.pathname}${url.search}`,
        headers: { host: url.host, accept: 'application/json' }, servername: url.hostname, timeout: r.timeoutMs, agent: false,
      }, (res) => {
        if (res.statusCode !== 200) { res.resume(); reject(new Error(`status ${res.statusCode ?? 0}`)); return; }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_JWKS_BYTES) { req.destroy(new Error('jwks document too large')); return; }
          chunks.push(c);
        });
        res.on('end', () => {
          const parsed = parseJwks(Buffer.concat(chunks).toString('utf8'));
          if (parsed.ok) resolve(parsed.keys);
          else reject(new Error(parsed.error));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${r.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}
