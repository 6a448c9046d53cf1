// weftctl install / upgrade / uninstall. Pure helpers (--set parsing, apply order, progress
// lines, upgrade outcome) are exported for unit tests; applying is server-side apply with
// fieldManager "weftctl".
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import {
  MESHCONFIG_API_VERSION, MESHCONFIG_GROUP, MESHCONFIG_KIND, MESHCONFIG_PLURAL, MESHCONFIG_VERSION, VERSION_PATTERN,
  validateMeshConfig, type MeshConfig,
} from '../../api/meshconfig.js';
import { formatIssues } from '../../api/validation.js';
import { examples, globalsOf, type App } from '../app.js';
import { CliError, EXIT, painter, type Paint } from '../io.js';
import { apiMessage, call, connect, isNotFound, listCustom, type Cluster } from '../kube.js';
import { parseManifests, type Manifest } from '../manifests.js';
import { OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE } from './check.js';

export const FIELD_MANAGER = 'weftctl';

// ---------------------------------------------------------------------------------------
// Pure helpers

/** Parses a --set value: true/false, integers and decimals become typed; [a,b] a list; else string. */
export function parseSetValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw) && !/^0\d/.test(raw)) return Number(raw);
  if (raw.startsWith('[') && raw.endsWith(']')) return raw.slice(1, -1).split(',').map((s) => s.trim()).filter((s) => s !== '').map(parseSetValue);
  return raw;
}

/** Applies `a.b[0].c=v` assignments onto a spec object. Keys are relative to spec (a leading "spec." is allowed). */
export function applySets(spec: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(spec);
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new CliError(`--set ${s}: expected key=value, e.g. --set proxy.logLevel=debug`, EXIT.usage);
    const key = s.slice(0, eq).replace(/^spec\./, '');
    const tokens = key.split('.').flatMap((part) => {
      const m = /^([A-Za-z][\w-]*)((\[\d+\])*)$/.exec(part);
      if (!m) throw new CliError(`--set ${s}: "${part}" is not a valid key segment`, EXIT.usage);
      return [m[1] as string, ...[...(m[2] ?? '').matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]))];
    });
    let cur: Record<string | number, unknown> = out as Record<string | number, unknown>;
    tokens.forEach((t, i) => {
      const last = i === tokens.length - 1;
      if (last) {
        cur[t] = parseSetValue(s.slice(eq + 1));
        return;
      }
      const nextIsIndex = typeof tokens[i + 1] === 'number';
      if (cur[t] === undefined || typeof cur[t] !== 'object' || cur[t] === null) cur[t] = nextIsIndex ? [] : {};
      cur = cur[t] as Record<string | number, unknown>;
    });
  }
  return out;
}

/** Builds and validates the MeshConfig to install. Pure. */
export function buildMeshConfig(base: unknown, sets: readonly string[], defaultVersion: string): MeshConfig {
  let mc: MeshConfig;
  if (base !== undefined) {
    if (!base || typeof base !== 'object') throw new CliError('the MeshConfig file must hold one MeshConfig object', EXIT.usage);
    mc = structuredClone(base) as MeshConfig;
    if (mc.kind !== MESHCONFIG_KIND) throw new CliError(`the file holds a ${String(mc.kind)}, not a MeshConfig`, EXIT.usage);
  } else {
    mc = { apiVersion: MESHCONFIG_API_VERSION, kind: MESHCONFIG_KIND, metadata: { name: 'default' }, spec: { version: defaultVersion } };
  }
  mc.spec = applySets((mc.spec ?? {}) as unknown as Record<string, unknown>, sets) as unknown as MeshConfig['spec'];
  if (mc.spec.version === undefined) mc.spec.version = defaultVersion;
  const issues = validateMeshConfig(mc);
  if (issues.length > 0) throw new CliError(`invalid MeshConfig: ${formatIssues(issues)}`, EXIT.usage);
  return mc;
}

const ORDER = ['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap', 'Secret', 'Service', 'Deployment'];

/** Apply order: CRDs, namespaces, RBAC, config, workloads, then anything else; stable within a kind. Pure. */
export function applyOrder(objs: readonly Manifest[]): Manifest[] {
  const rank = (k: string): number => {
    const i = ORDER.indexOf(k);
    return i === -1 ? ORDER.length : i;
  };
  return objs.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i).map((x) => x.o);
}

