// Passive outlier detection (Envoy's consecutive 5xx / gateway-failure), with an injected
// clock. Ejection time grows with each ejection (base * n); at most max_ejection_percent
// of the hosts are out at once (always allowing one).
import type { OutlierDetection } from '../config/model.js';
import type { Host } from '../balance/host.js';

export type HostResult = 'success' | '5xx' | 'gateway-failure' | 'local-failure';

export class OutlierDetector {
  constructor(private readonly cfg: OutlierDetection, private readonly hosts: () => readonly Host[]) {}

  record(host: Host, result: HostResult, now: number): boolean {
    if (result === 'success') {
      host.consecutive5xx = 0;
      host.consecutiveGatewayFailure = 0;
      return false;
    }
    host.consecutive5xx++;
    if (result === 'gateway-failure' || result === 'local-failure') host.consecutiveGatewayFailure++;
    const trip5xx = this.cfg.consecutive5xx > 0 && host.consecutive5xx >= this.cfg.consecutive5xx;
    const tripGw = this.cfg.consecutiveGatewayFailure > 0 && host.consecutiveGatewayFailure >= this.cfg.consecutiveGatewayFailure;
    if ((trip5xx || tripGw) && host.ejectedUntil <= now) return this.eject(host, now);
    return false;
  }

  private eject(host: Host, now: number): boolean {
    const all = this.hosts();
    const ejected = all.filter((h) => h.ejectedUntil > now).length;
    const maxEjected = Math.max(1, Math.floor((all.length * this.cfg.maxEjectionPercent) / 100));
    if (ejected >= maxEjected) return false;
    host.ejections++;
    host.ejectedUntil = now + this.cfg.baseEjectionMs * host.ejections;
    host.consecutive5xx = 0;
    host.consecutiveGatewayFailure = 0;
    return true;
  }

  /** Interval sweep: hosts whose ejection expired return; long-healthy hosts forget past ejections. */
  sweep(now: number): void {
    for (const h of this.hosts()) {
      if (h.ejectedUntil !== 0 && h.ejectedUntil <= now) h.ejectedUntil = 0;
      else if (h.ejectedUntil === 0 && h.ejections > 0) h.ejections = Math.max(0, h.ejections - 1);
    }
  }
}

export function classifyStatus(status: number): HostResult {
  if (status === 502 || status === 503 || status === 504) return 'gateway-failure';
  if (status >= 500) return '5xx';
  return 'success';
}
