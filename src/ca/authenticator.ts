// Who is calling: a projected ServiceAccount token, checked by the API server's
// TokenReview with the CA's audience. Results are cached briefly (keyed by the token's
// hash, never the token), bounded by the token's own expiry, so a burst of CSRs from
// one pod costs one TokenReview.
import { createHash } from 'node:crypto';
import type { V1TokenReview } from '@kubernetes/client-node';
import { CA_TOKEN_AUDIENCE } from '../api/sidecar.js';
import { WeftError, errorMessage, isWeftError } from '../errors/errors.js';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import type { WorkloadIdentity } from './issuer.js';

export interface Authenticator {
  /** Resolves to the caller's identity, or throws WEFT_E_UNAUTHENTICATED / WEFT_E_UNAVAILABLE. */
  authenticate(token: string): Promise<WorkloadIdentity>;
}

export const MAX_TOKEN_BYTES = 16 * 1024;
const SA_PREFIX = 'system:serviceaccount:';
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

export interface TokenReviewAuthenticatorOptions {
  audience?: string;
  /** How long a successful review is reused. */
  cacheTtlMs?: number;
  /** How long a rejected token stays rejected without asking again. */
  negativeCacheTtlMs?: number;
  maxEntries?: number;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  logger?: Logger;
}

interface CacheEntry {
  expiresAt: number;
  identity?: WorkloadIdentity;
  error?: WeftError;
}

export class TokenReviewAuthenticator implements Authenticator {
  private readonly audience: string;
  private readonly ttl: number;
  private readonly negTtl: number;
  private readonly max: number;
  private readonly clock: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<WorkloadIdentity>>();
  /** TokenReview calls made, for tests and metrics. */
  reviews = 0;

  private readonly logger: Logger | undefined;

  constructor(
    private readonly clients: Pick<KubeClients, 'authn'>,
    opts: TokenReviewAuthenticatorOptions = {},
  ) {
    this.audience = opts.audience ?? CA_TOKEN_AUDIENCE;
    this.ttl = opts.cacheTtlMs ?? 30_000;
    this.negTtl = opts.negativeCacheTtlMs ?? 2_000;
    this.max = opts.maxEntries ?? 20_000;
    this.clock = opts.clock ?? Date.now;
    this.logger = opts.logger;
  }

  async authenticate(token: string): Promise<WorkloadIdentity> {
    if (!token) throw unauthenticated('no token presented');
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw unauthenticated(`token is larger than ${MAX_TOKEN_BYTES} bytes`);
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.clock();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > now) {
      if (hit.identity) return hit.identity;
      throw hit.error!;
    }
    if (hit) this.cache.delete(key);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.review(token, key).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async review(token: string, key: string): Promise<WorkloadIdentity> {
    let res: V1TokenReview;
    this.reviews++;
    try {
      res = await this.clients.authn.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } },
      });
    } catch (e) {
      // Not the caller's fault and not cached: the next call asks again.
      this.logger?.warn({ err: errorMessage(e) }, 'TokenReview request failed');
      throw new WeftError('WEFT_E_UNAVAILABLE', `cannot authenticate: TokenReview request to the API server failed: ${errorMessage(e)}`, {}, { cause: e });
    }
    const now = this.clock();
    try {
      const identity = this.interpret(res);
      const exp = jwtExpiry(token);
      const until = Math.min(now + this.ttl, exp ?? Number.POSITIVE_INFINITY);
      this.remember(key, { expiresAt: until, identity }, now);
      return identity;
    } catch (e) {
      if (isWeftError(e)) this.remember(key, { expiresAt: now + this.negTtl, error: e }, now);
      throw e;
    }
  }

  private interpret(res: V1TokenReview): WorkloadIdentity {
    const st = res.status;
    if (!st?.authenticated) {
      const why = st?.error ? `: ${st.error}` : '';
      throw unauthenticated(`token rejected by TokenReview for audience ${this.audience} (expired, forged, or issued for another audience)${why}`);
    }
    // The API server returns the audiences the token is valid for among those asked; an
    // authenticator that ignores audiences returns none, which is not good enough here.
    if (!st.audiences?.includes(this.audience)) {
      throw unauthenticated(`token is not valid for audience ${this.audience} (TokenReview returned audiences ${JSON.stringify(st.audiences ?? [])})`);
    }
    const username = st.user?.username ?? '';
    if (!username.startsWith(SA_PREFIX)) throw unauthenticated(`only ServiceAccount tokens are accepted; the token belongs to ${username || 'an unnamed user'}`);
    const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
    if (!namespace || !serviceAccount || rest.length > 0) throw unauthenticated(`malformed ServiceAccount username ${username}`);
    const podName = st.user?.extra?.[POD_NAME_EXTRA]?.[0];
    return { namespace, serviceAccount, ...(podName ? { podName } : {}) };
  }

  private remember(key: string, entry: CacheEntry, now: number): void {
    if (entry.expiresAt <= now) return;
    if (this.cache.size >= this.max) {
      for (const [k, v] of this.cache) {
        if (v.expiresAt <= now || this.cache.size >= this.max) this.cache.delete(k);
        if (this.cache.size < this.max * 0.9) break;
      }
    }
    this.cache.set(key, entry);
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}

function unauthenticated(message: string): WeftError {
  return new WeftError('WEFT_E_UNAUTHENTICATED', message);
}

/** The `exp` claim of a JWT, in ms, read without verifying (TokenReview did that). */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
