// Config rejections (NACKs) made visible outside the control plane: a Warning Event on the
// proxy's pod (`kubectl describe pod` shows it), and a summary ConfigMap in the mesh namespace
// that the operator turns into the `ConfigRejected` condition on MeshConfig. The ADS server
// already keeps serving the last good version and never re-pushes the rejected one; this
// module only reports. An entry disappears once the proxy ACKs a newer version or leaves.
import { randomBytes } from 'node:crypto';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors/errors.js';
import { MAX_REPORTED, REJECTIONS_CONFIGMAP, REJECTIONS_KEY, type Rejection, type RejectionReport } from '../api/rejections.js';
import { nodeInfo } from './registry/node.js';
import type { ProxySyncStatus } from './controlplane.js';

/** Current rejections from the control plane's per-proxy sync status (pure). */
export function currentRejections(proxies: readonly ProxySyncStatus[]): RejectionReport {
  const all: Rejection[] = [];
  const rejecting = new Set<string>();
  for (const p of proxies) {
    const info = nodeInfo({ id: p.nodeId });
    for (const t of p.types) {
      if (t.state !== 'NACKED' || !t.lastNack) continue;
      rejecting.add(p.nodeId);
      all.push({
        node: p.nodeId, type: t.type, version: t.lastNack.version, message: t.lastNack.message, at: t.lastNack.at.toISOString(),
        ...(info.podName ? { pod: info.podName, namespace: info.namespace } : {}),
      });
    }
  }
  all.sort((a, b) => a.node.localeCompare(b.node) || a.type.localeCompare(b.type));
  return { proxies: rejecting.size, count: all.length, rejections: all.slice(0, MAX_REPORTED) };
}

export interface RejectionReporterOptions {
  clients: Pick<KubeClients, 'core'>;
  /** Mesh namespace for the summary ConfigMap. */
  namespace: string;
  status: () => readonly ProxySyncStatus[];
  logger: Logger;
  intervalMs?: number;
}

/** Polls the sync status and writes the ConfigMap and Events when something changed. */
export class RejectionReporter {
  private lastWritten: string | undefined;
  private readonly evented = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly o: RejectionReporterOptions) {}

  start(): void {
    this.timer = setInterval(() => { this.running = this.running.then(() => this.tick()); }, this.o.intervalMs ?? 5000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One report pass; errors are logged, never thrown (reporting must not disturb serving). */
  async tick(): Promise<void> {
    const report = currentRejections(this.o.status());
    try {
      for (const r of report.rejections) await this.eventOnce(r);
      const text = JSON.stringify(report);
      if (text !== this.lastWritten) {
        await this.writeConfigMap(text);
        this.lastWritten = text;
      }
    } catch (e) {
      this.o.logger.warn({ err: errorMessage(e) }, 'could not report config rejections; will retry');
    }
    // Forget events for rejections that are over, so a later NACK of the same version reports again.
    const live = new Set(report.rejections.map(eventKey));
    for (const k of this.evented) if (!live.has(k)) this.evented.delete(k);
  }

  private async eventOnce(r: Rejection): Promise<void> {
    const key = eventKey(r);
    if (this.evented.has(key) || !r.pod || !r.namespace) return;
    const now = new Date().toISOString();
    await this.o.clients.core.createNamespacedEvent({
      namespace: r.namespace,
      body: {
        metadata: { name: `${r.pod}.${randomBytes(6).toString('hex')}`, namespace: r.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', name: r.pod, namespace: r.namespace },
        reason: 'XdsConfigRejected', type: 'Warning',
        message: `proxy rejected ${r.type} version ${r.version}: ${r.message}`.slice(0, 1024),
        source: { component: 'weft-controlplane' }, reportingComponent: 'weft-controlplane', reportingInstance: 'weft-controlplane',
        firstTimestamp: new Date(now), lastTimestamp: new Date(now), count: 1,
      },
    });
    this.evented.add(key);
  }

  private async writeConfigMap(text: string): Promise<void> {
    const body = {
      metadata: { name: REJECTIONS_CONFIGMAP, namespace: this.o.namespace, labels: { 'app.kubernetes.io/managed-by': 'weft-controlplane' } },
      data: { [REJECTIONS_KEY]: text },
    };
    try {
      await this.o.clients.core.replaceNamespacedConfigMap({ name: REJECTIONS_CONFIGMAP, namespace: this.o.namespace, body });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
      await this.o.clients.core.createNamespacedConfigMap({ namespace: this.o.namespace, body });
    }
  }
}

function eventKey(r: Rejection): string {
  return `${r.node}\0${r.type}\0${r.version}`;
}
