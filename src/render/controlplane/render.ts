// PURE: MeshConfig (+ the revision state the operator persisted in status) -> the desired
// Kubernetes objects of one mesh. No I/O, no clock, no env. Golden tests in
// test/golden/render pin the output.
//
// Objects, in apply order (webhooks last so they never point at nothing):
//   Namespace (unless it is the operator's own), per revision: ServiceAccount, ClusterRole +
//   Binding, Role + Binding, mesh/injection ConfigMap, Service, Deployment, PDB; the trust
//   bundle ConfigMap; per gateway: ServiceAccount, Role + Binding, Service, Deployment, PDB; per revision the
//   MutatingWebhookConfiguration; the ValidatingWebhookConfiguration.
//
// RBAC, least privilege (no wildcard verbs or resources):
//   - control plane, cluster-wide: read (get/list/watch) Services, EndpointSlices, Pods,
//     Namespaces, Nodes and the Istio networking/security resources it translates; create
//     TokenReviews (the CA authenticates CSR callers); ConfigMaps get/list/watch/create/update/
//     patch because the CA publishes the trust bundle ConfigMap into every meshed namespace.
//   - control plane, own namespace only: Secrets (the CA's signing key lives there), Leases
//     (its own leader election), ConfigMaps. There is NO cluster-wide Secret read: no feature
//     needs one.
//   - each gateway, own namespace only: `get` Secrets, for its servers' credentialName (the
//     gateway fetches its TLS certificates itself; keys never pass through the control plane).
import { INJECTED_VOLUMES, type InjectionConfig } from '../../api/injection.js';
import {
  COMPONENT_REVISION_LABEL,
  MESHCONFIG_API_VERSION,
  MESHCONFIG_KIND,
  MESHCONFIG_OWNER_LABEL,
  resolveMeshConfigSpec,
  revisionNameFor,
  type MeshConfig,
  type ResolvedMeshConfigSpec,
  type Resources,
} from '../../api/meshconfig.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, POD_INJECT_LABEL } from '../../api/labels.js';
import { CA_TOKEN_AUDIENCE, PROXY_PATHS, PROXY_PORTS, TRUST_BUNDLE_CONFIGMAP } from '../../api/sidecar.js';

/** Gateway CA token lifetime (as the injector's default); the kubelet rotates it at 80 %. */
const GATEWAY_CA_TOKEN_SECONDS = 43200;

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<Record<string, unknown>>;
  };
  [k: string]: unknown;
}

export interface RevisionToRender {
  name: string;
  version: string;
}

export interface RenderContext {
  /** Namespace the operator (and its webhook server) runs in; excluded from injection. */
  operatorNamespace: string;
  /** Where the API server reaches the operator's webhook server (clientConfig.url base). */
  webhookUrl?: string;
  /** PEM CA bundle (base64) for the webhook's serving certificate. */
  caBundle?: string;
  /** Control plane revisions to install. Default: the one the spec resolves to. */
  revisions?: RevisionToRender[];
  /** Revision that injection defaults to and gateways connect to. Default: revisions[last]. */
  activeRevision?: string;
  /** Version the gateways run (lags spec.version until the control plane is healthy). */
  gatewayVersion?: string;
}

export const CONTROLPLANE_NAME = 'weft-controlplane';
export const CONTROLPLANE_PORTS = Object.freeze({ xds: 15010, ca: 15012, monitoring: 15014 });
export const WEBHOOK_EXCLUDED_NAMESPACES = Object.freeze(['kube-system', 'kube-public', 'kube-node-lease']);
export const CONFIG_HASH_ANNOTATION = 'operator.weft.dev/config-hash';