export function describeObject(o: Manifest): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name ?? ''}`;
}

/** Progress lines for what changed between two observations of a MeshConfig. Pure. */
export function progressLines(prev: MeshConfig | undefined, cur: MeshConfig, paint: Paint): string[] {
  const lines: string[] = [];
  const ps = prev?.status;
  const cs = cur.status;
  if (ps?.upgradePhase !== cs?.upgradePhase && cs?.upgradePhase) lines.push(`phase: ${cs.upgradePhase}`);
  if (ps?.activeRevision !== cs?.activeRevision && cs?.activeRevision) lines.push(`active revision: ${cs.activeRevision}`);
  if (ps?.version !== cs?.version && cs?.version) lines.push(`running version: ${cs.version}`);
  for (const c of cs?.conditions ?? []) {
    const old = ps?.conditions?.find((x) => x.type === c.type);
    if (!old || old.status !== c.status || old.reason !== c.reason) {
      const bad = (c.type === 'Degraded' && c.status === 'True') || (c.type !== 'Degraded' && c.status === 'False');
      lines.push(`${c.type}=${paint(bad ? 'yellow' : 'green', c.status)} ${c.reason}${c.message ? `: ${c.message}` : ''}`);
    }
  }
  const pv = JSON.stringify(ps?.dataPlane?.proxiesByVersion ?? {});
  const cv = JSON.stringify(cs?.dataPlane?.proxiesByVersion ?? {});
  if (pv !== cv && cs?.dataPlane?.proxiesByVersion) {
    lines.push(`proxies: ${Object.entries(cs.dataPlane.proxiesByVersion).map(([v, n]) => `${v}=${n}`).join(' ')}${cs.dataPlane.outdatedProxies ? ` (${cs.dataPlane.outdatedProxies} outdated)` : ''}`);
  }
  return lines;
}

export type RolloutOutcome = { state: 'done' } | { state: 'failed'; reason: string } | { state: 'pending' };

/** Whether a MeshConfig has reached `version` at `generation`, failed, or is still going. Pure. */
export function rolloutOutcome(mc: MeshConfig, generation: number | undefined, version: string | undefined): RolloutOutcome {
  const st = mc.status;
  if (generation !== undefined && (st?.observedGeneration ?? 0) < generation) return { state: 'pending' };
  const cond = (t: string): MeshConfig['status'] extends infer S ? (S extends { conditions?: (infer C)[] } ? C | undefined : never) : never =>
    st?.conditions?.find((c) => c.type === t) as never;
  const degraded = cond('Degraded');
  if (degraded?.status === 'True' && /Failed|RolledBack|HealthGate|Invalid/i.test(degraded.reason)) return { state: 'failed', reason: `${degraded.reason}: ${degraded.message}` };
  const ready = cond('Ready');
  if (ready?.status === 'True' && (version === undefined || st?.version === undefined || st.version === version) && (st?.upgradePhase ?? 'Idle') === 'Idle') return { state: 'done' };
  return { state: 'pending' };
}

// ---------------------------------------------------------------------------------------
// I/O

function readYamlTree(dir: string): Manifest[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return [];
  }
  if (!st.isDirectory()) return parseManifests(readFileSync(dir, 'utf8'), dir).map((m) => m.obj);
  return readdirSync(dir).sort().flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return readYamlTree(p);
    return /\.ya?ml$/.test(f) ? parseManifests(readFileSync(p, 'utf8'), p).map((m) => m.obj) : [];
  });
}

export function installManifests(manifestsDir: string): { crds: Manifest[]; operator: Manifest[] } {
  const crds = readYamlTree(path.join(manifestsDir, 'crds'));
  if (crds.length === 0) throw new CliError(`no CRDs found under ${path.join(manifestsDir, 'crds')}: pass --manifests <dir>`, EXIT.usage);
  return { crds, operator: readYamlTree(path.join(manifestsDir, 'operator')) };
}

async function ssa(cluster: Cluster, o: Manifest, dryRun: boolean): Promise<void> {
  const api = cluster.clients.objects;
  await call(`apply ${describeObject(o)}`, () => api.patch(o as k8s.KubernetesObject, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply), cluster.server);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(1000);
  }
  return undefined;
}

export function parseTimeout(s: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new CliError(`--timeout ${s}: use e.g. 90s or 5m`, EXIT.usage);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export async function readMeshConfig(cluster: Cluster, name: string | undefined): Promise<MeshConfig> {
  const all = (await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL)) as unknown as MeshConfig[];
  if (all.length === 0) throw new CliError('no MeshConfig found: run `weftctl install` first', EXIT.failure);
  const mc = name ? all.find((m) => m.metadata.name === name) : all[0];
  if (!mc) throw new CliError(`MeshConfig "${name}" not found; have: ${all.map((m) => m.metadata.name).join(', ')}`, EXIT.failure);
  if (!name && all.length > 1) throw new CliError(`several MeshConfigs exist (${all.map((m) => m.metadata.name).join(', ')}): pass --name`, EXIT.usage);
  return mc;
}

export async function getMeshConfig(cluster: Cluster, name: string): Promise<MeshConfig | undefined> {
  try {
    return (await cluster.clients.custom.getClusterCustomObject({ group: MESHCONFIG_GROUP, version: MESHCONFIG_VERSION, plural: MESHCONFIG_PLURAL, name })) as MeshConfig;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Polls the MeshConfig, printing each change, until it is done/failed or the timeout passes. */
async function follow(app: App, cluster: Cluster, name: string, generation: number | undefined, version: string | undefined, timeoutMs: number): Promise<void> {
  const paint = painter(app.io.color);
  const deadline = Date.now() + timeoutMs;
  let prev: MeshConfig | undefined;
  while (Date.now() < deadline) {
    const cur = await getMeshConfig(cluster, name).catch(() => undefined);
    if (cur) {
      for (const l of progressLines(prev, cur, paint)) app.io.err(`  ${l}\n`);
      prev = cur;
      const o = rolloutOutcome(cur, generation, version);
      if (o.state === 'done') {
        app.io.err(`${paint('green', '✔')} MeshConfig ${name} is Ready${version ? ` at ${version}` : ''}\n`);
        return;
      }
      if (o.state === 'failed') throw new CliError(`MeshConfig ${name} failed: ${o.reason}`, EXIT.failure);
    }
    await sleep(1000);
  }
  throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for MeshConfig ${name} to become Ready; see \`weftctl status\``, EXIT.failure);
}

