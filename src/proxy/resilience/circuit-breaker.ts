// Per-cluster circuit breaker counters (Envoy thresholds: connections, pending requests,
// requests, retries; retries by max_retries or a retry budget). Callers try to acquire and must release what they acquired.
import type { CircuitBreakers } from '../config/model.js';
import { retryLimit } from './retry.js';

export class CircuitBreaker {
  requests = 0;
  pending = 0;
  retries = 0;
  connections = 0;

  constructor(public limits: CircuitBreakers) {}

  tryRequest(): boolean {
    if (this.requests >= this.limits.maxRequests) return false;
    this.requests++;
    return true;
  }
  releaseRequest(): void { this.requests--; }

  /** A retry holds its slot from when it is scheduled until the retried attempt's outcome (Envoy). */
  tryRetry(): boolean {
    if (this.retries >= retryLimit(this.limits, this.requests, this.pending)) return false;
    this.retries++;
    return true;
  }
  releaseRetry(): void { this.retries--; }

  tryPending(): boolean {
    if (this.pending >= this.limits.maxPendingRequests) return false;
    this.pending++;
    return true;
  }
  releasePending(): void { this.pending--; }
}
