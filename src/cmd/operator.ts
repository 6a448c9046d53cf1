// `weft operator`: the MeshConfig reconciler plus the injector's HTTPS server in one process.
// The injector serves the InjectionConfig each revision publishes in its weft-mesh ConfigMap,
// so a MeshConfig change reaches injection without a restart.
import type { Command } from 'commander';
import * as k8s from '@kubernetes/client-node';
import type { InjectionConfig } from '../api/injection.js';
import { ISTIO_VALIDATORS } from '../api/istio/validate.js';
import { validateMeshConfig, resolveMeshConfigSpec } from '../api/meshconfig.js';
import { commonFromEnv, parsePort } from '../config/env.js';
import { invalidInput } from '../errors/errors.js';
import { createRootLogger, type Logger } from '../log/logger.js';
import { loadKubeConfig, makeClients, type KubeClients } from '../kube/client.js';
import { runOperator, type StartedWebhook, type WebhookHookContext } from '../operator/manager.js';
import { injectionConfigFor, injectorWebhookName, validatorWebhookName } from '../render/controlplane/render.js';
import { WebhookServer, type ValidatorEntry } from '../webhook/server.js';
import { WebhookCertManager, systemClock } from '../webhook/cert-manager.js';
import { readPackageVersion } from './version.js';
import { onShutdown } from './signals.js';

interface OperatorFlags {
  kubeconfig?: string;
  logLevel?: string;
  namespace: string;
  meshNamespace: string;
  webhookHost: string;
  webhookPort: string;
  webhookUrl?: string;
  controlplaneAddress?: string;
  leaderElectionId?: string;
  rotationPollSeconds: string;
  rotationStuckSeconds: string;
}

/** Parses a positive number of seconds from a flag into ms. */
export function secondsFlag(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(n > 0)) throw invalidInput(`${flag} ${raw}: expected a positive number of seconds, e.g. 5`, { flag });
  return Math.round(n * 1000);
}

/** Parses the injection.json of one weft-mesh ConfigMap; undefined if absent or malformed. */
export function injectionFromConfigMap(cm: k8s.V1ConfigMap): InjectionConfig | undefined {
  const raw = cm.data?.['injection.json'];
  if (!raw) return undefined;
  try {
    const cfg = JSON.parse(raw) as InjectionConfig;
    return typeof cfg.revision === 'string' && typeof cfg.version === 'string' ? cfg : undefined;
  } catch {
    return undefined;
  }
}

/** Dev overlay: point sidecars at a control plane reachable without kube-proxy (e.g. the host bridge). */
export function withControlPlaneHost(cfg: InjectionConfig, host: string | undefined): InjectionConfig {
  if (!host) return cfg;
  const port = (addr: string): string => addr.slice(addr.lastIndexOf(':') + 1);
  return { ...cfg, xdsAddress: `${host}:${port(cfg.xdsAddress)}`, caAddress: `${host}:${port(cfg.caAddress)}` };
}

function validators(): Map<string, ValidatorEntry> {
  const m = new Map<string, ValidatorEntry>(Object.entries(ISTIO_VALIDATORS));
  m.set('MeshConfig', validateMeshConfig);
  return m;
}