interface InstallFlags {
  set: string[];
  filename?: string;
  wait?: boolean;
  timeout: string;
  manifests?: string;
  dryRun?: boolean;
  skipOperator?: boolean;
}

interface UpgradeFlags {
  version: string;
  name?: string;
  wait?: boolean;
  timeout: string;
}

interface UninstallFlags {
  name?: string;
  purge?: boolean;
  timeout: string;
  manifests?: string;
  yes?: boolean;
}

export function registerLifecycle(program: Command, app: App): void {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  program
    .command('install')
    .description('Install Weft: apply the CRDs and the operator, then the MeshConfig (server-side apply, fieldManager weftctl)')
    .option('--set <key=value>', 'set a MeshConfig spec field (repeatable), e.g. --set version=0.2.0 --set proxy.logLevel=debug', collect, [])
    .option('-f, --filename <file>', 'MeshConfig YAML to apply (--set values are applied on top)')
    .option('--wait', 'wait until the operator is ready and the MeshConfig is Ready')
    .option('--timeout <duration>', 'how long --wait waits', '5m')
    .option('--manifests <dir>', 'directory holding crds/ and operator/ (default: the package manifests)')
    .option('--skip-operator', 'apply only the CRDs and the MeshConfig (the operator runs elsewhere)')
    .option('--dry-run', 'server-side dry run: validate everything, persist nothing')
    .addHelpText('after', examples([
      'weftctl install',
      'weftctl install --set version=0.1.0 --set security.mtlsMode=STRICT --wait',
      'weftctl install -f meshconfig.yaml --wait --timeout 10m',
      'weftctl install --dry-run',
    ]))
    .action(async (flags: InstallFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const paint = painter(app.io.color);
      const base = flags.filename ? (() => {
        const docs = parseManifests(readFileSync(flags.filename, 'utf8'), flags.filename).map((m) => m.obj);
        if (docs.length !== 1) throw new CliError(`${flags.filename}: expected exactly one MeshConfig, found ${docs.length} documents`, EXIT.usage);
        return docs[0];
      })() : undefined;
      const mc = buildMeshConfig(base, flags.set, app.version);
      const timeoutMs = parseTimeout(flags.timeout);
      const { crds, operator } = installManifests(flags.manifests ?? path.join(app.packageRoot, 'manifests'));
      const cluster = connect(g);
      const dry = Boolean(flags.dryRun);
      const tag = dry ? ' (dry run)' : '';
      app.io.err(paint('bold', `[1/3] CRDs${tag}\n`));
      for (const o of applyOrder(crds)) {
        await ssa(cluster, o, dry);
        app.io.err(`  ${paint('green', '✔')} ${describeObject(o)}\n`);
      }
      if (!dry) {
        for (const o of crds) {
          const ok = await waitUntil(60_000, async () => {
            const crd = await cluster.clients.apiext.readCustomResourceDefinition({ name: o.metadata.name ?? '' });
            return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
          });
          if (!ok) throw new CliError(`CRD ${o.metadata.name} did not become Established within 60s`, EXIT.failure);
        }
      }
      app.io.err(paint('bold', `[2/3] operator${tag}\n`));
      if (flags.skipOperator || operator.length === 0) {
        app.io.err(`  - skipped${operator.length === 0 ? ' (no manifests/operator in this package)' : ''}\n`);
      } else {
        for (const o of applyOrder(operator)) {
          if (dry && o.kind !== 'Namespace' && o.metadata.namespace) {
            // A dry-run Namespace is not created, so namespaced objects in it cannot be dry-run applied.
            const exists = await cluster.clients.core.readNamespace({ name: o.metadata.namespace }).then(() => true, () => false);
            if (!exists) {
              app.io.err(`  - ${describeObject(o)} (namespace does not exist yet; not validated)\n`);
              continue;
            }
          }
          await ssa(cluster, o, dry);
          app.io.err(`  ${paint('green', '✔')} ${describeObject(o)}\n`);
        }
        if (flags.wait && !dry) {
          app.io.err(`  waiting for ${OPERATOR_NAMESPACE}/${OPERATOR_DEPLOYMENT}...\n`);
          const ok = await waitUntil(timeoutMs, async () => {
            const d = await cluster.clients.apps.readNamespacedDeployment({ name: OPERATOR_DEPLOYMENT, namespace: OPERATOR_NAMESPACE });
            return (d.status?.readyReplicas ?? 0) >= 1 ? true : undefined;
          });
          if (!ok) throw new CliError(`operator Deployment ${OPERATOR_NAMESPACE}/${OPERATOR_DEPLOYMENT} not ready within ${flags.timeout}`, EXIT.failure);
          app.io.err(`  ${paint('green', '✔')} operator ready\n`);
        }
      }
      app.io.err(paint('bold', `[3/3] MeshConfig ${mc.metadata.name} (version ${mc.spec.version})${tag}\n`));
      if (dry && !crds.length) throw new CliError('no CRDs', EXIT.failure);
      const meshExists = await cluster.clients.apiext.readCustomResourceDefinition({ name: `${MESHCONFIG_PLURAL}.${MESHCONFIG_GROUP}` }).then(() => true, () => false);
      if (dry && !meshExists) app.io.err('  - not validated (the MeshConfig CRD does not exist yet)\n');
      else {
        await ssa(cluster, mc as unknown as Manifest, dry);
        app.io.err(`  ${paint('green', '✔')} MeshConfig ${mc.metadata.name}\n`);
      }
      if (flags.wait && !dry) {
        const live = await getMeshConfig(cluster, mc.metadata.name);
        await follow(app, cluster, mc.metadata.name, live?.metadata.generation, mc.spec.version, timeoutMs);
      }
      app.io.out(`Weft ${mc.spec.version} ${dry ? 'install validated (dry run)' : flags.wait ? 'installed and Ready' : 'installed; run `weftctl status` to follow the rollout'}\n`);
    });

  program
    .command('upgrade')
    .description('Upgrade the mesh: set MeshConfig spec.version and follow the rollout (control plane, gateways, data plane, health gate)')
    .requiredOption('--version <version>', 'target Weft version, e.g. 0.2.0')
    .option('--name <meshconfig>', 'MeshConfig to upgrade (default: the only one)')
    .option('--wait', 'follow the upgrade live until Ready, failure or timeout')
    .option('--timeout <duration>', 'how long --wait waits', '10m')
    .addHelpText('after', examples(['weftctl upgrade --version 0.2.0', 'weftctl upgrade --version 0.2.0 --wait --timeout 20m']))
    .action(async (flags: UpgradeFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      if (!new RegExp(VERSION_PATTERN).test(flags.version)) throw new CliError(`--version ${flags.version}: must be a semantic version such as 0.2.0`, EXIT.usage);
      const timeoutMs = parseTimeout(flags.timeout);
      const cluster = connect(g);
      const mc = await readMeshConfig(cluster, flags.name);
      const name = mc.metadata.name;
      if (mc.spec.version === flags.version) app.io.err(`MeshConfig ${name} already asks for ${flags.version}\n`);
      const issues = validateMeshConfig({ ...mc, spec: { ...mc.spec, version: flags.version } });
      if (issues.length > 0) throw new CliError(`upgrade to ${flags.version} would make the MeshConfig invalid: ${formatIssues(issues)}`, EXIT.usage);
      const patched = (await call(`patch MeshConfig ${name}`, () => cluster.clients.custom.patchClusterCustomObject(
        { group: MESHCONFIG_GROUP, version: MESHCONFIG_VERSION, plural: MESHCONFIG_PLURAL, name, body: { spec: { version: flags.version } }, fieldManager: FIELD_MANAGER },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ), cluster.server)) as MeshConfig;
      app.io.err(`MeshConfig ${name}: spec.version ${mc.spec.version} -> ${flags.version} (generation ${patched.metadata.generation ?? '?'})\n`);
      if (flags.wait) await follow(app, cluster, name, patched.metadata.generation, flags.version, timeoutMs);
      app.io.out(flags.wait ? `upgraded to ${flags.version}\n` : `upgrade to ${flags.version} started; follow it with \`weftctl status\` or \`weftctl upgrade --version ${flags.version} --wait\`\n`);
    });

  program
    .command('uninstall')
    .description('Remove the mesh: delete MeshConfigs (the operator tears down what it made), then the operator; --purge also deletes the CRDs')
    .option('--name <meshconfig>', 'delete only this MeshConfig (default: every MeshConfig)')
    .option('--purge', 'also delete the Weft and Istio-API CRDs (and with them all Istio config objects)')
    .option('--timeout <duration>', 'how long to wait for MeshConfigs to be torn down', '2m')
    .option('--manifests <dir>', 'directory holding crds/ and operator/ (default: the package manifests)')
    .addHelpText('after', examples(['weftctl uninstall', 'weftctl uninstall --name default', 'weftctl uninstall --purge']))
    .action(async (flags: UninstallFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const paint = painter(app.io.color);
      const timeoutMs = parseTimeout(flags.timeout);
      const { crds, operator } = installManifests(flags.manifests ?? path.join(app.packageRoot, 'manifests'));
      const cluster = connect(g);
      const mcs = ((await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL)) as unknown as MeshConfig[])
        .filter((m) => flags.name === undefined || m.metadata.name === flags.name);
      if (flags.name !== undefined && mcs.length === 0) app.io.err(`  - MeshConfig ${flags.name} (not found)\n`);
      app.io.err(paint('bold', `[1/3] MeshConfigs (${mcs.length})\n`));
      for (const m of mcs) {
        await call(`delete MeshConfig ${m.metadata.name}`, () => cluster.clients.custom.deleteClusterCustomObject({ group: MESHCONFIG_GROUP, version: MESHCONFIG_VERSION, plural: MESHCONFIG_PLURAL, name: m.metadata.name }), cluster.server)
          .catch((e: unknown) => { if (!(e instanceof CliError && /404/.test(e.message))) throw e; });
        const gone = await waitUntil(timeoutMs, async () => ((await getMeshConfig(cluster, m.metadata.name)) === undefined ? true : undefined));
        if (!gone) app.io.err(`  ${paint('yellow', '‼')} MeshConfig ${m.metadata.name} still exists after ${flags.timeout} (finalizer ${m.metadata.finalizers?.join(',') ?? ''}); is the operator running?\n`);
        else app.io.err(`  ${paint('green', '✔')} MeshConfig ${m.metadata.name} deleted\n`);
      }
      const del = async (o: Manifest): Promise<void> => {
        try {
          await cluster.clients.objects.delete(o as k8s.KubernetesObject, undefined, undefined, undefined, undefined, 'Background');
          app.io.err(`  ${paint('green', '✔')} deleted ${describeObject(o)}\n`);
        } catch (e) {
          if (isNotFound(e)) app.io.err(`  - ${describeObject(o)} (not found)\n`);
          else throw new CliError(`delete ${describeObject(o)}: ${apiMessage(e)}`, EXIT.cluster);
        }
      };
      app.io.err(paint('bold', '[2/3] operator\n'));
      for (const o of applyOrder(operator).reverse()) await del(o);
      app.io.err(paint('bold', `[3/3] CRDs${flags.purge ? '' : ' (kept; use --purge to delete)'}\n`));
      if (flags.purge) for (const o of crds) await del(o);
      app.io.out(`Weft uninstalled${flags.purge ? ' and purged' : ''}\n`);
    });
}
