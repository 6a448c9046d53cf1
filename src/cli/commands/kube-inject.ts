// weftctl kube-inject: runs the webhook's own pure injector (src/render/inject) over Pods and
// workload templates in files, and prints the result. The InjectionConfig comes from an
// explicit file, a MeshConfig file, or the revision's ConfigMap in the cluster.
import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { Command } from 'commander';
import { parse } from 'yaml';
import { defaultInjectionConfig, type InjectionConfig } from '../../api/injection.js';
import { resolveMeshConfigSpec, revisionNameFor, validateMeshConfig, type MeshConfig } from '../../api/meshconfig.js';
import { formatIssues } from '../../api/validation.js';
import { injectionConfigFor, meshConfigMapName } from '../../render/controlplane/render.js';
import { injectPod, type InjectionReport } from '../../render/inject/inject.js';
import { examples, globalsOf, type App } from '../app.js';
import { CliError, EXIT } from '../io.js';
import { call, connect, isNotFound, listCustom } from '../kube.js';
import { readManifestFiles, type Manifest } from '../manifests.js';
import { parseOutputFormat, renderData } from '../output.js';
import { MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION } from '../../api/meshconfig.js';
import { DEFAULT_MESH_NAMESPACE } from '../analyze/model.js';

export interface InjectOutcome {
  obj: Manifest;
  /** "<Kind>/<name>": report, when the object holds a pod. */
  reports: { target: string; report: InjectionReport }[];
}

interface PodTemplate {
  metadata?: V1Pod['metadata'];
  spec?: V1Pod['spec'];
}

/** Where the pod template lives in each workload kind. */
function templateOf(o: Manifest): PodTemplate | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  switch (o.kind) {
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'ReplicaSet': case 'Job': case 'ReplicationController':
      return spec?.template as PodTemplate | undefined;
    case 'CronJob':
      return ((spec?.jobTemplate as Record<string, unknown> | undefined)?.spec as Record<string, unknown> | undefined)?.template as PodTemplate | undefined;
    default:
      return undefined;
  }
}

/** Injects every Pod and workload template in `objs`; other objects pass through. Pure. */
export function injectManifests(objs: readonly Manifest[], cfg: InjectionConfig): InjectOutcome[] {
  return objs.map((o) => {
    const target = `${o.kind}/${o.metadata.name ?? ''}`;
    if (o.apiVersion === 'v1' && o.kind === 'Pod') {
      const r = injectPod(o as unknown as V1Pod, cfg);
      return { obj: r.pod as unknown as Manifest, reports: [{ target, report: r.report }] };
    }
    const tpl = templateOf(o);
    if (!tpl) return { obj: o, reports: [] };
    const copy = structuredClone(o);
    const t = templateOf(copy) as PodTemplate;
    const pod: V1Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...(t.metadata ?? {}), namespace: o.metadata.namespace }, spec: t.spec };
    if (o.kind === 'Job' || o.kind === 'CronJob') pod.metadata!.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: o.metadata.name ?? 'job', uid: '' }];
    const r = injectPod(pod, cfg);
    const md = { ...(r.pod.metadata ?? {}) };
    delete md.namespace;
    delete md.ownerReferences;
    t.metadata = md;
    t.spec = r.pod.spec;
    return { obj: copy, reports: [{ target, report: r.report }] };
  });
}

/** InjectionConfig from a MeshConfig object (what the operator publishes for its active revision). Pure. */
export function injectionConfigFromMeshConfig(mc: MeshConfig): InjectionConfig {
  const issues = validateMeshConfig(mc);
  if (issues.length > 0) throw new CliError(`invalid MeshConfig: ${formatIssues(issues)}`, EXIT.usage);
  const spec = resolveMeshConfigSpec(mc.spec);
  return injectionConfigFor(spec, { name: revisionNameFor(mc.metadata.name, mc.spec), version: mc.spec.version });
}

