// weftctl status: one screen about the mesh. Facts are read through the Kubernetes API
// (MeshConfig via CustomObjectsApi); buildStatus/formatStatus are pure.
import type * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import {
  MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION, type Condition, type MeshConfig, type RootRotationStatus,
} from '../../api/meshconfig.js';
import { parseInjectionStatus } from '../../render/inject/inject.js';
import { DEFAULT_MESH_NAMESPACE, namespaceInjectionEnabled, podIsInjected, podOptedOut, SYSTEM_NAMESPACES } from '../analyze/model.js';
import { examples, globalsOf, type App } from '../app.js';
import { parsePemBundle } from '../check/checks.js';
import { painter, type Paint } from '../io.js';
import { call, connect, listCustom } from '../kube.js';
import { humanDuration, parseOutputFormat, renderData, renderTable } from '../output.js';
import { isWeftWebhook, OPERATOR_NAMESPACE } from './check.js';

export interface ComponentRow {
  name: string;
  namespace: string;
  ready: number;
  desired: number;
  version?: string;
}

export interface CertRow {
  name: string;
  notAfter?: string;
  /** Milliseconds left (negative = expired); undefined = unparseable. */
  leftMs?: number;
  error?: string;
}

export interface StatusReport {
  meshConfigs: { name: string; version: string; running?: string; phase?: string; activeRevision?: string; revisions: string[]; conditions: Condition[]; rootRotation?: RootRotationStatus }[];
  components: ComponentRow[];
  proxiesByVersion: Record<string, number>;
  missingSidecars: string[];
  certificates: CertRow[];
}

export interface StatusFacts {
  meshConfigs: MeshConfig[];
  deployments: k8s.V1Deployment[];
  pods: k8s.V1Pod[];
  namespaces: k8s.V1Namespace[];
  certs: { name: string; pem: string }[];
}

/** Pure: facts -> report. */
export function buildStatus(f: StatusFacts, now: Date): StatusReport {
  const enabled = new Set(f.namespaces.filter((n) => namespaceInjectionEnabled(n.metadata?.labels) && !SYSTEM_NAMESPACES.includes(n.metadata?.name ?? '')).map((n) => n.metadata?.name));
  const proxiesByVersion: Record<string, number> = {};
  for (const p of f.pods) {
    const st = parseInjectionStatus(p);
    if (st) proxiesByVersion[st.version] = (proxiesByVersion[st.version] ?? 0) + 1;
  }
  const missingSidecars = f.pods
    .filter((p) => enabled.has(p.metadata?.namespace) && !p.spec?.hostNetwork && !podOptedOut(p.metadata?.labels) && !podIsInjected(p)
      && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).sort();
  const certificates = f.certs.map((c): CertRow => {
    try {
      const parsed = parsePemBundle(c.pem);
      const soonest = parsed.reduce((a, b) => (a.notAfter < b.notAfter ? a : b));
      return { name: c.name, notAfter: soonest.notAfter.toISOString(), leftMs: soonest.notAfter.getTime() - now.getTime() };
    } catch (e) {
      return { name: c.name, error: (e as Error).message };
    }
  });
  return {
    meshConfigs: f.meshConfigs.map((m) => ({
      name: m.metadata.name, version: m.spec?.version ?? '', ...(m.status?.version ? { running: m.status.version } : {}),
      ...(m.status?.upgradePhase ? { phase: m.status.upgradePhase } : {}),
      ...(m.status?.activeRevision ? { activeRevision: m.status.activeRevision } : {}),
      revisions: (m.status?.revisions ?? []).map((r) => `${r.name}@${r.version}${r.inactiveSince ? ' (inactive)' : ''}`),
      conditions: m.status?.conditions ?? [],
      ...(m.status?.rootRotation ? { rootRotation: m.status.rootRotation } : {}),
    })),
    components: f.deployments.map((d) => ({
      name: d.metadata?.name ?? '', namespace: d.metadata?.namespace ?? '', ready: d.status?.readyReplicas ?? 0, desired: d.spec?.replicas ?? 1,
      ...(d.metadata?.labels?.['app.kubernetes.io/version'] ? { version: d.metadata.labels['app.kubernetes.io/version'] } : {}),
    })).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
    proxiesByVersion,
    missingSidecars,
    certificates,
  };
}

const DAY = 86_400_000;

/** One line about status.rootRotation, or undefined when there is nothing to say. Pure. */
export function rootRotationLine(r: RootRotationStatus | undefined, paint: Paint): string | undefined {
  if (!r) return undefined;
  if (!r.stage) return r.message ? paint('yellow', r.message) : undefined;
  const pending = r.pendingRequest ? `, request ${r.pendingRequest} pending` : '';
  if (r.stage === 'idle') return `idle, ${r.completed ?? 0} completed${pending}`;
  const lag = r.lagging?.length ? `; lagging: ${r.lagging.slice(0, 5).join(', ')}${r.lagging.length > 5 ? ', ...' : ''}` : '';
  return `stage ${r.stage} since ${r.since ?? '?'}, ${r.proxies?.current ?? 0}/${r.proxies?.total ?? 0} proxies at this stage${lag}${r.stuck ? ` ${paint('yellow', '(stuck)')}` : ''}${pending}`;
}

