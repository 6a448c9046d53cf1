import { describe, it, expect } from '@jest/globals';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { AuthorizationPolicy } from '../../../src/api/istio/types.js';
import type { App } from '../../../src/cli/app.js';
import { bufferIO, EXIT, painter } from '../../../src/cli/io.js';
import type { Manifest } from '../../../src/cli/manifests.js';
import {
  applyChange, decide, diffAuthz, diffItems, flatten, formatPlan, knownCallers, plan, workloadName, workloadsOf,
  type ConfigPlanner, type PlanOptions, type PlanProxy, type PlanState,
} from '../../../src/cli/plan/plan.js';
import { run } from '../../../src/cli/program.js';

const OPTS: PlanOptions = { domain: 'cluster.local', rootNamespace: 'weft-system', trustDomain: 'cluster.local' };

function pod(ns: string, name: string, labels: Record<string, string>, extra: Partial<V1Pod> = {}): V1Pod {
  return { metadata: { namespace: ns, name, labels, ...(extra.metadata ?? {}) }, spec: { containers: [], serviceAccountName: extra.spec?.serviceAccountName }, status: { podIP: '10.88.0.9', phase: 'Running' } };
}

function emptyState(): PlanState {
  return { services: [], endpointSlices: [], pods: [], nodes: [], namespaces: [], istio: [] };
}

function vs(ns: string, name: string, hosts: string[]): Manifest {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { namespace: ns, name }, spec: { hosts } };
}

function ap(ns: string, name: string, spec: AuthorizationPolicy['spec']): Manifest {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { namespace: ns, name }, spec } as unknown as Manifest;
}

