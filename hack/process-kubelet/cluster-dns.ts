// The node's cluster DNS (what CoreDNS is in a real cluster), on the bridge address port 53.
// Pods' resolv.conf points here, so un-meshed pods (the operator, the control plane) and a
// sidecar's own lookups find `weft-controlplane.weft-system.svc` and friends.
//
// A service name answers with the Service's ready endpoint addresses, headless-style: this
// node has no kube-proxy, and Service ClusterIPs are reachable only through a sidecar's
// capture (as for meshed pods in Istio). Any other name under cluster.local is NXDOMAIN; every
// other name gets SERVFAIL, because nothing here may leave the machine (the network rule).
import type { Logger } from 'pino';
import { DnsProxy } from '../../src/proxy/dns/server.js';
import type { NameTableShape } from '../../src/proxy/dns/names.js';
import { Informer } from '../../src/kube/informer.js';
import type { KubeObject, KubeRest } from '../../src/kube/apply.js';

export const CLUSTER_DOMAIN = 'cluster.local';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const REBUILD_DEBOUNCE_MS = 100;

export interface EndpointSliceLike {
  metadata: { namespace?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean } }> | null;
}

/** `<service>.<namespace>.svc.cluster.local` -> ready IPv4 endpoint addresses. Pure. */
export function nameTableFromSlices(slices: readonly EndpointSliceLike[], clusterDomain = CLUSTER_DOMAIN): NameTableShape {
  const table: Record<string, { ips: string[] }> = {};
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc || !s.metadata.namespace || (s.addressType !== undefined && s.addressType !== 'IPv4')) continue;
    const host = `${svc}.${s.metadata.namespace}.svc.${clusterDomain}`;
    const entry = (table[host] ??= { ips: [] });
    for (const ep of s.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue; // unset means ready (discovery/v1)
      for (const a of ep.addresses ?? []) if (!entry.ips.includes(a)) entry.ips.push(a);
    }
  }
  for (const e of Object.values(table)) e.ips.sort();
  return { table };
}

export interface ClusterDnsOptions {
  rest: KubeRest;
  host: string;
  port?: number;
  logger: Logger;
}

export class ClusterDns {
  private readonly dns: DnsProxy;
  private readonly informer: Informer<EndpointSliceLike & KubeObject>;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ClusterDnsOptions) {
    this.dns = new DnsProxy({ host: o.host, port: o.port ?? 53, upstreams: [], searchDomains: [], clusterDomain: CLUSTER_DOMAIN, logger: o.logger });
    this.informer = new Informer(o.rest, { type: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }, logger: o.logger.child({ informer: 'endpointslices' }) });
    this.informer.onEvent(() => this.scheduleRebuild());
  }

  private scheduleRebuild(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dns.setNameTable(nameTableFromSlices(this.informer.list()));
    }, REBUILD_DEBOUNCE_MS);
  }

  /** Listens now; names resolve once the EndpointSlice list has synced (until then: SERVFAIL). */
  async start(): Promise<void> {
    await this.dns.start();
    this.informer.start();
    void this.informer.waitForSync().then(() => {
      this.dns.setNameTable(nameTableFromSlices(this.informer.list()));
      this.o.logger.info({ host: this.o.host, names: Object.keys(this.dns.nameTable().table ?? {}).length }, 'cluster dns ready');
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.informer.stop();
    await this.dns.close();
  }
}
