// The retry state machine's decisions (Envoy's retry_on semantics), pure. The HTTP layer
// classifies each attempt's outcome and asks whether to try again and after how long.
import type { CircuitBreakers, RetryPolicy } from '../config/model.js';

export type AttemptOutcome =
  | { kind: 'response'; status: number; grpcStatus?: number }
  | { kind: 'connect-failure' }
  | { kind: 'reset' }
  | { kind: 'per-try-timeout' }
  | { kind: 'overflow' }; // circuit breaker rejected before sending

const GRPC_CODES: Record<string, number> = {
  cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14,
};

export function isRetriable(policy: RetryPolicy, o: AttemptOutcome): boolean {
  const on = policy.retryOn;
  switch (o.kind) {
    case 'connect-failure':
      return on.has('connect-failure') || on.has('5xx') || on.has('gateway-error');
    case 'reset':
      return on.has('reset') || on.has('5xx');
    case 'per-try-timeout':
      return on.has('5xx') || on.has('gateway-error') || on.has('reset');
    case 'overflow':
      return false;
    case 'response': {
      const s = o.status;
      if (s >= 500 && on.has('5xx')) return true;
      if ((s === 502 || s === 503 || s === 504) && on.has('gateway-error')) return true;
      if (s === 409 && on.has('retriable-4xx')) return true;
      if (on.has('retriable-status-codes') && policy.retriableStatusCodes.has(s)) return true;
      if (o.grpcStatus !== undefined) {
        for (const [cond, code] of Object.entries(GRPC_CODES)) {
          if (o.grpcStatus === code && on.has(cond as never)) return true;
        }
      }
      return false;
    }
  }
}

/** Fully jittered exponential backoff: uniform in [0, min(max, base * 2^attempt)). */
export function retryBackoffMs(policy: RetryPolicy, retryNumber: number, rand: number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(retryNumber, 20));
  return Math.floor(rand * ceiling);
}

/** Outcome of the whole request once attempts are over, for status and response flags. */
export function outcomeStatus(o: AttemptOutcome): { status: number; flag: string } {
  switch (o.kind) {
    case 'response': return { status: o.status, flag: '-' };
    case 'connect-failure': return { status: 503, flag: 'UF' };
    case 'reset': return { status: 503, flag: 'UR' };
    case 'per-try-timeout': return { status: 504, flag: 'UT' };
    case 'overflow': return { status: 503, flag: 'UO' };
  }
}

/**
 * Concurrent retries a cluster allows right now. With Envoy's retry_budget it is
 * max(min_retry_concurrency, budget_percent% of active + pending requests), so retries
 * scale with real traffic instead of a fixed count; without one, max_retries.
 */
export function retryLimit(limits: CircuitBreakers, activeRequests: number, pendingRequests: number): number {
  const b = limits.retryBudget;
  if (!b) return limits.maxRetries;
  return Math.max(b.minRetryConcurrency, Math.floor((b.budgetPercent / 100) * (activeRequests + pendingRequests)));
}
