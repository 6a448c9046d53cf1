import { describe, it, expect } from '@jest/globals';
import type { App } from '../../../src/cli/app.js';
import { bufferIO, colorAllowed, EXIT, type BufferIO } from '../../../src/cli/io.js';
import { run } from '../../../src/cli/program.js';
import { humanDuration, parseOutputFormat, renderTable } from '../../../src/cli/output.js';
import { parseManifests } from '../../../src/cli/manifests.js';
import { applyOrder, applySets, buildMeshConfig, parseSetValue, progressLines, rolloutOutcome } from '../../../src/cli/commands/lifecycle.js';
import { injectManifests } from '../../../src/cli/commands/kube-inject.js';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { reachableAddress, sectionRows, syncFromDump, formatSyncTable } from '../../../src/cli/commands/proxy.js';
import { buildStatus, formatStatus } from '../../../src/cli/commands/status.js';
import { formatFindings, mergeConfigs } from '../../../src/cli/commands/analyze.js';
import { formatVersion } from '../../../src/cli/commands/version.js';
import { painter } from '../../../src/cli/io.js';
import type { MeshConfig } from '../../../src/api/meshconfig.js';

function app(io: BufferIO): App {
  return { io, now: () => new Date('2026-01-01T00:00:00Z'), packageRoot: process.cwd(), version: '0.1.0' };
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO();
  const code = await run(argv, app(io));
  return { code, out: io.stdout.join(''), err: io.stderr.join('') };
}