async function startInjector(flags: OperatorFlags, clients: KubeClients, kc: k8s.KubeConfig, logger: Logger): Promise<StartedWebhook> {
  const version = readPackageVersion();
  // Until the operator publishes a revision's ConfigMap, serve defaults for this version.
  const seed = injectionConfigFor(resolveMeshConfigSpec({ version, namespace: flags.meshNamespace }), { name: 'default', version });
  const injection = new Map<string, InjectionConfig>([['default', withControlPlaneHost(seed, flags.controlplaneAddress)]]);
  const server = new WebhookServer({ injection, defaultRevision: 'default', validators: validators(), logger });

  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${flags.meshNamespace}/configmaps`,
    () => clients.core.listNamespacedConfigMap({ namespace: flags.meshNamespace }));
  const onCm = (cm: k8s.V1ConfigMap): void => {
    const cfg = injectionFromConfigMap(cm);
    if (!cfg) return;
    injection.set(cfg.revision, withControlPlaneHost(cfg, flags.controlplaneAddress));
    logger.info({ revision: cfg.revision, version: cfg.version }, 'injection config updated');
  };
  informer.on('add', onCm);
  informer.on('update', onCm);
  informer.on('error', (err: unknown) => {
    logger.warn({ err }, 'configmap watch failed; restarting');
    setTimeout(() => { informer.start().catch(() => undefined); }, 2000);
  });
  await informer.start();

  const host = flags.webhookHost;
  const port = parsePort(flags.webhookPort, '--webhook-port');
  // Listening on every address means "in a pod": the API server reaches the webhooks through the
  // weft-operator Service (clientConfig.service). A loopback host is the dev loop: a URL.
  const url = flags.webhookUrl ?? (host === '0.0.0.0' || host === '::' ? undefined : `https://${host}:${port}`);
  let current: { certPem: string; keyPem: string; notAfter: Date } | undefined;
  const certs = new WebhookCertManager({
    core: clients.core, admissionReg: clients.admissionReg, namespace: flags.namespace, secretName: 'weft-webhook-certs',
    mutatingWebhookConfigurations: [injectorWebhookName('default')],
    validatingWebhookConfigurations: [validatorWebhookName('default')],
    dnsNames: ['localhost', `weft-operator.${flags.namespace}.svc`], ipAddresses: [host === '0.0.0.0' ? '127.0.0.1' : host],
    clock: systemClock, logger,
    // Called once at first load, then on every rotation; hot-swaps the served certificate.
    onCertificate: (tls, notAfter) => {
      const first = current === undefined;
      current = { ...tls, notAfter };
      if (!first) server.setTls(tls, notAfter);
    },
  });
  await certs.reconcile();
  if (!current) throw new Error('webhook certificate manager produced no serving certificate');
  await server.listen(current, port, host);
  certs.start();
  // The Secret's ca-bundle.crt is already base64: exactly what clientConfig.caBundle wants.
  const secret = await clients.core.readNamespacedSecret({ name: 'weft-webhook-certs', namespace: flags.namespace });
  const caBundle = secret.data?.['ca-bundle.crt'] ?? '';
  logger.info({ url: url ?? `service weft-operator.${flags.namespace}:443 -> :${port}` }, 'injector serving');
  return {
    ...(url ? { url } : {}), caBundle,
    stop: async (): Promise<void> => { certs.stop(); await informer.stop(); await server.close(); },
  };
}

async function ensureNamespace(clients: KubeClients, name: string, logger: Logger): Promise<void> {
  try {
    await clients.core.readNamespace({ name });
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
    await clients.core.createNamespace({ body: { metadata: { name } } });
    logger.info({ namespace: name }, 'created operator namespace');
  }
}

export function registerOperatorCommand(program: Command): void {
  program.command('operator')
    .description('run the operator: reconcile MeshConfig resources and serve the sidecar injector')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or in-cluster)')
    .option('--log-level <level>', 'log level (default: $WEFT_LOG_LEVEL or info)')
    .option('-n, --namespace <ns>', "the operator's namespace (its Lease, webhook certificate Secret)", 'weft-system')
    .option('--mesh-namespace <ns>', 'namespace where MeshConfig installs the control plane', 'weft-system')
    .option('--webhook-host <addr>', 'address the injector listens on; 0.0.0.0 (in a pod) makes the webhooks use the weft-operator Service', '127.0.0.1')
    .option('--webhook-port <port>', 'injector HTTPS port', '9443')
    .option('--webhook-url <url>', 'base URL the API server uses to reach the injector (default https://<host>:<port>, or the weft-operator Service when --webhook-host is 0.0.0.0)')
    .option('--controlplane-address <host>', 'dev overlay: host sidecars use for xDS and the CA instead of the Service name')
    .option('--leader-election-id <id>', 'leader-election identity (default: hostname + random suffix)')
    .option('--rotation-poll-seconds <n>', 'how often to re-read the CA Secret while a root rotation runs or is requested (otherwise hourly)', '5')
    .option('--rotation-stuck-seconds <n>', 'report a root rotation stuck (Event, status, weftctl check) when a stage has not moved this long while proxies lag', '300')
    .addHelpText('after', '\nExamples:\n  weft operator --kubeconfig .cluster/kubeconfig\n  weft operator --controlplane-address 10.88.0.1   # local cluster without kube-proxy\n')
    .action(async (flags: OperatorFlags) => {
      const common = commonFromEnv(process.env, flags);
      const logger = createRootLogger('weft-operator', { level: common.logLevel });
      const kc = loadKubeConfig(common.kubeconfig ? { kubeconfig: common.kubeconfig } : {});
      const clients = makeClients(kc);
      await ensureNamespace(clients, flags.namespace, logger);
      const handle = await runOperator({
        kubeConfig: kc, namespace: flags.namespace, logger,
        rotationPollMs: secondsFlag(flags.rotationPollSeconds, '--rotation-poll-seconds'),
        rotationStuckMs: secondsFlag(flags.rotationStuckSeconds, '--rotation-stuck-seconds'),
        ...(flags.leaderElectionId ? { identity: flags.leaderElectionId } : {}),
        startWebhook: (ctx: WebhookHookContext) => startInjector(flags, clients, kc, ctx.logger),
      });
      onShutdown(logger, () => handle.stop());
    });
}
