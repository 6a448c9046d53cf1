// weftctl analyze: static analysis of Istio-API config against the registry. The pure
// core is src/cli/analyze/analyzer.ts; this module gathers inputs (files and/or the live
// cluster) and renders findings.
import { Command, Option } from 'commander';
import { ISTIO_KINDS } from '../../api/istio/types.js';
import { MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION } from '../../api/meshconfig.js';
import { analyze, countBySeverity, isIstioApi, type Finding } from '../analyze/analyzer.js';
import { ALL_CODES, type Severity } from '../analyze/codes.js';
import {
  DEFAULT_MESH_NAMESPACE, mergeRegistries, podIsInjected, registryFromObjects,
  type ConfigObject, type Registry,
} from '../analyze/model.js';
import { examples, globalsOf, type App } from '../app.js';
import { CliError, EXIT, painter, type Paint } from '../io.js';
import { call, connect, listCustom, type Cluster } from '../kube.js';
import { readManifestFiles } from '../manifests.js';
import { parseOutputFormat, renderData, renderTable, type OutputFormat } from '../output.js';

const SEVERITIES: readonly Severity[] = ['Error', 'Warning', 'Info'];
const RANK: Record<Severity, number> = { Error: 0, Warning: 1, Info: 2 };

export function atLeast(f: Finding, threshold: Severity): boolean {
  return RANK[f.severity] <= RANK[threshold];
}

function colorFor(s: Severity): 'red' | 'yellow' | 'cyan' {
  return s === 'Error' ? 'red' : s === 'Warning' ? 'yellow' : 'cyan';
}

/** Renders findings. Pure. */
export function formatFindings(findings: readonly Finding[], format: OutputFormat, paint: Paint, scope: string): string {
  if (format === 'json' || format === 'yaml') return renderData(findings, format);
  if (findings.length === 0) return `${paint('green', '✔')} No validation issues found when analyzing ${scope}.\n`;
  if (format === 'wide') {
    return renderTable(['SEVERITY', 'CODE', 'KIND', 'NAMESPACE', 'NAME', 'FIELD', 'SOURCE', 'MESSAGE'],
      findings.map((f) => [paint(colorFor(f.severity), f.severity), f.code, f.kind, f.namespace, f.resource, f.path ?? '', f.source, f.message]));
  }
  const lines = findings.map((f) =>
    `${paint(colorFor(f.severity), f.severity)} [${f.code}] (${f.kind} ${f.namespace}/${f.resource}${f.path ? ` ${f.path}` : ''}) ${f.message}`);
  const c = countBySeverity(findings);
  return `${lines.join('\n')}\n\n${c.Error} error(s), ${c.Warning} warning(s), ${c.Info} info when analyzing ${scope}.\n`;
}

export function formatCodes(): string {
  return renderTable(['CODE', 'NAME', 'SEVERITY', 'SUMMARY'], ALL_CODES.map((c) => [c.code, c.name, c.severity, c.summary]));
}

interface LiveInputs {
  configs: ConfigObject[];
  registry: Registry;
}

/** Reads Istio config (scope: one namespace, or all when undefined) and the registry from the cluster. */
export async function loadLive(cluster: Cluster, namespace: string | undefined): Promise<LiveInputs> {
  const configs: ConfigObject[] = [];
  for (const k of ISTIO_KINDS) {
    const items = await listCustom(cluster, k.group, k.versions[0] ?? 'v1', k.plural, namespace);
    for (const o of items) configs.push({ obj: { ...o, kind: k.kind }, source: 'cluster' });
  }
  const core = cluster.clients.core;
  const [svcs, pods, nss] = await call('read the registry (services, pods, namespaces)', () =>
    Promise.all([core.listServiceForAllNamespaces(), core.listPodForAllNamespaces(), core.listNamespace()]), cluster.server);
  const mcs = await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL);
  const meshNs = (mcs[0]?.spec as { namespace?: string } | undefined)?.namespace ?? DEFAULT_MESH_NAMESPACE;
  const registry: Registry = {
    meshNamespace: meshNs,
    services: svcs.items.map((s) => ({
      name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '', selector: s.spec?.selector,
      ports: (s.spec?.ports ?? []).map((p) => p.port),
    })),
    pods: pods.items
      .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
      .map((p) => ({ name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '', labels: p.metadata?.labels ?? {}, injected: podIsInjected(p) })),
    namespaces: nss.items.map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} })),
  };
  return { configs, registry };
}