describe('program', () => {
  it('every command has --help with examples', async () => {
    for (const c of ['analyze', 'check', 'status', 'kube-inject', 'install', 'upgrade', 'uninstall', 'proxy-status', 'proxy-config', 'version', 'plan', 'rotate-root']) {
      const r = await cli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Examples:');
      expect(r.out).toContain('weftctl');
    }
  });
  it('bad flags and commands exit 2 with a message', async () => {
    const r = await cli(['analyze', '--bogus']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain("unknown option '--bogus'");
    expect((await cli(['nope'])).code).toBe(EXIT.usage);
    expect((await cli(['-o', 'xml', 'version', '--client'])).code).toBe(EXIT.usage);
    expect((await cli(['upgrade'])).err).toContain('--version');
    expect((await cli(['analyze', '--offline'])).err).toContain('needs files');
  });
  it('version --client needs no cluster; global flags work after the subcommand', async () => {
    const r = await cli(['version', '--client', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ client: '0.1.0' });
  });
  it('an unreadable kubeconfig exits 3', async () => {
    const r = await cli(['--kubeconfig', '/nonexistent/kc', 'status']);
    expect(r.code).toBe(EXIT.cluster);
    expect(r.err).toContain('cannot load kubeconfig');
  });
  it('missing file exits 2', async () => {
    const r = await cli(['analyze', '--offline', '-f', '/nonexistent.yaml']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain('no such file');
  });
});

describe('io and output', () => {
  it('colour only on a TTY without NO_COLOR', () => {
    expect(colorAllowed(true, undefined)).toBe(true);
    expect(colorAllowed(false, undefined)).toBe(false);
    expect(colorAllowed(true, '1')).toBe(false);
    expect(colorAllowed(true, undefined, true)).toBe(false);
  });
  it('tables align and ignore ANSI width', () => {
    expect(renderTable(['A', 'BB'], [['xxx', 'y'], [painter(true)('red', 'z'), 'w']])).toBe('A     BB\nxxx   y\n\u001b[31mz\u001b[0m     w\n');
    expect(humanDuration(90_000)).toBe('1m30s');
    expect(humanDuration(3 * 86_400_000 + 3_600_000)).toBe('3d1h');
    expect(() => parseOutputFormat('xml')).toThrow('unsupported output format');
  });
  it('manifests: multi-doc, lists, bad input', () => {
    expect(parseManifests('---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n---\n', 'f').map((m) => m.obj.metadata.name)).toEqual(['a']);
    expect(() => parseManifests('kind: Pod', 'f')).toThrow('missing apiVersion');
    expect(() => parseManifests('- a', 'f')).toThrow('must be a Kubernetes object');
    expect(() => parseManifests('a: [', 'f')).toThrow('invalid YAML');
  });
});

describe('analyze rendering', () => {
  const f = { code: 'WEFT-A0001', name: 'X', severity: 'Error' as const, kind: 'VirtualService', namespace: 'ns', resource: 'r', path: 'spec.x', message: 'fix it', source: 'f#1' };
  it('text, wide and json', () => {
    expect(formatFindings([f], 'table', painter(false), 'ns')).toContain('Error [WEFT-A0001] (VirtualService ns/r spec.x) fix it');
    expect(formatFindings([], 'table', painter(false), 'ns')).toContain('No validation issues');
    expect(formatFindings([f], 'wide', painter(false), 'ns')).toContain('SOURCE');
    expect(JSON.parse(formatFindings([f], 'json', painter(false), 'ns'))).toEqual([f]);
  });
  it('files override live objects', () => {
    const live = { obj: { apiVersion: 'v1', kind: 'X', metadata: { name: 'a', namespace: 'n' } }, source: 'cluster' };
    const file = { obj: { apiVersion: 'v1', kind: 'X', metadata: { name: 'a' } }, source: 'file' };
    expect(mergeConfigs([live], [file], 'n').map((c) => c.source)).toEqual(['file']);
  });
});

describe('lifecycle helpers', () => {
  it('--set parsing', () => {
    expect(parseSetValue('3')).toBe(3);
    expect(parseSetValue('true')).toBe(true);
    expect(parseSetValue('0.1.0')).toBe('0.1.0');
    expect(parseSetValue('[1,2]')).toEqual([1, 2]);
    expect(applySets({}, ['version=0.2.0', 'proxy.logLevel=debug', 'gateways[0].name=ingress', 'spec.gateways[0].type=ingress'])).toEqual({
      version: '0.2.0', proxy: { logLevel: 'debug' }, gateways: [{ name: 'ingress', type: 'ingress' }],
    });
    expect(() => applySets({}, ['novalue'])).toThrow('expected key=value');
    expect(() => applySets({}, ['a..b=1'])).toThrow('not a valid key segment');
  });
  it('buildMeshConfig defaults and validates', () => {
    const mc = buildMeshConfig(undefined, ['security.mtlsMode=STRICT'], '0.1.0');
    expect(mc.metadata.name).toBe('default');
    expect(mc.spec).toEqual({ version: '0.1.0', security: { mtlsMode: 'STRICT' } });
    expect(() => buildMeshConfig(undefined, ['security.mtlsMode=SOMETIMES'], '0.1.0')).toThrow('invalid MeshConfig');
    expect(() => buildMeshConfig({ kind: 'Pod' }, [], '0.1.0')).toThrow('not a MeshConfig');
  });
  it('applyOrder puts CRDs and namespaces first', () => {
    const objs = ['Deployment', 'Namespace', 'ClusterRole', 'CustomResourceDefinition'].map((kind) => ({ apiVersion: 'v1', kind, metadata: { name: kind } }));
    expect(applyOrder(objs).map((o) => o.kind)).toEqual(['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'Deployment']);
  });
  it('progress lines and rollout outcome', () => {
    const base: MeshConfig = { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default', generation: 2 }, spec: { version: '0.2.0' } };
    const cur: MeshConfig = { ...base, status: { observedGeneration: 2, version: '0.2.0', upgradePhase: 'Idle', conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: '', lastTransitionTime: '' }], dataPlane: { proxiesByVersion: { '0.2.0': 3 } } } };
    const lines = progressLines(undefined, cur, painter(false));
    expect(lines).toContain('phase: Idle');
    expect(lines).toContain('Ready=True Reconciled');
    expect(lines).toContain('proxies: 0.2.0=3');
    expect(progressLines(cur, cur, painter(false))).toEqual([]);
    expect(rolloutOutcome(cur, 2, '0.2.0')).toEqual({ state: 'done' });
    expect(rolloutOutcome(cur, 3, '0.2.0')).toEqual({ state: 'pending' });
    const failed: MeshConfig = { ...cur, status: { ...cur.status, conditions: [{ type: 'Degraded', status: 'True', reason: 'HealthGateFailed', message: 'p99 too high', lastTransitionTime: '' }] } };
    expect(rolloutOutcome(failed, 2, '0.2.0')).toEqual({ state: 'failed', reason: 'HealthGateFailed: p99 too high' });
  });
});

describe('kube-inject', () => {
  it('injects Pods and workload templates, passes other objects through', () => {
    const objs = parseManifests(`apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: nginx }] }
---
apiVersion: v1
kind: Pod
metadata: { name: p }
spec: { containers: [{ name: a, image: b }] }
---
apiVersion: v1
kind: Service
metadata: { name: s }
`, 'f').map((m) => m.obj);
    const out = injectManifests(objs, defaultInjectionConfig());
    const tpl = (out[0]?.obj.spec as { template: { metadata: { annotations?: Record<string, string>; namespace?: string }; spec: { initContainers?: { name: string }[] } } }).template;
    expect(tpl.spec.initContainers?.map((c) => c.name)).toEqual(['weft-init', 'weft-proxy']);
    expect(tpl.metadata.annotations?.['sidecar.weft.dev/status']).toBeDefined();
    expect(tpl.metadata.namespace).toBeUndefined();
    expect(out[1]?.reports[0]?.report.injected).toBe(true);
    expect(out[2]?.reports).toEqual([]);
    // re-injecting is a no-op with a named reason
    const again = injectManifests([out[1]!.obj], defaultInjectionConfig());
    expect(again[0]?.reports[0]?.report.injected).toBe(false);
  });
});

describe('proxy helpers', () => {
  const dump = {
    configs: [
      { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: [{ version_info: '3', cluster: { name: 'outbound|80||a', type: 'EDS' } }] },
      { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', dynamic_listeners: [{ name: 'l', active_state: { version_info: '3', listener: { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } } } }, error_state: { details: 'bad filter' } }] },
      { '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: [{ version_info: '3', route_config: { name: '80', virtual_hosts: [{ name: 'a:80', domains: ['a', 'a.ns'], routes: [{}, {}] }] } }] },
      { '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: [{ endpoint_config: { cluster_name: 'outbound|80||a', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.88.0.5', port_value: 80 } } }, health_status: 'HEALTHY' }] }] } }] },
    ],
  };
  it('address rule', () => {
    expect(reachableAddress('10.88.3.4')).toBe(true);
    expect(reachableAddress('127.0.0.1')).toBe(true);
    expect(reachableAddress('10.0.0.4')).toBe(false);
    expect(reachableAddress(undefined)).toBe(false);
  });
  it('sync state per type', () => {
    const s = syncFromDump('p.ns', dump, '0.1.0');
    expect(s.types).toEqual({ CDS: 'SYNCED', LDS: 'NACK', RDS: 'SYNCED', EDS: 'NOT SENT' });
    expect(s.error).toBe('bad filter');
    expect(formatSyncTable([s])).toContain('p.ns   SYNCED   NACK   NOT SENT   SYNCED   0.1.0');
  });
  it('section tables', () => {
    expect(sectionRows(dump, 'clusters').rows).toEqual([['outbound|80||a', 'EDS', '3']]);
    expect(sectionRows(dump, 'listeners').rows).toEqual([['l', '0.0.0.0:15001', '3']]);
    expect(sectionRows(dump, 'routes').rows).toEqual([['80', 'a:80', 'a,a.ns', '2']]);
    expect(sectionRows(dump, 'endpoints').rows).toEqual([['outbound|80||a', '10.88.0.5:80', 'HEALTHY']]);
    expect(sectionRows(dump, 'secrets').rows).toEqual([]);
  });
});

