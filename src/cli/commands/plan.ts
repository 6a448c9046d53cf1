// weftctl plan: dry-run a change on the API server (which validates it, CRD schemas included),
// then translate the live state before and after with the control plane's translation and
// show what each workload's proxy config gains or loses. The pure core is src/cli/plan/plan.ts.
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { ISTIO_KINDS } from '../../api/istio/types.js';
import { examples, globalsOf, type App } from '../app.js';
import { CliError, EXIT, painter } from '../io.js';
import { apiMessage, call, clusterError, connect, httpStatus, listCustom, type Cluster } from '../kube.js';
import { readManifestFiles, type Manifest } from '../manifests.js';
import { parseOutputFormat, renderData } from '../output.js';
import {
  applyChange, formatPlan, objectKey, plan, workloadsOf,
  type ConfigPlanner, type PlanOptions, type PlanResult, type PlanState,
} from '../plan/plan.js';

const PLAN_FIELD_MANAGER = 'weftctl-plan';

/** Kinds without a namespace (the rest get -n when the file does not say). */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'PriorityClass', 'MeshConfig',
]);

interface PlanFlags {
  filename: string[];
  delete?: boolean;
  allNamespaces?: boolean;
  domain: string;
  trustDomain?: string;
  rootNamespace: string;
}

/** Server-side dry run of one object; returns the object as the server would store it. */
async function dryRun(cluster: Cluster, o: Manifest, remove: boolean): Promise<Manifest> {
  const what = `dry run ${remove ? 'delete' : 'apply'} ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name ?? ''}`;
  try {
    const api = cluster.clients.objects;
    if (remove) {
      await api.delete(o as k8s.KubernetesObject, undefined, 'All');
      return o;
    }
    const res = await api.patch(o as k8s.KubernetesObject, undefined, 'All', PLAN_FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    return { ...(res as unknown as Manifest), apiVersion: o.apiVersion, kind: o.kind };
  } catch (e) {
    const status = httpStatus(e);
    // The server rejected the object itself (schema, CEL, missing namespace or kind): bad input.
    // SSA reports a body that does not fit the schema's types as a 500 "failed to create typed patch object".
    const typedPatch = status === 500 && /failed to create typed patch object/.test(apiMessage(e));
    if (typedPatch || (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403)) {
      throw new CliError(`${what}: the API server rejected it (${status}): ${apiMessage(e)}`, EXIT.usage);
    }
    throw clusterError(e, what, cluster.server);
  }
}

/** Everything translation reads, from the live cluster (all namespaces, like the control plane). */
export async function loadPlanState(cluster: Cluster): Promise<PlanState> {
  const core = cluster.clients.core;
  const discovery = cluster.clients.config.makeApiClient(k8s.DiscoveryV1Api);
  const [svcs, slices, pods, nodes, nss] = await call('read services, endpointslices, pods, nodes and namespaces', () =>
    Promise.all([
      core.listServiceForAllNamespaces(), discovery.listEndpointSliceForAllNamespaces(), core.listPodForAllNamespaces(),
      core.listNode(), core.listNamespace(),
    ]), cluster.server);
  const istio: Manifest[] = [];
  for (const k of ISTIO_KINDS) {
    for (const o of await listCustom(cluster, k.group, k.versions[0] ?? 'v1', k.plural)) istio.push({ ...o, kind: k.kind });
  }
  return { services: svcs.items, endpointSlices: slices.items, pods: pods.items, nodes: nodes.items, namespaces: nss.items, istio };
}

export function registerPlan(program: Command, app: App): void {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  program
    .command('plan')
    .description('Dry-run a change and show, per workload, what its proxy config would gain or lose (routes, clusters, listeners, endpoints, authorization decisions for known callers)')
    .option('-f, --filename <file>', 'the change: YAML file, directory or - for stdin (repeatable)', collect, [])
    .option('--delete', 'plan deleting the objects in the files instead of applying them')
    .option('-A, --all-namespaces', 'show workloads in every namespace (default: -n and the namespaces the change touches)')
    .option('--domain <domain>', 'cluster DNS domain', 'cluster.local')
    .option('--trust-domain <domain>', 'SPIFFE trust domain (default: --domain)')
    .option('--root-namespace <ns>', 'mesh root namespace (policies there apply mesh-wide)', 'weft-system')
    .addHelpText('after', examples([
      'weftctl plan -f reviews-vs.yaml                # what does this VirtualService change for each workload?',
      'weftctl plan -f policy.yaml -n shop -o yaml',
      'weftctl plan --delete -f old-dr.yaml',
      'kubectl get vs reviews -o yaml | weftctl plan -f -',
    ]))
    .action(async (flags: PlanFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output, ['table', 'wide', 'yaml', 'json']);
      if (flags.filename.length === 0) throw new CliError('plan needs the change: pass -f <file> (or -f - for stdin)', EXIT.usage);
      const objs = readManifestFiles(flags.filename).map((m) => m.obj);
      if (objs.length === 0) throw new CliError(`no objects found in ${flags.filename.join(', ')}`, EXIT.usage);
      for (const o of objs) if (!o.metadata.name) throw new CliError(`${o.kind}: metadata.name is required`, EXIT.usage);
      const planner: ConfigPlanner | undefined = app.planner;
      if (!planner) throw new CliError('this weftctl build has no config planner', EXIT.failure);
      const cluster = connect(g);
      const change = objs.map((o) => (CLUSTER_SCOPED.has(o.kind) || o.metadata.namespace ? o : { ...o, metadata: { ...o.metadata, namespace: cluster.namespace } }));
      const paint = painter(app.io.color);
      const validated: Manifest[] = [];
      for (const o of change) {
        validated.push(await dryRun(cluster, o, Boolean(flags.delete)));
        app.io.err(`${paint('green', '✔')} ${objectKey(o).trim()} ${flags.delete ? 'can be deleted' : 'is valid'} (server dry run)\n`);
      }
      const before = await loadPlanState(cluster);
      const { state: after, notes } = applyChange(before, validated, Boolean(flags.delete));
      const scope = flags.allNamespaces ? undefined : new Set([cluster.namespace, ...change.map((o) => o.metadata.namespace).filter((n): n is string => Boolean(n))]);
      const workloads = workloadsOf(after, scope);
      const opts: PlanOptions = { domain: flags.domain, rootNamespace: flags.rootNamespace, trustDomain: flags.trustDomain ?? flags.domain };
      const changes = plan(planner, before, after, workloads, opts);
      const result: PlanResult = {
        objects: validated.map((o) => objectKey(o).trim()),
        workloads: workloads.map((w) => `${w.namespace}/${w.name}`),
        changes,
        notes,
      };
      app.io.out(format === 'json' || format === 'yaml' ? renderData(result, format) : formatPlan(result, paint));
    });
}
