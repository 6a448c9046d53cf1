// Local rate limiting (envoy.filters.http.local_ratelimit): a token bucket refilled in
// whole fills at a fixed interval. Pure given `now`.
export interface TokenBucketConfig { maxTokens: number; tokensPerFill: number; fillIntervalMs: number }

export class TokenBucket {
  private tokens: number;
  private lastFill: number;

  constructor(private readonly cfg: TokenBucketConfig, now: number) {
    this.tokens = cfg.maxTokens;
    this.lastFill = now;
  }

  tryTake(now: number): boolean {
    const fills = Math.floor((now - this.lastFill) / this.cfg.fillIntervalMs);
    if (fills > 0) {
      this.tokens = Math.min(this.cfg.maxTokens, this.tokens + fills * this.cfg.tokensPerFill);
      this.lastFill += fills * this.cfg.fillIntervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}