export function formatStatus(s: StatusReport, paint: Paint): string {
  const out: string[] = [];
  const h = (t: string): void => void out.push(paint('bold', t));
  h('MESH');
  if (s.meshConfigs.length === 0) out.push(`  ${paint('yellow', 'no MeshConfig: Weft is not installed (weftctl install)')}`);
  for (const m of s.meshConfigs) {
    out.push(`  ${m.name}: desired ${m.version}, running ${m.running ?? '-'}, phase ${m.phase ?? '-'}, active revision ${m.activeRevision ?? '-'}`);
    out.push(`  revisions: ${m.revisions.length ? m.revisions.join(', ') : '-'}`);
    const rr = rootRotationLine(m.rootRotation, paint);
    if (rr) out.push(`  root rotation: ${rr}`);
    if (m.conditions.length === 0) out.push('  conditions: none yet');
    else {
      out.push(renderTable(['  CONDITION', 'STATUS', 'REASON', 'MESSAGE'], m.conditions.map((c) => [
        `  ${c.type}`, paint(c.status === 'True' ? (c.type === 'Degraded' ? 'red' : 'green') : c.status === 'False' ? (c.type === 'Degraded' ? 'green' : 'red') : 'yellow', c.status), c.reason, c.message,
      ])).trimEnd());
    }
  }
  out.push('');
  h('COMPONENTS');
  if (s.components.length === 0) out.push('  none found');
  else out.push(renderTable(['  NAMESPACE', 'NAME', 'READY', 'VERSION'], s.components.map((c) => [
    `  ${c.namespace}`, c.name, paint(c.ready >= c.desired ? 'green' : 'red', `${c.ready}/${c.desired}`), c.version ?? '-',
  ])).trimEnd());
  out.push('');
  h('PROXIES');
  const versions = Object.entries(s.proxiesByVersion).sort(([a], [b]) => a.localeCompare(b));
  out.push(versions.length ? versions.map(([v, n]) => `  ${v}: ${n}`).join('\n') : '  no injected pods');
  out.push(`  pods missing sidecars: ${s.missingSidecars.length === 0 ? paint('green', '0') : paint('yellow', `${s.missingSidecars.length} (${s.missingSidecars.slice(0, 5).join(', ')}${s.missingSidecars.length > 5 ? ', ...' : ''})`)}`);
  out.push('');
  h('CERTIFICATES');
  if (s.certificates.length === 0) out.push('  none found');
  else out.push(renderTable(['  NAME', 'EXPIRES', 'IN'], s.certificates.map((c) => [
    `  ${c.name}`, c.notAfter ?? paint('red', c.error ?? 'invalid'),
    c.leftMs === undefined ? '-' : paint(c.leftMs <= 0 ? 'red' : c.leftMs < 30 * DAY ? 'yellow' : 'green', c.leftMs <= 0 ? 'EXPIRED' : humanDuration(c.leftMs)),
  ])).trimEnd());
  return out.join('\n') + '\n';
}

export function registerStatus(program: Command, app: App): void {
  program
    .command('status')
    .description('One-screen summary: MeshConfig conditions, revisions, components, proxies by version, pods missing sidecars, certificate expiries')
    .addHelpText('after', examples(['weftctl status', 'weftctl status -o yaml', 'weftctl --context prod status']))
    .action(async (_flags: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      const cluster = connect(g);
      const c = cluster.clients;
      const meshConfigs = (await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL)) as unknown as MeshConfig[];
      const meshNs = [...new Set([OPERATOR_NAMESPACE, ...meshConfigs.map((m) => m.spec?.namespace ?? DEFAULT_MESH_NAMESPACE)])];
      const [pods, nss, mwh, vwh] = await call('read cluster state', () => Promise.all([
        c.core.listPodForAllNamespaces(), c.core.listNamespace(),
        c.admissionReg.listMutatingWebhookConfiguration(), c.admissionReg.listValidatingWebhookConfiguration(),
      ]), cluster.server);
      const deployments: k8s.V1Deployment[] = [];
      const certs: { name: string; pem: string }[] = [];
      for (const ns of meshNs) {
        const d = await c.apps.listNamespacedDeployment({ namespace: ns }).catch(() => ({ items: [] as k8s.V1Deployment[] }));
        deployments.push(...d.items);
        const secrets = await c.core.listNamespacedSecret({ namespace: ns }).catch(() => ({ items: [] as k8s.V1Secret[] }));
        for (const s of secrets.items) {
          for (const key of ['tls.crt', 'ca.crt', 'ca-cert.pem', 'root-cert.pem', 'cert-chain.pem']) {
            const v = s.data?.[key];
            if (v) certs.push({ name: `secret ${ns}/${s.metadata?.name} ${key}`, pem: Buffer.from(v, 'base64').toString('utf8') });
          }
        }
      }
      for (const cfg of [...mwh.items, ...vwh.items].filter(isWeftWebhook)) {
        const first = (cfg.webhooks ?? [])[0];
        if (first?.clientConfig.caBundle) certs.push({ name: `webhook ${cfg.metadata?.name} caBundle`, pem: Buffer.from(first.clientConfig.caBundle, 'base64').toString('utf8') });
      }
      const report = buildStatus({ meshConfigs, deployments, pods: pods.items, namespaces: nss.items, certs }, app.now());
      app.io.out(format === 'json' || format === 'yaml' ? renderData(report, format) : formatStatus(report, painter(app.io.color)));
    });
}
