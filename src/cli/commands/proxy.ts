// weftctl proxy-status / proxy-config: read a proxy's Envoy-style /config_dump from its admin
// port (15000) and render it. Network rule: only pod IPs in the local pod CIDR (10.88.0.0/16,
// network namespaces on this machine) or loopback are contacted; anything else is explained.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type * as k8s from '@kubernetes/client-node';
import { Command, Argument } from 'commander';
import { PROXY_PORTS } from '../../api/sidecar.js';
import { parseInjectionStatus } from '../../render/inject/inject.js';
import { podIsInjected } from '../analyze/model.js';
import { examples, globalsOf, type App } from '../app.js';
import type { ProxySync, SyncState } from '../check/checks.js';
import { CliError, EXIT } from '../io.js';
import { call, connect, isNotFound, type Cluster } from '../kube.js';
import { parseOutputFormat, renderData, renderTable, type OutputFormat } from '../output.js';
import { SynczClient, synczToProxySyncs } from '../syncz.js';

export const LOCAL_POD_CIDR = '10.88.0.0/16';

/** True for 127.0.0.0/8 and the local pod CIDR 10.88.0.0/16: the only addresses weftctl may contact. */
export function reachableAddress(ip: string | undefined): boolean {
  if (!ip) return false;
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return false;
  return m[1] === '127' || (m[1] === '10' && m[2] === '88');
}

type Json = Record<string, unknown>;

export interface ConfigDump {
  configs?: Json[];
}

const TYPES = {
  clusters: 'ClustersConfigDump',
  listeners: 'ListenersConfigDump',
  routes: 'RoutesConfigDump',
  endpoints: 'EndpointsConfigDump',
  secrets: 'SecretsConfigDump',
} as const;
export type ConfigSection = keyof typeof TYPES;
export const CONFIG_SECTIONS = Object.keys(TYPES) as ConfigSection[];
const XDS_NAME: Record<ConfigSection, string> = { clusters: 'CDS', listeners: 'LDS', routes: 'RDS', endpoints: 'EDS', secrets: 'SDS' };

export function section(dump: ConfigDump, s: ConfigSection): Json | undefined {
  return (dump.configs ?? []).find((c) => typeof c['@type'] === 'string' && (c['@type'] as string).endsWith(`.${TYPES[s]}`));
}

const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** The dynamic (xDS-delivered) entries of a section. */
function dynamicEntries(dump: ConfigDump, s: ConfigSection): Json[] {
  const sec = obj(section(dump, s));
  switch (s) {
    case 'clusters': return arr(sec.dynamic_active_clusters);
    case 'listeners': return arr(sec.dynamic_listeners);
    case 'routes': return arr(sec.dynamic_route_configs);
    case 'endpoints': return arr(sec.dynamic_endpoint_configs);
    case 'secrets': return arr(sec.dynamic_active_secrets);
  }
}

/** Per-xDS-type state from one dump: NACK if any resource has an error_state/NACKED, SYNCED if a version was accepted. Pure. */
export function syncFromDump(proxy: string, dump: ConfigDump, version?: string): ProxySync {
  const types: Record<string, SyncState> = {};
  const errors: string[] = [];
  for (const s of CONFIG_SECTIONS) {
    if (s === 'secrets') continue;
    const entries = dynamicEntries(dump, s);
    const nack = entries.find((e) => e.error_state !== undefined || e.client_status === 'NACKED');
    const versioned = entries.some((e) => str(e.version_info ?? obj(e.active_state).version_info) !== '') || str(obj(section(dump, s)).version_info) !== '';
    if (nack) {
      types[XDS_NAME[s]] = 'NACK';
      errors.push(str(obj(nack.error_state).details) || 'rejected');
    } else types[XDS_NAME[s]] = versioned ? 'SYNCED' : 'NOT SENT';
  }
  return { proxy, ...(version ? { version } : {}), types, ...(errors.length ? { error: errors.join('; ') } : {}) };
}