/** Files override live objects with the same kind/namespace/name (like istioctl analyze -f). */
export function mergeConfigs(live: readonly ConfigObject[], files: readonly ConfigObject[], defaultNs: string): ConfigObject[] {
  const key = (c: ConfigObject): string => `${c.obj.kind}/${c.obj.metadata.namespace ?? defaultNs}/${c.obj.metadata.name ?? ''}`;
  const m = new Map<string, ConfigObject>();
  for (const c of [...live, ...files]) m.set(key(c), c);
  return [...m.values()];
}

interface AnalyzeFlags {
  filename?: string[];
  allNamespaces?: boolean;
  offline?: boolean;
  failureThreshold: Severity;
  outputThreshold: Severity;
  listCodes?: boolean;
}

export function registerAnalyze(program: Command, app: App): void {
  program
    .command('analyze')
    .description('Analyze Istio-API config (VirtualService, DestinationRule, Gateway, PeerAuthentication, AuthorizationPolicy, ...) for mistakes')
    .option('-f, --filename <files...>', 'YAML files or directories to analyze (- for stdin); combined with the live cluster unless --offline')
    .option('-A, --all-namespaces', 'analyze config in every namespace of the cluster')
    .option('--offline', 'do not contact a cluster: check the files against only the Services, Pods and workloads they contain')
    .addOption(new Option('--failure-threshold <severity>', 'lowest severity that makes the exit code non-zero').choices(SEVERITIES).default('Error'))
    .addOption(new Option('--output-threshold <severity>', 'lowest severity to print').choices(SEVERITIES).default('Info'))
    .option('--list-codes', 'print the catalogue of finding codes and exit')
    .addHelpText('after', examples([
      '# Analyze the current namespace of the live cluster',
      'weftctl analyze',
      '# Analyze files against the live cluster (files override live objects of the same name)',
      'weftctl analyze -f reviews-vs.yaml -f reviews-dr.yaml',
      '# Analyze files without a cluster, e.g. in CI',
      'weftctl analyze --offline -f manifests/',
      '# Every namespace, machine-readable',
      'weftctl analyze -A -o json',
      '# Fail CI on warnings too',
      'weftctl analyze -f app/ --failure-threshold Warning',
    ]))
    .action(async (flags: AnalyzeFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      if (flags.listCodes) {
        app.io.out(format === 'json' || format === 'yaml' ? renderData(ALL_CODES, format) : formatCodes());
        return;
      }
      const files = flags.filename ?? [];
      if (flags.offline && files.length === 0) throw new CliError('--offline needs files to analyze: pass -f <file>', EXIT.usage);
      if (flags.offline && flags.allNamespaces) throw new CliError('--all-namespaces reads the cluster and cannot be combined with --offline', EXIT.usage);
      const fileObjs = readManifestFiles(files).map((m) => ({ obj: m.obj, source: m.source }));
      let defaultNs = g.namespace ?? 'default';
      let configs: ConfigObject[];
      let registry: Registry;
      const fileRegistry = (ns: string, meshNs?: string): Registry =>
        registryFromObjects(fileObjs.filter((c) => !isIstioApi(c.obj.apiVersion)).map((c) => c.obj), ns, meshNs);
      let scope: string;
      if (flags.offline) {
        configs = fileObjs;
        registry = fileRegistry(defaultNs);
        scope = `${files.join(', ')} (offline)`;
      } else {
        const cluster = connect(g);
        defaultNs = cluster.namespace;
        const live = await loadLive(cluster, flags.allNamespaces ? undefined : cluster.namespace);
        configs = mergeConfigs(live.configs, fileObjs, defaultNs);
        registry = mergeRegistries(live.registry, fileRegistry(defaultNs, live.registry.meshNamespace));
        scope = flags.allNamespaces ? 'all namespaces' : `namespace ${cluster.namespace}`;
        if (files.length > 0) scope += ` with ${files.join(', ')}`;
      }
      const findings = analyze(configs, registry, { defaultNamespace: defaultNs });
      const shown = findings.filter((f) => atLeast(f, flags.outputThreshold));
      app.io.out(formatFindings(shown, format, painter(app.io.color), scope));
      if (findings.some((f) => atLeast(f, flags.failureThreshold))) {
        throw new CliError('', EXIT.failure); // findings already printed; exit non-zero silently
      }
    });
}
