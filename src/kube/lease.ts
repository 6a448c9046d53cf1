// Lease-based leader election (coordination.k8s.io/v1), the protocol client-go uses:
// a candidate acquires the Lease when it is free or its holder has not renewed within
// leaseDurationSeconds, then renews every retryPeriod; updates are optimistic (PUT with
// resourceVersion), so two candidates can never both succeed. A leader that cannot renew
// within renewDeadline steps down. stop() releases the Lease so a standby takes over at once.
import type { Logger } from 'pino';
import { isConflict, isNotFound, objectPath, type KubeObject, type KubeRest, collectionPath } from './apply.js';
import { realClock, type Clock } from './workqueue.js';

const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' } as const;

interface LeaseObject extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  clock?: Clock;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly rest: KubeRest;
  private readonly o: Required<Omit<LeaderElectorOptions, 'clock'>> & { clock: Clock };
  private leading = false;
  private stopped = true;
  private lastRenew = 0;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(rest: KubeRest, opts: LeaderElectorOptions) {
    this.rest = rest;
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...opts,
      clock: opts.clock ?? realClock,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops campaigning; if leading, releases the Lease and calls onStoppedLeading. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.setLeading(false);
      await this.release().catch((e: unknown) => this.o.logger.warn({ err: (e as Error).message }, 'lease release failed'));
    }
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    this.o.logger.info({ identity: this.o.identity, lease: this.o.name }, v ? 'became leader' : 'lost leadership');
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = this.o.clock.setTimer(() => {
        this.wake = undefined;
        r();
      }, ms);
      this.wake = () => {
        t.cancel();
        this.wake = undefined;
        r();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (e) {
        this.o.logger.warn({ err: (e as Error).message }, 'lease acquire/renew failed');
      }
      if (this.stopped) break;
      const now = this.o.clock.now();
      if (ok) {
        this.lastRenew = now;
        this.setLeading(true);
      } else if (this.leading && now - this.lastRenew > this.o.renewDeadlineMs) {
        this.setLeading(false);
      }
      // Jitter the retry so candidates do not move in lockstep.
      await this.sleep(this.o.retryPeriodMs * (this.leading ? 1 : 1 + Math.random() * 0.2));
    }
  }

  private path(): string {
    return objectPath(LEASE, this.o.name, this.o.namespace);
  }

  /** One attempt. True if we hold the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.o.clock.now();
    let lease: LeaseObject | undefined;
    try {
      lease = await this.rest.request<LeaseObject>('GET', this.path());
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const durSec = Math.ceil(this.o.leaseDurationMs / 1000);
    if (!lease) {
      try {
        await this.rest.request('POST', collectionPath(LEASE, this.o.namespace), {
          body: {
            apiVersion: LEASE.apiVersion,
            kind: LEASE.kind,
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: { holderIdentity: this.o.identity, leaseDurationSeconds: durSec, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewMs = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const leaseMs = (spec.leaseDurationSeconds ?? durSec) * 1000;
    const mine = holder === this.o.identity;
    // Expiry is judged against our own clock; the real clock is what writes renewTime.
    const expired = !holder || renewMs + leaseMs < Date.now();
    if (!mine && !expired) return false;
    const next: LeaseObject = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durSec,
        renewTime: microTime(Date.now()),
        acquireTime: mine ? (spec.acquireTime ?? microTime(Date.now())) : microTime(Date.now()),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      await this.rest.request('PUT', this.path(), { body: next });
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.rest.request<LeaseObject>('GET', this.path());
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    await this.rest.request('PUT', this.path(), {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } },
    });
  }
}