function socket(a: unknown): string {
  const sa = obj(obj(a).socket_address);
  return sa.address !== undefined ? `${str(sa.address)}:${str(sa.port_value)}` : '';
}

/** Table rows for one section. Pure. */
export function sectionRows(dump: ConfigDump, s: ConfigSection): { header: string[]; rows: string[][] } {
  const entries = dynamicEntries(dump, s);
  switch (s) {
    case 'clusters':
      return { header: ['NAME', 'TYPE', 'VERSION'], rows: entries.map((e) => { const c = obj(e.cluster); return [str(c.name), str(c.type) || (c.eds_cluster_config ? 'EDS' : ''), str(e.version_info)]; }) };
    case 'listeners':
      return { header: ['NAME', 'ADDRESS', 'VERSION'], rows: entries.map((e) => { const a = obj(e.active_state); const l = obj(a.listener); return [str(e.name) || str(l.name), socket(l.address), str(a.version_info)]; }) };
    case 'routes':
      return {
        header: ['ROUTE CONFIG', 'VIRTUAL HOST', 'DOMAINS', 'ROUTES'],
        rows: entries.flatMap((e) => { const rc = obj(e.route_config); return arr(rc.virtual_hosts).map((vh) => [str(rc.name), str(vh.name), arr(vh.domains).map(str).join(','), String(arr(vh.routes).length)]); }),
      };
    case 'endpoints':
      return {
        header: ['CLUSTER', 'ENDPOINT', 'HEALTH'],
        rows: entries.flatMap((e) => { const ec = obj(e.endpoint_config); return arr(ec.endpoints).flatMap((le) => arr(le.lb_endpoints).map((lb) => [str(ec.cluster_name), socket(obj(lb.endpoint).address), str(lb.health_status) || 'UNKNOWN'])); }),
      };
    case 'secrets':
      return { header: ['NAME', 'VERSION', 'LAST UPDATED'], rows: entries.map((e) => [str(e.name), str(e.version_info), str(e.last_updated)]) };
  }
}

export function formatSyncTable(rows: readonly ProxySync[]): string {
  return renderTable(['NAME', 'CDS', 'LDS', 'EDS', 'RDS', 'VERSION'], rows.map((r) => [
    r.proxy, r.types.CDS ?? '-', r.types.LDS ?? '-', r.types.EDS ?? '-', r.types.RDS ?? '-', r.version ?? '-',
  ]));
}

/** `reviews-v1` or `shop/reviews-v1` against syncz names `<pod>.<namespace>`. Pure. */
export function matchesPodRef(proxy: string, ref: string): boolean {
  if (ref.includes('/')) {
    const [ns, name] = ref.split('/', 2) as [string, string];
    return proxy === `${name}.${ns}`;
  }
  return proxy === ref || proxy.startsWith(`${ref}.`);
}

/** The NACK lines printed under the table (the table has no room for error text). Pure. */
export function formatSyncErrors(rows: readonly ProxySync[]): string {
  return rows.filter((r) => r.error && Object.values(r.types).includes('NACK')).map((r) => `NACK ${r.proxy}: ${r.error}\n`).join('');
}

/** proxy-status --controlplane-debug: the control plane's view (sent vs ACKed), no cluster needed. */
async function statusFromSyncz(app: App, base: string, podRef: string | undefined, format: OutputFormat): Promise<void> {
  const client = new SynczClient(base);
  let rows: ProxySync[];
  try {
    rows = synczToProxySyncs(await client.report());
  } catch (e) {
    throw new CliError(`cannot read proxy sync status from ${client.description}: ${(e as Error).message}`, EXIT.failure);
  }
  if (podRef) rows = rows.filter((r) => matchesPodRef(r.proxy, podRef));
  if (rows.length === 0) {
    app.io.err(`the control plane at ${client.url.href} has no connected proxy${podRef ? ` matching ${podRef}` : ''}\n`);
    if (podRef) throw new CliError('', EXIT.failure);
    return;
  }
  if (format === 'json' || format === 'yaml') app.io.out(renderData(rows, format));
  else app.io.out(formatSyncTable(rows) + formatSyncErrors(rows));
  if (rows.some((r) => Object.values(r.types).includes('NACK'))) throw new CliError('', EXIT.failure);
}

