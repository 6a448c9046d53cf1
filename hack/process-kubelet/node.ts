// The kubelet's Node: registration (labels, taint, InternalIP, capacity), Ready status,
// a Lease heartbeat in kube-node-lease, and waiting for the controller-manager's podCIDR.
import type { Logger } from 'pino';
import type { KubeRest } from '../../src/kube/apply.js';
import { isNotFound, isConflict } from '../../src/kube/apply.js';
import { WeftError, errorMessage } from '../../src/errors/errors.js';

export const NODE_LABEL = 'weft.dev/process-kubelet';
export const NODE_TAINT_KEY = 'weft.dev/process-kubelet';

export interface NodeOptions {
  name: string;
  ip: string;
  rest: KubeRest;
  logger: Logger;
  leaseDurationSeconds?: number;
  heartbeatMs?: number;
}

interface NodeObject {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[]; taints?: unknown[] };
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function microNow(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

export function desiredNode(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { [NODE_LABEL]: 'true', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'process-kubelet' },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { taints: [{ key: NODE_TAINT_KEY, value: 'true', effect: 'NoSchedule' }] },
  };
}

export class NodeAgent {
  private readonly o: NodeOptions;
  private timer: NodeJS.Timeout | undefined;
  private statusTicks = 0;
  private readonly startedAt = nowIso();
  private stopped = false;

  constructor(o: NodeOptions) {
    this.o = o;
  }

  private get path(): string {
    return `/api/v1/nodes/${this.o.name}`;
  }

  async register(): Promise<void> {
    try {
      await this.o.rest.request('POST', '/api/v1/nodes', { body: desiredNode(this.o.name) });
      this.o.logger.info({ node: this.o.name }, 'node registered');
    } catch (e) {
      if (!isConflict(e)) throw e;
      // Already there (a previous run): make sure labels and taint are as desired.
      const d = desiredNode(this.o.name);
      await this.o.rest.request('PATCH', this.path, { body: { metadata: d.metadata, spec: d.spec }, contentType: 'application/merge-patch+json' });
      this.o.logger.info({ node: this.o.name }, 'node already registered; reusing it');
    }
    await this.writeStatus(true);
    await this.renewLease();
  }

  /** Polls the Node until the controller-manager has allocated spec.podCIDR. */
  async waitForPodCIDR(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const n = await this.o.rest.request<NodeObject>('GET', this.path);
      const cidr = n.spec?.podCIDR;
      if (cidr) return cidr;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new WeftError('WEFT_E_UNAVAILABLE', 'controller-manager did not assign a podCIDR in time', { node: this.o.name, timeoutMs });
  }

  startHeartbeat(): void {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        await this.renewLease();
        // Node status every third beat; the Lease is the primary heartbeat.
        if (this.statusTicks++ % 3 === 0) await this.writeStatus(true);
      } catch (e) {
        this.o.logger.warn({ err: errorMessage(e) }, 'node heartbeat failed');
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.heartbeatMs ?? 10_000);
    };
    this.timer = setTimeout(() => void tick(), this.o.heartbeatMs ?? 10_000);
  }

  async writeStatus(ready: boolean): Promise<void> {
    const now = nowIso();
    const cond = (type: string, status: string, reason: string, message: string): Record<string, string> => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.startedAt,
    });
    const capacity = { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    await this.o.rest.request('PATCH', `${this.path}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          capacity,
          allocatable: capacity,
          addresses: [
            { type: 'InternalIP', address: this.o.ip },
            { type: 'Hostname', address: this.o.name },
          ],
          conditions: [
            cond('Ready', ready ? 'True' : 'False', ready ? 'KubeletReady' : 'KubeletStopped', ready ? 'process kubelet is posting ready status' : 'process kubelet stopped'),
            cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'ok'),
            cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'ok'),
            cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'ok'),
          ],
          nodeInfo: {
            architecture: 'amd64',
            operatingSystem: 'linux',
            kubeletVersion: 'v1.36.3-weft-process',
            kubeProxyVersion: '',
            containerRuntimeVersion: 'process://1',
            osImage: 'weft process kubelet',
            kernelVersion: '',
            bootID: '',
            machineID: '',
            systemUUID: '',
          },
          daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
        },
      },
    });
  }

  private async renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.o.name}`;
    const spec = { holderIdentity: this.o.name, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: microNow() };
    try {
      await this.o.rest.request('PATCH', path, { body: { spec }, contentType: 'application/merge-patch+json' });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.o.rest.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.name, namespace: 'kube-node-lease' }, spec },
      });
    }
  }

  /** Stops the heartbeat; deletes the Node (and its Lease) or marks it NotReady. */
  async shutdown(deleteNode: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      if (deleteNode) {
        await this.o.rest.request('DELETE', this.path).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
        await this.o.rest
          .request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.o.name}`)
          .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      } else {
        await this.writeStatus(false);
      }
    } catch (e) {
      this.o.logger.warn({ err: errorMessage(e) }, 'node shutdown update failed');
    }
  }
}
