// Coalesces bursts of change events into one push: fires `quietMs` after the last event, but
// never later than `maxMs` after the first one of a burst (Istio: 100 ms / 10 s).
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
};

export class Debouncer {
  private timer: unknown;
  private firstAt: number | undefined;
  private pending = 0;

  constructor(
    private readonly fire: (events: number) => void,
    private readonly quietMs = 100,
    private readonly maxMs = 10_000,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Records one change event. */
  trigger(): void {
    const now = this.timers.now();
    this.pending++;
    if (this.firstAt === undefined) this.firstAt = now;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.quietMs, this.firstAt + this.maxMs - now));
    this.timer = this.timers.setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.firstAt = undefined;
    const n = this.pending;
    this.pending = 0;
    if (n > 0) this.fire(n);
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = 0;
    this.firstAt = undefined;
  }
}