function parseConfigFile(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message}`, EXIT.usage);
  }
}

interface InjectFlags {
  filename?: string[];
  revision?: string;
  meshconfig?: string;
  injectionConfig?: string;
  defaults?: boolean;
}

export function registerKubeInject(program: Command, app: App): void {
  program
    .command('kube-inject')
    .description('Add the Weft sidecar to Pods and workload templates in YAML (the same code as the admission webhook)')
    .option('-f, --filename <files...>', 'YAML files with Pods, Deployments, StatefulSets, DaemonSets, Jobs or CronJobs (- for stdin)')
    .option('--revision <name>', 'control plane revision whose injection config to use (default: the MeshConfig active revision)')
    .option('--meshconfig <file>', 'build the injection config from this MeshConfig file instead of the cluster')
    .option('--injection-config <file>', 'use this InjectionConfig (YAML/JSON, as in the weft-mesh ConfigMap key injection.json)')
    .option('--defaults', 'use the built-in default injection config (no cluster needed)')
    .addHelpText('after', examples([
      'weftctl kube-inject -f deployment.yaml | kubectl apply -f -',
      'weftctl kube-inject -f pod.yaml --meshconfig meshconfig.yaml',
      'cat job.yaml | weftctl kube-inject -f - --defaults -o json',
    ]))
    .action(async (flags: InjectFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output ?? 'yaml', ['yaml', 'json']);
      if (!flags.filename || flags.filename.length === 0) throw new CliError('kube-inject needs -f <file> (or -f - for stdin)', EXIT.usage);
      const sources = [flags.meshconfig, flags.injectionConfig, flags.defaults].filter((x) => x !== undefined && x !== false);
      if (sources.length > 1) throw new CliError('use only one of --meshconfig, --injection-config and --defaults', EXIT.usage);
      const manifests = readManifestFiles(flags.filename).map((m) => m.obj);
      let cfg: InjectionConfig;
      if (flags.injectionConfig) {
        const v = parseConfigFile(flags.injectionConfig);
        if (!v || typeof v !== 'object') throw new CliError(`${flags.injectionConfig}: expected an InjectionConfig mapping`, EXIT.usage);
        cfg = defaultInjectionConfig(v as Partial<InjectionConfig>);
      } else if (flags.meshconfig) {
        cfg = injectionConfigFromMeshConfig(parseConfigFile(flags.meshconfig) as MeshConfig);
      } else if (flags.defaults) {
        cfg = defaultInjectionConfig(flags.revision ? { revision: flags.revision } : {});
      } else {
        cfg = await injectionConfigFromCluster(g, flags.revision);
      }
      let outcomes: InjectOutcome[];
      try {
        outcomes = injectManifests(manifests, cfg);
      } catch (e) {
        throw new CliError(`cannot inject: ${(e as Error).message}`, EXIT.failure);
      }
      for (const o of outcomes) {
        for (const r of o.reports) {
          if (!r.report.injected) app.io.err(`${r.target}: not injected (${r.report.reason}): ${r.report.message}\n`);
          for (const w of r.report.warnings) app.io.err(`Warning: ${r.target}: ${w}\n`);
        }
      }
      const objs = outcomes.map((o) => o.obj);
      if (format === 'json') app.io.out(renderData(objs.length === 1 ? objs[0] : { apiVersion: 'v1', kind: 'List', items: objs }, 'json'));
      else app.io.out(objs.map((o) => renderData(o, 'yaml')).join('---\n'));
    });
}

async function injectionConfigFromCluster(g: ReturnType<typeof globalsOf>, revision?: string): Promise<InjectionConfig> {
  const cluster = connect(g);
  const mcs = await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL);
  const mc = mcs[0] as unknown as MeshConfig | undefined;
  if (!mc) throw new CliError('no MeshConfig in the cluster: install Weft first, or pass --meshconfig <file> or --defaults', EXIT.failure);
  const ns = mc.spec.namespace ?? DEFAULT_MESH_NAMESPACE;
  const rev = revision ?? mc.status?.activeRevision ?? revisionNameFor(mc.metadata.name, mc.spec);
  const name = meshConfigMapName(rev);
  try {
    const cm = await cluster.clients.core.readNamespacedConfigMap({ name, namespace: ns });
    const raw = cm.data?.['injection.json'];
    if (!raw) throw new CliError(`ConfigMap ${ns}/${name} has no injection.json: is the operator healthy?`, EXIT.failure);
    return defaultInjectionConfig(JSON.parse(raw) as Partial<InjectionConfig>);
  } catch (e) {
    if (isNotFound(e)) {
      if (revision) throw new CliError(`revision "${revision}" not found: ConfigMap ${ns}/${name} does not exist`, EXIT.failure);
      // The operator has not published the ConfigMap yet: derive it from the MeshConfig itself.
      return injectionConfigFromMeshConfig(mc);
    }
    throw await call('read injection config', () => Promise.reject(e), cluster.server).catch((x: unknown) => x);
  }
}