async function fetchDump(ip: string, port: number, timeoutMs = 3000): Promise<ConfigDump> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path: '/config_dump?include_eds', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 400) return reject(new Error(`admin answered HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConfigDump);
        } catch {
          reject(new Error('admin /config_dump is not JSON'));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}

/** Reads one pod's dump, enforcing the address rule. */
async function podDump(pod: k8s.V1Pod, adminPort: number): Promise<ConfigDump> {
  const ip = pod.status?.podIP;
  const id = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (!ip) throw new CliError(`${id} has no pod IP yet (phase ${pod.status?.phase ?? 'unknown'})`, EXIT.failure);
  if (!reachableAddress(ip)) {
    throw new CliError(`${id} has IP ${ip}, outside ${LOCAL_POD_CIDR} and 127.0.0.0/8: weftctl only reads proxy admin ports in network namespaces on this machine; use kubectl port-forward ${pod.metadata?.name} ${adminPort} and --admin-address 127.0.0.1:${adminPort}`, EXIT.failure);
  }
  try {
    return await fetchDump(ip, adminPort);
  } catch (e) {
    throw new CliError(`${id}: cannot read the proxy admin at ${ip}:${adminPort}: ${(e as Error).message}`, EXIT.failure);
  }
}

function parseAdminAddress(a: string): { host: string; port: number } {
  const m = /^([\d.]+):(\d+)$/.exec(a);
  if (!m || !reachableAddress(m[1])) throw new CliError(`--admin-address ${a}: must be <ip>:<port> on 127.0.0.0/8 or ${LOCAL_POD_CIDR}`, EXIT.usage);
  return { host: m[1] as string, port: Number(m[2]) };
}

async function readPod(cluster: Cluster, ref: string): Promise<k8s.V1Pod> {
  const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [cluster.namespace, ref];
  try {
    return await cluster.clients.core.readNamespacedPod({ name, namespace: ns });
  } catch (e) {
    if (isNotFound(e)) throw new CliError(`pod ${ns}/${name} not found`, EXIT.failure);
    throw await call(`read pod ${ns}/${name}`, () => Promise.reject(e), cluster.server).catch((x: unknown) => x);
  }
}

export function registerProxy(program: Command, app: App): void {
  program
    .command('proxy-status')
    .description('For each proxy: whether CDS/LDS/EDS/RDS config is SYNCED, NACKed or NOT SENT, with the proxy version')
    .argument('[pod]', 'one pod (name or namespace/name); default: every injected pod in the namespace (-A: all)')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('--admin-port <port>', 'proxy admin port', String(PROXY_PORTS.admin))
    .option('--controlplane-debug <url>', "read the control plane's /debug/syncz (sent vs ACKed per type: SYNCED/STALE/NACK) instead of each proxy's admin port")
    .addHelpText('after', examples([
      'weftctl proxy-status', 'weftctl proxy-status -A', 'weftctl proxy-status -n shop reviews-v1-5d9c',
      '# Every proxy connected to the control plane, as the control plane sees it',
      'weftctl proxy-status --controlplane-debug http://127.0.0.1:15014',
    ]))
    .action(async (podRef: string | undefined, flags: { allNamespaces?: boolean; adminPort: string; controlplaneDebug?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      if (flags.controlplaneDebug !== undefined) return statusFromSyncz(app, flags.controlplaneDebug, podRef, format);
      const cluster = connect(g);
      const port = Number(flags.adminPort);
      let pods: k8s.V1Pod[];
      if (podRef) pods = [await readPod(cluster, podRef)];
      else {
        const list = await call('list pods', () => (flags.allNamespaces ? cluster.clients.core.listPodForAllNamespaces() : cluster.clients.core.listNamespacedPod({ namespace: cluster.namespace })), cluster.server);
        pods = list.items.filter((p) => podIsInjected(p));
      }
      if (podRef && !podIsInjected(pods[0] as k8s.V1Pod)) throw new CliError(`pod ${podRef} has no Weft sidecar`, EXIT.failure);
      const rows: ProxySync[] = [];
      let failures = 0;
      for (const p of pods) {
        const id = `${p.metadata?.name}.${p.metadata?.namespace}`;
        const version = parseInjectionStatus(p)?.version;
        try {
          rows.push(syncFromDump(id, await podDump(p, port), version));
        } catch (e) {
          failures++;
          rows.push({ proxy: id, ...(version ? { version } : {}), types: {}, error: (e as Error).message });
          app.io.err(`Warning: ${(e as Error).message}\n`);
        }
      }
      if (rows.length === 0) app.io.err(`no injected pods in ${flags.allNamespaces ? 'any namespace' : `namespace ${cluster.namespace}`}\n`);
      else app.io.out(format === 'json' || format === 'yaml' ? renderData(rows, format) : formatSyncTable(rows));
      if (failures > 0 || rows.some((r) => Object.values(r.types).includes('NACK'))) throw new CliError('', EXIT.failure);
    });

  program
    .command('proxy-config')
    .description("Show a proxy's clusters, listeners, routes, endpoints or secrets from its /config_dump")
    .addArgument(new Argument('<type>', 'what to show').choices(CONFIG_SECTIONS))
    .argument('[pod]', 'pod name or namespace/name')
    .option('--admin-port <port>', 'proxy admin port', String(PROXY_PORTS.admin))
    .option('--admin-address <ip:port>', 'read this admin address instead of a pod (loopback or the local pod CIDR only)')
    .option('--file <config_dump.json>', 'render a saved config_dump instead of a live proxy')
    .addHelpText('after', examples([
      'weftctl proxy-config clusters reviews-v1-5d9c -n shop',
      'weftctl proxy-config routes shop/productpage-7f4 -o yaml',
      'weftctl proxy-config listeners --admin-address 127.0.0.1:15000',
      'weftctl proxy-config endpoints --file dump.json',
    ]))
    .action(async (type: ConfigSection, podRef: string | undefined, flags: { adminPort: string; adminAddress?: string; file?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      const sources = [podRef, flags.adminAddress, flags.file].filter((x) => x !== undefined);
      if (sources.length !== 1) throw new CliError('give exactly one of <pod>, --admin-address or --file', EXIT.usage);
      let dump: ConfigDump;
      if (flags.file) {
        try {
          dump = JSON.parse(readFileSync(flags.file, 'utf8')) as ConfigDump;
        } catch (e) {
          throw new CliError(`${flags.file}: ${(e as Error).message}`, EXIT.usage);
        }
      } else if (flags.adminAddress) {
        const a = parseAdminAddress(flags.adminAddress);
        dump = await fetchDump(a.host, a.port).catch((e: Error) => { throw new CliError(`cannot read ${flags.adminAddress}/config_dump: ${e.message}`, EXIT.failure); });
      } else {
        const cluster = connect(g);
        const pod = await readPod(cluster, podRef as string);
        if (!podIsInjected(pod)) throw new CliError(`pod ${podRef} has no Weft sidecar`, EXIT.failure);
        dump = await podDump(pod, Number(flags.adminPort));
      }
      if (format === 'json' || format === 'yaml') {
        app.io.out(renderData(dynamicEntries(dump, type), format));
        return;
      }
      const t = sectionRows(dump, type);
      app.io.out(renderTable(t.header, t.rows));
    });
}