/** Kinds the operator renders, in apply order; prune and informers use the same list. */
export const OWNED_KINDS = Object.freeze([
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
  { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' },
] as const);

/** "default" keeps the plain names; any other revision suffixes them. */
export function revisionSuffix(rev: string): string {
  return rev === 'default' ? '' : `-${rev}`;
}
export function controlPlaneName(rev: string): string {
  return `${CONTROLPLANE_NAME}${revisionSuffix(rev)}`;
}
export function gatewayName(name: string): string {
  return `weft-${name}`;
}
export function injectorWebhookName(rev: string): string {
  return `weft-sidecar-injector${revisionSuffix(rev)}`;
}
export function validatorWebhookName(mcName: string): string {
  return `weft-validator${revisionSuffix(mcName)}`;
}
export function meshConfigMapName(rev: string): string {
  return `weft-mesh${revisionSuffix(rev)}`;
}

/** Small stable FNV-1a hash (hex) of a JSON value, for pod-template config hashes. Pure. */
export function stableHash(v: unknown): string {
  const s = stableStringify(v);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as Record<string, unknown>)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function image(hub: string, version: string): string {
  return `${hub.replace(/\/+$/, '')}/weft:${version}`;
}

function resources(r: Resources): Record<string, unknown> {
  return JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
}

interface Ctx {
  mc: MeshConfig;
  spec: ResolvedMeshConfigSpec;
  ns: string;
  base: Record<string, string>;
  owner: Array<Record<string, unknown>> | undefined;
}

function meta(c: Ctx, name: string, namespaced: boolean, component: string, extra: Record<string, string> = {}): RenderedObject['metadata'] {
  return {
    name,
    ...(namespaced ? { namespace: c.ns } : {}),
    labels: { ...c.base, 'app.kubernetes.io/component': component, ...extra },
    ...(c.owner ? { ownerReferences: c.owner } : {}),
  };
}

/** nodeSelector/tolerations for a pod spec, omitted when empty so renders stay minimal. */
function placement(p: { nodeSelector: Record<string, string>; tolerations: unknown[] }): Record<string, unknown> {
  return {
    ...(Object.keys(p.nodeSelector).length > 0 ? { nodeSelector: { ...p.nodeSelector } } : {}),
    ...(p.tolerations.length > 0 ? { tolerations: p.tolerations.map((t) => ({ ...(t as object) })) } : {}),
  };
}

function excludedNamespaces(c: Ctx, ctx: RenderContext): string[] {
  return [...new Set([...WEBHOOK_EXCLUDED_NAMESPACES, c.ns, ctx.operatorNamespace])].sort();
}

/** The InjectionConfig the webhook uses for one revision (published in its ConfigMap). */
export function injectionConfigFor(spec: ResolvedMeshConfigSpec, rev: RevisionToRender): InjectionConfig {
  const svc = `${controlPlaneName(rev.name)}.${spec.namespace}.svc`;
  return {
    hub: spec.hub,
    version: spec.proxy.version === spec.version ? rev.version : spec.proxy.version,
    revision: rev.name,
    xdsAddress: `${svc}:${CONTROLPLANE_PORTS.xds}`,
    caAddress: `${svc}:${CONTROLPLANE_PORTS.ca}`,
    trustDomain: spec.security.trustDomain,
    proxyResources: resources(spec.proxy.resources),
    nativeSidecars: true,
    logLevel: spec.proxy.logLevel,
    holdApplicationUntilProxyStarts: spec.proxy.holdApplicationUntilProxyStarts,
    rewriteAppProbes: true,
    excludeOutboundCidrs: [...spec.proxy.excludeOutboundCIDRs],
    excludeOutboundPorts: [...spec.proxy.excludeOutboundPorts],
    excludeInboundPorts: [...spec.proxy.excludeInboundPorts],
    captureDns: spec.proxy.dnsCapture,
    imagePullPolicy: 'IfNotPresent',
    drainDurationSeconds: 5,
    tracing: { ...spec.telemetry.tracing },
    ...(spec.telemetry.accessLogs ? { accessLogs: true } : {}),
    caTokenExpirationSeconds: 43200,
  };
}

function renderRevision(c: Ctx, ctx: RenderContext, rev: RevisionToRender): RenderedObject[] {
  const name = controlPlaneName(rev.name);
  const revLabels = { [COMPONENT_REVISION_LABEL]: rev.name };
  const selector = { app: CONTROLPLANE_NAME, [COMPONENT_REVISION_LABEL]: rev.name };
  const cmName = meshConfigMapName(rev.name);
  const meshJson = stableStringify({
    revision: rev.name,
    version: rev.version,
    trustDomain: c.spec.security.trustDomain,
    mtlsMode: c.spec.security.mtlsMode,
    workloadCertTTL: c.spec.security.workloadCertTTL,
    rootCertTTL: c.spec.security.rootCertTTL,
    accessLogs: c.spec.telemetry.accessLogs,
    tracing: c.spec.telemetry.tracing,
    proxy: { concurrency: c.spec.proxy.concurrency, interceptionMode: c.spec.proxy.interceptionMode },
  });
  const injectionJson = stableStringify(injectionConfigFor(c.spec, rev));
  const configHash = stableHash({ meshJson, injectionJson });
  const ro = ['get', 'list', 'watch'];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(c, name, true, 'controlplane', revLabels) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(c, `${name}-${c.ns}`, false, 'controlplane', revLabels),
      rules: [
        { apiGroups: [''], resources: ['services', 'pods', 'namespaces', 'nodes'], verbs: ro },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ro },
        { apiGroups: ['networking.istio.io'], resources: ['virtualservices', 'destinationrules', 'gateways', 'serviceentries', 'sidecars', 'workloadentries'], verbs: ro },
        { apiGroups: ['security.istio.io'], resources: ['peerauthentications', 'authorizationpolicies', 'requestauthentications'], verbs: ro },
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        // XdsConfigRejected Events on the pods of proxies that NACK (src/xds/rejections.ts).
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(c, `${name}-${c.ns}`, false, 'controlplane', revLabels),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${name}-${c.ns}` },
      subjects: [{ kind: 'ServiceAccount', name, namespace: c.ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(c, name, true, 'controlplane', revLabels),
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(c, name, true, 'controlplane', revLabels),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: c.ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(c, cmName, true, 'controlplane', revLabels),
      data: { 'mesh.json': meshJson, 'injection.json': injectionJson },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(c, name, true, 'controlplane', { app: CONTROLPLANE_NAME, ...revLabels }),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'grpc-xds', port: CONTROLPLANE_PORTS.xds, targetPort: CONTROLPLANE_PORTS.xds, protocol: 'TCP' },
          { name: 'grpc-ca', port: CONTROLPLANE_PORTS.ca, targetPort: CONTROLPLANE_PORTS.ca, protocol: 'TCP' },
          { name: 'http-monitoring', port: CONTROLPLANE_PORTS.monitoring, targetPort: CONTROLPLANE_PORTS.monitoring, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(c, name, true, 'controlplane', { app: CONTROLPLANE_NAME, ...revLabels, 'app.kubernetes.io/version': rev.version }),
      spec: {
        replicas: c.spec.controlPlane.replicas,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: {
            labels: { ...selector, 'app.kubernetes.io/version': rev.version, [POD_INJECT_LABEL]: 'false' },
            annotations: { [CONFIG_HASH_ANNOTATION]: configHash },
          },
          spec: {
            serviceAccountName: name,
            ...placement(c.spec.controlPlane),
            containers: [
              {
                name: 'controlplane',
                image: image(c.spec.hub, rev.version),
                args: ['controlplane', `--revision=${rev.name}`, '--mesh-config=/etc/weft/mesh/mesh.json', `--log-level=${c.spec.controlPlane.logLevel}`],
                env: [
                  { name: 'WEFT_REVISION', value: rev.name },
                  { name: 'WEFT_TRUST_DOMAIN', value: c.spec.security.trustDomain },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                ],
                ports: [
                  { name: 'grpc-xds', containerPort: CONTROLPLANE_PORTS.xds, protocol: 'TCP' },
                  { name: 'grpc-ca', containerPort: CONTROLPLANE_PORTS.ca, protocol: 'TCP' },
                  { name: 'http-monitoring', containerPort: CONTROLPLANE_PORTS.monitoring, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/ready', port: CONTROLPLANE_PORTS.monitoring }, periodSeconds: 3 },
                resources: resources(c.spec.controlPlane.resources),
                securityContext: { runAsNonRoot: true, runAsUser: 1337, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'mesh-config', mountPath: '/etc/weft/mesh', readOnly: true }],
              },
            ],
            volumes: [{ name: 'mesh-config', configMap: { name: cmName } }],
          },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(c, name, true, 'controlplane', revLabels),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
  ];
}

function renderGateway(c: Ctx, g: ResolvedMeshConfigSpec['gateways'][number], rev: string, version: string): RenderedObject[] {
  const name = gatewayName(g.name);
  const selector = { 'weft.dev/gateway': g.name, [MESHCONFIG_OWNER_LABEL]: c.mc.metadata.name };
  const podLabels = { ...g.labels, app: name, ...selector, [COMPONENT_REVISION_LABEL]: rev, [POD_INJECT_LABEL]: 'false' };
  const cpSvc = `${controlPlaneName(rev)}.${c.ns}.svc`;
  const tokenFile = PROXY_PATHS.caTokenFile.slice(PROXY_PATHS.caTokenDir.length + 1);
  const bundleFile = PROXY_PATHS.trustBundleFile.slice(PROXY_PATHS.trustBundleDir.length + 1);
  const containerPorts = [
    ...g.ports.filter((p) => p.targetPort !== PROXY_PORTS.health).map((p) => ({ name: p.name, containerPort: p.targetPort, protocol: p.protocol })),
    { name: 'status-port', containerPort: PROXY_PORTS.health, protocol: 'TCP' },
    { name: 'http-metrics', containerPort: PROXY_PORTS.metrics, protocol: 'TCP' },
  ];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels }) },
    // The gateway reads its servers' credentialName Secrets itself, from its own namespace only.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels }),
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels }),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: c.ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels, app: name }),
      spec: {
        type: g.serviceType,
        selector,
        ports: g.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol, ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}) })),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels, app: name, [COMPONENT_REVISION_LABEL]: rev, 'app.kubernetes.io/version': version }),
      spec: {
        replicas: g.replicas,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: { ...podLabels, 'app.kubernetes.io/version': version } },
          spec: {
            serviceAccountName: name,
            ...placement(g),
            containers: [
              {
                name: 'weft-proxy',
                image: image(c.spec.hub, version),
                args: ['proxy', 'gateway', `--gateway-type=${g.type}`, `--log-level=${c.spec.proxy.logLevel}`],
                env: [
                  { name: 'WEFT_XDS_ADDRESS', value: `${cpSvc}:${CONTROLPLANE_PORTS.xds}` },
                  { name: 'WEFT_CA_ADDRESS', value: `${cpSvc}:${CONTROLPLANE_PORTS.ca}` },
                  { name: 'WEFT_TRUST_DOMAIN', value: c.spec.security.trustDomain },
                  { name: 'WEFT_REVISION', value: rev },
                  { name: 'WEFT_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'WEFT_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'WEFT_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                  { name: 'WEFT_SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
                ],
                ports: containerPorts,
                readinessProbe: { httpGet: { path: '/healthz/ready', port: PROXY_PORTS.health }, periodSeconds: 2 },
                resources: resources(g.resources),
                securityContext: { runAsNonRoot: true, runAsUser: 1337, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                // The gateway's workload identity: a CA-audience token to ask for its certificate,
                // and the trust bundle to verify the CA (the same paths as an injected sidecar).
                volumeMounts: [
                  { name: INJECTED_VOLUMES.caToken, mountPath: PROXY_PATHS.caTokenDir, readOnly: true },
                  { name: INJECTED_VOLUMES.trustBundle, mountPath: PROXY_PATHS.trustBundleDir, readOnly: true },
                ],
              },
            ],
            // Non-root, yet the Gateway servers listen on 80/443: Istio's gateway template does the same.
            securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
            volumes: [
              {
                name: INJECTED_VOLUMES.caToken,
                projected: { sources: [{ serviceAccountToken: { audience: CA_TOKEN_AUDIENCE, expirationSeconds: GATEWAY_CA_TOKEN_SECONDS, path: tokenFile } }] },
              },
              { name: INJECTED_VOLUMES.trustBundle, configMap: { name: TRUST_BUNDLE_CONFIGMAP, items: [{ key: bundleFile, path: bundleFile }] } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(c, name, true, `${g.type}-gateway`, { ...g.labels }),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
  ];
}

function clientConfig(ctx: RenderContext, path: string): Record<string, unknown> {
  const base = ctx.webhookUrl
    ? { url: `${ctx.webhookUrl.replace(/\/+$/, '')}${path}` }
    : { service: { name: 'weft-operator', namespace: ctx.operatorNamespace, path, port: 443 } };
  return { ...base, ...(ctx.caBundle ? { caBundle: ctx.caBundle } : {}) };
}

function renderInjector(c: Ctx, ctx: RenderContext, rev: RevisionToRender, active: boolean): RenderedObject {
  const excluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excludedNamespaces(c, ctx) };
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    timeoutSeconds: 5,
    failurePolicy: c.spec.injection.failurePolicy,
    reinvocationPolicy: 'Never',
    matchPolicy: 'Equivalent',
    clientConfig: clientConfig(ctx, `/inject/${rev.name}`),
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    objectSelector: { matchExpressions: [{ key: POD_INJECT_LABEL, operator: 'NotIn', values: ['false'] }] },
  };
  const webhooks: Array<Record<string, unknown>> = [
    {
      name: `rev.namespace.sidecar-injector.weft.dev`,
      ...common,
      namespaceSelector: { matchExpressions: [{ key: c.spec.injection.revisionLabel, operator: 'In', values: [rev.name] }, excluded] },
    },
  ];
  if (active) {
    webhooks.push({
      name: `namespace.sidecar-injector.weft.dev`,
      ...common,
      namespaceSelector: {
        matchExpressions: [
          { key: c.spec.injection.namespaceLabel, operator: 'In', values: ['enabled'] },
          { key: c.spec.injection.revisionLabel, operator: 'DoesNotExist' },
          excluded,
        ],
      },
    });
  }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: meta(c, injectorWebhookName(rev.name), false, 'sidecar-injector', { [COMPONENT_REVISION_LABEL]: rev.name }),
    webhooks,
  };
}

function renderValidator(c: Ctx, ctx: RenderContext): RenderedObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: meta(c, validatorWebhookName(c.mc.metadata.name), false, 'validator'),
    webhooks: [
      {
        name: 'validation.weft.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        timeoutSeconds: 5,
        // Ignore: if the operator is down, users must still be able to fix a MeshConfig; the
        // CRD schema + CEL keeps rejecting the worst mistakes on its own.
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        clientConfig: clientConfig(ctx, '/validate'),
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...WEBHOOK_EXCLUDED_NAMESPACES].sort() }] },
        rules: [
          { apiGroups: ['networking.istio.io', 'security.istio.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['*'], scope: '*' },
          { apiGroups: ['operator.weft.dev'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['meshconfigs'], scope: 'Cluster' },
        ],
      },
    ],
  };
}

/** Renders every desired object of one MeshConfig. Pure and deterministic. */
export function renderControlPlane(mc: MeshConfig, ctx: RenderContext): RenderedObject[] {
  const spec = resolveMeshConfigSpec(mc.spec);
  const revisions = ctx.revisions && ctx.revisions.length > 0 ? ctx.revisions : [{ name: revisionNameFor(mc.metadata.name, mc.spec), version: spec.version }];
  const active = ctx.activeRevision ?? revisions[revisions.length - 1]!.name;
  const activeRev = revisions.find((r) => r.name === active) ?? revisions[revisions.length - 1]!;
  const c: Ctx = {
    mc,
    spec,
    ns: spec.namespace,
    base: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MESHCONFIG_OWNER_LABEL]: mc.metadata.name, 'app.kubernetes.io/part-of': 'weft' },
    owner: mc.metadata.uid
      ? [{ apiVersion: MESHCONFIG_API_VERSION, kind: MESHCONFIG_KIND, name: mc.metadata.name, uid: mc.metadata.uid, controller: true, blockOwnerDeletion: true }]
      : undefined,
  };
  const out: RenderedObject[] = [];
  if (c.ns !== ctx.operatorNamespace) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: c.ns, labels: { ...c.base, 'app.kubernetes.io/component': 'namespace' } } });
  for (const rev of revisions) out.push(...renderRevision(c, ctx, rev));
  out.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...meta(c, TRUST_BUNDLE_CONFIGMAP, true, 'trust-bundle'), annotations: { 'operator.weft.dev/trust-domain': spec.security.trustDomain } },
  });
  const gwVersion = ctx.gatewayVersion ?? activeRev.version;
  for (const g of spec.gateways) out.push(...renderGateway(c, g, activeRev.name, gwVersion));
  for (const rev of revisions) out.push(renderInjector(c, ctx, rev, rev.name === activeRev.name));
  out.push(renderValidator(c, ctx));
  return out;
}