describe('status and version rendering', () => {
  it('builds the one-screen summary', () => {
    const report = buildStatus({
      meshConfigs: [{ apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'default' }, spec: { version: '0.1.0' },
        status: { version: '0.1.0', activeRevision: 'default', revisions: [{ name: 'default', version: '0.1.0' }], conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'all good', lastTransitionTime: '' }] } }],
      deployments: [{ metadata: { name: 'weft-controlplane', namespace: 'weft-system', labels: { 'app.kubernetes.io/version': '0.1.0' } }, spec: { replicas: 2, selector: {}, template: {} }, status: { readyReplicas: 1 } }],
      pods: [
        { metadata: { name: 'a', namespace: 'shop', annotations: { 'sidecar.weft.dev/status': '{"version":"0.1.0"}' } } },
        { metadata: { name: 'b', namespace: 'shop' }, spec: { containers: [] } },
        { metadata: { name: 'c', namespace: 'other' }, spec: { containers: [] } },
      ],
      namespaces: [{ metadata: { name: 'shop', labels: { 'weft.dev/injection': 'enabled' } } }, { metadata: { name: 'other' } }],
      certs: [{ name: 'bad', pem: 'junk' }],
    }, new Date());
    expect(report.proxiesByVersion).toEqual({ '0.1.0': 1 });
    expect(report.missingSidecars).toEqual(['shop/b']);
    expect(report.components[0]).toMatchObject({ ready: 1, desired: 2, version: '0.1.0' });
    const text = formatStatus(report, painter(false));
    expect(text).toContain('default: desired 0.1.0, running 0.1.0');
    expect(text).toContain('Ready');
    expect(text).toContain('1/2');
    expect(text).toContain('pods missing sidecars: 1 (shop/b)');
    expect(text).toContain('no PEM certificate found');
  });
  it('version text', () => {
    expect(formatVersion({ client: '0.1.0', kubernetes: 'v1.36.3', mesh: [] })).toBe('client version: 0.1.0\nkubernetes version: v1.36.3\nmesh: not installed (no MeshConfig)\n');
  });
});
