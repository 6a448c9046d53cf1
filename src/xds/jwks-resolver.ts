// RequestAuthentication `jwksUri`, resolved by the control plane (istiod's default): the keys
// are fetched here, cached, and handed to proxies inline (local_jwks), so a thousand proxies do
// not each fetch from the identity provider, and a proxy with no route to it still verifies.
// Until the first fetch succeeds the rule keeps its jwksUri, and the proxy fetches through its
// jwks cluster (the remote_jwks fallback). A failed refresh keeps the last good keys.
import { parseJwks } from '../api/jwks.js';
import type { JWTRule, RequestAuthentication } from '../api/istio/types.js';
import { errorMessage } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import type { MeshModel } from './model.js';

/** Istio's defaults: 20 min refresh (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL), 5 s timeout. */
export const DEFAULT_JWKS_TTL_MS = 20 * 60_000;
const DEFAULT_RETRY_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_JWKS_BYTES = 256 * 1024;

export type JwksFetcher = (uri: string, timeoutMs: number) => Promise<string>;

export interface JwksResolverOptions {
  logger: Logger;
  /** Called when fetched keys change, so the control plane pushes. */
  onUpdate: () => void;
  fetcher?: JwksFetcher;
  ttlMs?: number;
  retryMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

interface Entry {
  jwks?: string;
  error?: string;
  /** When to fetch again. */
  dueAt: number;
  inflight?: Promise<void>;
}

export interface JwksStatus {
  uri: string;
  fetched: boolean;
  error?: string;
}

/** GET with a timeout and a size cap (a hostile endpoint must not exhaust memory). */
export const httpFetcher: JwksFetcher = async (uri, timeoutMs) => {
  const res = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel();
      throw new Error(`larger than ${MAX_JWKS_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
};

export class JwksResolver {
  private readonly cache = new Map<string, Entry>();
  private readonly fetcher: JwksFetcher;
  private readonly now: () => number;

  constructor(private readonly o: JwksResolverOptions) {
    this.fetcher = o.fetcher ?? httpFetcher;
    this.now = o.now ?? Date.now;
  }

  /** The model with each remote rule's keys inlined when they have been fetched. Starts fetches that are due. */
  apply(model: MeshModel): MeshModel {
    const uris = new Set<string>();
    for (const ra of model.requestAuthentications) for (const r of ra.spec.jwtRules ?? []) if (r.jwksUri && r.jwks === undefined) uris.add(r.jwksUri);
    for (const k of this.cache.keys()) if (!uris.has(k)) this.cache.delete(k); // no longer referenced
    if (uris.size === 0) return model;
    for (const u of uris) this.refreshIfDue(u);
    const resolve = (r: JWTRule): JWTRule => {
      const jwks = r.jwksUri && r.jwks === undefined ? this.cache.get(r.jwksUri)?.jwks : undefined;
      return jwks === undefined ? r : { ...r, jwks };
    };
    const ras: RequestAuthentication[] = model.requestAuthentications.map((ra) =>
      ra.spec.jwtRules ? { ...ra, spec: { ...ra.spec, jwtRules: ra.spec.jwtRules.map(resolve) } } : ra);
    return { ...model, requestAuthentications: ras };
  }

  /** Starts the fetches that are due (called by apply, and by the control plane's refresh timer). */
  refreshDue(): void {
    for (const u of this.cache.keys()) this.refreshIfDue(u);
  }

  /** Resolves when no fetch is in flight (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.cache.values()].map((e) => e.inflight));
  }

  status(): JwksStatus[] {
    return [...this.cache].map(([uri, e]) => ({ uri, fetched: e.jwks !== undefined, ...(e.error ? { error: e.error } : {}) }));
  }

  private refreshIfDue(uri: string): void {
    let e = this.cache.get(uri);
    if (!e) {
      e = { dueAt: 0 };
      this.cache.set(uri, e);
    }
    if (e.inflight || this.now() < e.dueAt) return;
    const entry = e;
    entry.inflight = this.fetchInto(uri, entry).finally(() => { entry.inflight = undefined; });
  }

  private async fetchInto(uri: string, e: Entry): Promise<void> {
    try {
      const text = await this.fetcher(uri, this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const parsed = parseJwks(text);
      if (!parsed.ok) throw new Error(parsed.error);
      const changed = e.jwks !== text;
      e.jwks = text;
      delete e.error;
      e.dueAt = this.now() + (this.o.ttlMs ?? DEFAULT_JWKS_TTL_MS);
      if (changed) {
        this.o.logger.info({ jwksUri: uri }, 'jwks fetched');
        if (this.cache.get(uri) === e) this.o.onUpdate();
      }
    } catch (err) {
      e.error = errorMessage(err);
      e.dueAt = this.now() + (this.o.retryMs ?? DEFAULT_RETRY_MS);
      this.o.logger.warn({ jwksUri: uri, err: e.error, keepingLastGood: e.jwks !== undefined }, 'jwks fetch failed; will retry');
    }
  }
}
