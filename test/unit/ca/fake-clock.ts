// A manual clock for the cert agent: time moves only when the test says so, and due
// timers fire in order, synchronously, as time passes them.
import type { AgentClock } from '../../../src/identity/cert-agent.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements AgentClock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** The time of the next pending timer, if any. */
  nextAt(): number | undefined {
    return this.timers.reduce<number | undefined>((m, x) => (m === undefined || x.at < m ? x.at : m), undefined);
  }

  pending(): number {
    return this.timers.length;
  }

  /** Moves to `to`, firing every timer due on the way, earliest first. */
  advanceTo(to: number): void {
    for (;;) {
      const due = this.timers.filter((x) => x.at <= to).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = Math.max(this.t, to);
  }

  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
}