describe('workloads', () => {
  it('names a workload after its Deployment (ReplicaSet minus the template hash), else owner, else pod', () => {
    const rs = pod('a', 'web-7d9f-xk2', { 'pod-template-hash': '7d9f' }, { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: '1', controller: true }] } });
    expect(workloadName(rs)).toBe('web');
    const sts = pod('a', 'db-0', {}, { metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: '2', controller: true }] } });
    expect(workloadName(sts)).toBe('db');
    expect(workloadName(pod('a', 'lonely', {}))).toBe('lonely');
  });

  it('groups pods per workload in scope, detects gateways, skips finished pods', () => {
    const s = emptyState();
    const owner = (n: string): Partial<V1Pod> => ({ metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${n}-h`, uid: n, controller: true }] } });
    s.pods = [
      pod('a', 'web-h-2', { app: 'web', 'pod-template-hash': 'h' }, owner('web')),
      pod('a', 'web-h-1', { app: 'web', 'pod-template-hash': 'h' }, owner('web')),
      pod('a', 'gw', { istio: 'ingressgateway' }),
      { ...pod('a', 'done', {}), status: { phase: 'Succeeded' } },
      pod('b', 'other', {}),
    ];
    const ws = workloadsOf(s, new Set(['a']));
    expect(ws.map((w) => `${w.namespace}/${w.name}:${w.proxy.flavour}`)).toEqual(['a/gw:gateway', 'a/web:sidecar']);
    expect(workloadsOf(s, undefined)).toHaveLength(3);
  });
});

describe('applyChange', () => {
  it('replaces by kind/namespace/name (a DestinationRule and VirtualService of the same name coexist) and deletes with remove', () => {
    const s = emptyState();
    s.istio = [
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { namespace: 'a', name: 'r' }, spec: {} },
      vs('a', 'r', ['old']),
    ];
    const { state, notes } = applyChange(s, [vs('a', 'r', ['new']), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace: 'a', name: 'd' } }], false);
    expect(state.istio.map((o) => `${o.kind}:${JSON.stringify(o['spec'])}`)).toEqual(['DestinationRule:{}', 'VirtualService:{"hosts":["new"]}']);
    expect(notes).toEqual(['Deployment a/d: validated by the dry run; its effect on pods/endpoints is not modelled']);
    expect(s.istio).toHaveLength(2); // the input is not mutated
    const removed = applyChange(s, [vs('a', 'r', [])], true).state;
    expect(removed.istio.map((o) => o.kind)).toEqual(['DestinationRule']);
    const svc = applyChange(s, [{ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'a', name: 's' }, spec: { ports: [{ port: 80 }] } }], false).state;
    expect(svc.services.map((x: V1Service) => x.metadata?.name)).toEqual(['s']);
  });
});

describe('flatten and diff', () => {
  const rc = (routes: Record<string, unknown>[]): Record<string, unknown> => ({ name: '9080', virtual_hosts: [{ name: 'reviews:9080', routes }] });

  it('names routes by route config, virtual host and route name or match; duplicates get #n', () => {
    const items = flatten({
      clusters: [{ name: 'outbound|9080||reviews' }],
      listeners: [{ name: '0.0.0.0_9080' }],
      endpoints: [{ cluster_name: 'outbound|9080||reviews' }],
      routes: [rc([
        { name: 'jason', match: { prefix: '/', headers: [{ name: 'end-user' }] } },
        { match: { path: '/x' } },
        { match: { path: '/x' } },
        { name: 'default', match: { safe_regex: { regex: '.*' } } },
      ])],
    });
    expect(items.map((i) => `${i.kind} ${i.name}`)).toEqual([
      'cluster outbound|9080||reviews',
      'listener 0.0.0.0_9080',
      'endpoints outbound|9080||reviews',
      'route 9080/reviews:9080: jason (prefix / headers end-user)',
      'route 9080/reviews:9080: path /x',
      'route 9080/reviews:9080: path /x #2',
      'route 9080/reviews:9080: regex .*',
    ]);
  });

  it('+ / - / ~ with the changed fields, key order irrelevant, sorted listener, route, cluster', () => {
    const before = flatten({ clusters: [{ name: 'a', lb_policy: 'ROUND_ROBIN', type: 'EDS' }, { name: 'gone' }], listeners: [], endpoints: [], routes: [rc([{ name: 'r', route: { cluster: 'a' } }])] });
    const after = flatten({ clusters: [{ type: 'EDS', name: 'a', lb_policy: 'LEAST_REQUEST' }, { name: 'new' }], listeners: [{ name: 'l' }], endpoints: [], routes: [rc([{ route: { cluster: 'a' }, name: 'r' }])] });
    expect(diffItems('ns/w', before, after)).toEqual([
      { workload: 'ns/w', kind: 'listener', name: 'l', op: '+' },
      { workload: 'ns/w', kind: 'cluster', name: 'a', op: '~', detail: 'lb_policy' },
      { workload: 'ns/w', kind: 'cluster', name: 'gone', op: '-' },
      { workload: 'ns/w', kind: 'cluster', name: 'new', op: '+' },
    ]);
    expect(diffItems('ns/w', before, before)).toEqual([]);
  });
});

describe('authorization decisions', () => {
  const web: PlanProxy = { flavour: 'sidecar', namespace: 'shop', labels: { app: 'web' } };
  const caller = { namespace: 'shop', serviceAccount: 'front' };
  const pol = (spec: AuthorizationPolicy['spec'], ns = 'shop'): AuthorizationPolicy => ap(ns, 'p', spec) as unknown as AuthorizationPolicy;

  it('no policy allows; ALLOW with no rules denies; DENY with matching principal denies', () => {
    expect(decide([], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ action: 'ALLOW' })], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({})], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({ action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/front'] } }] }] })], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({ action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/other'] } }] }] })], web, caller, OPTS)).toBe('ALLOW');
  });

  it('namespaces, wildcards, notNamespaces, when source.namespace; request-dependent rules are PARTIAL', () => {
    expect(decide([pol({ rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] })], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ rules: [{ from: [{ source: { namespaces: ['other'] } }] }] })], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({ rules: [{ from: [{ source: { principals: ['*/sa/front'] } }] }] })], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ rules: [{ from: [{ source: { notNamespaces: ['shop'] } }] }] })], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({ rules: [{ when: [{ key: 'source.namespace', values: ['shop'] }] }] })], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })], web, caller, OPTS)).toBe('PARTIAL');
    expect(decide([pol({ action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] })], web, caller, OPTS)).toBe('PARTIAL');
    expect(decide([pol({ rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })], web, caller, OPTS)).toBe('PARTIAL');
  });

  it('selectors and scope: other namespace ignored, root namespace applies mesh-wide, CUSTOM ignored', () => {
    expect(decide([pol({ action: 'ALLOW' }, 'elsewhere')], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ action: 'ALLOW' }, 'weft-system')], web, caller, OPTS)).toBe('DENY');
    expect(decide([pol({ action: 'ALLOW', selector: { matchLabels: { app: 'db' } } })], web, caller, OPTS)).toBe('ALLOW');
    expect(decide([pol({ action: 'CUSTOM', rules: [{}] })], web, caller, OPTS)).toBe('ALLOW');
  });

  it('diffAuthz lists callers whose decision changes', () => {
    const before = emptyState();
    before.pods = [pod('shop', 'front', {}, { spec: { containers: [], serviceAccountName: 'front' } }), pod('shop', 'web', { app: 'web' })];
    const after = { ...before, istio: [ap('shop', 'only-front', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/front'] } }] }] })] };
    expect(knownCallers(before)).toEqual([{ namespace: 'shop', serviceAccount: 'default' }, { namespace: 'shop', serviceAccount: 'front' }]);
    expect(diffAuthz('shop/web', web, before, after, knownCallers(after), OPTS)).toEqual([
      { workload: 'shop/web', kind: 'authz', name: 'from shop/sa/default', op: '~', detail: 'ALLOW -> DENY' },
    ]);
  });
});

describe('plan and formatPlan', () => {
  // A fake translation: one cluster per VirtualService host visible to the proxy's namespace.
  const fake: ConfigPlanner = {
    translate(state) {
      return { clusters: state.istio.filter((o) => o.kind === 'VirtualService').flatMap((o) => ((o['spec'] as { hosts: string[] }).hosts).map((h) => ({ name: `outbound|80||${h}` }))), listeners: [], routes: [], endpoints: [] };
    },
  };

  it('diffs every workload and renders a table with a summary', () => {
    const before = emptyState();
    before.pods = [pod('shop', 'web', { app: 'web' })];
    const after = applyChange(before, [vs('shop', 'v', ['reviews'])], false).state;
    const ws = workloadsOf(after, new Set(['shop']));
    const changes = plan(fake, before, after, ws, OPTS);
    expect(changes).toEqual([{ workload: 'shop/web', kind: 'cluster', name: 'outbound|80||reviews', op: '+' }]);
    const txt = formatPlan({ objects: ['VirtualService shop/v'], workloads: ['shop/web'], changes, notes: ['n1'] }, painter(false));
    expect(txt).toBe([
      'note: n1',
      'WORKLOAD   KIND      NAME                   CHANGE   DETAIL',
      'shop/web   cluster   outbound|80||reviews   +',
      '',
      '1 of 1 workload(s) affected: 1 added, 0 removed, 0 changed.',
      '',
    ].join('\n'));
    expect(formatPlan({ objects: [], workloads: ['shop/web'], changes: [], notes: [] }, painter(false))).toBe('No proxy config changes for 1 workload(s).\n');
    expect(formatPlan({ objects: [], workloads: [], changes: [{ workload: 'w', kind: 'route', name: 'r', op: '-' }], notes: [] }, painter(true))).toContain('\u001b[31m-\u001b[0m');
  });

  it('the command: usage errors exit 2, and a build without a planner says so', async () => {
    const io = bufferIO();
    const app: App = { io, now: () => new Date(0), packageRoot: process.cwd(), version: '0.1.0' };
    expect(await run(['plan'], app)).toBe(EXIT.usage);
    expect(io.stderr.join('')).toContain('plan needs the change: pass -f <file>');
    expect(await run(['plan', '-f', '/nonexistent/x.yaml'], app)).toBe(EXIT.usage);
    expect(await run(['plan', '-o', 'xml', '-f', 'x'], app)).toBe(EXIT.usage);
    const io2 = bufferIO();
    expect(await run(['plan', '-f', `${process.cwd()}/manifests/samples`], { ...app, io: io2 })).toBe(EXIT.failure);
    expect(io2.stderr.join('')).toContain('this weftctl build has no config planner');
  });
});
