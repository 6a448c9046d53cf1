// `weft controlplane`: the service registry + ADS server, and the CA, in one process (like istiod).
import type { Command } from 'commander';
import { commonFromEnv, parsePort } from '../config/env.js';
import { createRootLogger } from '../log/logger.js';
import { loadKubeConfig, makeClients } from '../kube/client.js';
import { startControlPlane } from '../xds/controlplane.js';
import { runCaService, type CaService } from '../ca/service.js';
import { caMetricsText } from '../ca/metrics.js';
import { listMeshNamespaces, publishTrustBundle } from '../ca/bundle.js';
import { WeftError, errorMessage, invalidInput } from '../errors/errors.js';
import { OUTBOUND_TRAFFIC_POLICIES, type OutboundTrafficPolicy } from '../xds/model.js';
import { isIP } from 'node:net';
import { DEFAULT_TRUST_DOMAIN } from '../api/sidecar.js';
import { onShutdown } from './signals.js';
import { controlPlaneName } from '../render/controlplane/render.js';
import { readFile } from 'node:fs/promises';
import { parseMeshFile } from '../config/mesh-file.js';
import { RejectionReporter } from '../xds/rejections.js';

interface ControlPlaneFlags {
  kubeconfig?: string;
  logLevel?: string;
  namespace?: string;
  host: string;
  xdsPort: string;
  caPort: string;
  debugPort: string;
  trustDomain?: string;
  caTls: boolean;
  bundleSyncSeconds: string;
  bundleNamespaceSelector?: string;
  rejectionReportSeconds: string;
  revision: string;
  meshConfig?: string;
  rotationTickSeconds: string;
  outboundTrafficPolicy: string;
}

/** --outbound-traffic-policy: Istio's meshConfig.outboundTrafficPolicy.mode. */
export function parseOutboundTrafficPolicy(v: string): OutboundTrafficPolicy {
  const mode = v.toUpperCase();
  if (!(OUTBOUND_TRAFFIC_POLICIES as readonly string[]).includes(mode)) {
    throw new WeftError('WEFT_E_INVALID_INPUT', '--outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY', { value: v });
  }
  return mode as OutboundTrafficPolicy;
}

/** DNS names proxies dial the CA by: the revision's control plane Service (as rendered), short and full. */
export function caServingNames(revision: string, namespace: string): string[] {
  const svc = controlPlaneName(revision);
  return [`${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.cluster.local`, 'localhost'];
}

/** The CA's serving cert must name the address proxies dial: add the listen host when it is a concrete IP. */
export function caServingIps(host: string): string[] {
  const ips = ['127.0.0.1'];
  if (isIP(host) && host !== '0.0.0.0' && host !== '::' && !ips.includes(host)) ips.push(host);
  return ips;
}

/** --rotation-tick-seconds as milliseconds: a positive number of seconds. */
export function rotationTickMs(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new WeftError('WEFT_E_INVALID_INPUT', `--rotation-tick-seconds must be a positive number of seconds, got '${v}'`);
  return Math.round(n * 1000);
}

export function registerControlPlaneCommand(program: Command): void {
  program.command('controlplane')
    .description('run the control plane: service registry, Istio -> Envoy translation, ADS server and the CA')
    .option('--kubeconfig <path>', 'kubeconfig (default: $KUBECONFIG or in-cluster)')
    .option('--log-level <level>', 'log level (default: $WEFT_LOG_LEVEL or info)')
    .option('-n, --namespace <ns>', 'mesh namespace holding the CA secret (default: $POD_NAMESPACE, else weft-system)')
    .option('--revision <name>', 'control plane revision this process serves (set by the operator)', 'default')
    .option('--mesh-config <file>', 'mesh settings JSON the operator mounts (trustDomain, workloadCertTTL, rootCertTTL); flags given explicitly win')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--xds-port <port>', 'ADS gRPC port', '15010')
    .option('--ca-port <port>', 'CA gRPC port', '15012')
    .option('--debug-port <port>', 'HTTP debug port (/debug/syncz, /debug/configz, /metrics)', '15014')
    .option('--trust-domain <domain>', `SPIFFE trust domain (default: the mesh config's, else ${DEFAULT_TRUST_DOMAIN})`)
    .option('--no-ca-tls', 'serve the CA without TLS (loopback tests only)')
    .option('--bundle-sync-seconds <n>', 'how often to publish the trust bundle ConfigMap to newly labeled namespaces', '5')
    .option('--bundle-namespace-selector <selector>', 'only publish the trust bundle to injection-enabled namespaces that also match this label selector')
    .option('--rejection-report-seconds <n>', 'how often to report proxies\' config rejections (NACKs) as pod Events and the weft-xds-rejections ConfigMap; 0 = off', '5')
    .option('--rotation-tick-seconds <n>', 'how often the root rotation driver checks the CA Secret and the proxies\' ROOTCA ACKs', '2')
    .option('--outbound-traffic-policy <mode>', 'sidecar traffic to destinations outside the registry: ALLOW_ANY (pass through to the original destination) or REGISTRY_ONLY (blocked: HTTP 502, TCP closed)', 'ALLOW_ANY')
    .addHelpText('after', '\nExample:\n  weft controlplane --kubeconfig ~/.kube/config --host 127.0.0.1\n')
    .action(async (flags: ControlPlaneFlags) => {
      const tickMs = rotationTickMs(flags.rotationTickSeconds);
      const reportSeconds = Number(flags.rejectionReportSeconds);
      if (!Number.isFinite(reportSeconds) || reportSeconds < 0) throw invalidInput(`--rejection-report-seconds must be a number >= 0, got ${flags.rejectionReportSeconds}`);
      const mesh = flags.meshConfig ? parseMeshFile(await readFile(flags.meshConfig, 'utf8').catch((e: unknown) => {
        throw new WeftError('WEFT_E_INVALID_CONFIG', `cannot read --mesh-config ${flags.meshConfig}: ${errorMessage(e)}`, { file: flags.meshConfig });
      }), flags.meshConfig) : {};
      flags.namespace ??= process.env['POD_NAMESPACE'] || 'weft-system';
      flags.trustDomain ??= mesh.trustDomain ?? DEFAULT_TRUST_DOMAIN;
      const common = commonFromEnv(process.env, flags);
      const logger = createRootLogger('weft-controlplane', { level: common.logLevel });
      const clients = makeClients(loadKubeConfig(common.kubeconfig ? { kubeconfig: common.kubeconfig } : {}));
      const attached: { ca?: CaService } = {}; // /metrics includes the CA once it runs
      const cp = await startControlPlane({
        kubeClients: clients, logger, host: flags.host, trustDomain: flags.trustDomain,
        metricsText: () => (attached.ca ? caMetricsText(attached.ca.server.stats, attached.ca.issuer.currentMaterial, new Date()) : ''),
        outboundTrafficPolicy: parseOutboundTrafficPolicy(flags.outboundTrafficPolicy),
        xdsPort: parsePort(flags.xdsPort, '--xds-port'), debugPort: parsePort(flags.debugPort, '--debug-port'),
      });
      const ca = await runCaService({
        ...(mesh.workloadCertTtlMs !== undefined ? { issuer: { defaultTtlMs: mesh.workloadCertTtlMs } } : {}),
        clients, namespace: flags.namespace, trustDomain: flags.trustDomain, logger: logger.child({ component: 'ca' }),
        port: parsePort(flags.caPort, '--ca-port'), host: flags.host,
        tls: flags.caTls ? { dnsNames: caServingNames(flags.revision, flags.namespace), ipAddresses: caServingIps(flags.host) } : false,
        bundleNamespaces: () => listMeshNamespaces(clients, flags.bundleNamespaceSelector),
        // The trust bundle goes to proxies over SDS (ROOTCA); root rotation reads their ACKs.
        onTrustBundle: (pems) => cp.setTrustBundle(pems),
        rotation: { proxies: cp, tickMs },
      });
      attached.ca = ca;
      // Injected pods mount the bundle ConfigMap from their own namespace: publish it to every
      // injection-enabled namespace soon after it is labeled (the CA's own recheck is hourly).
      const published = new Set<string>();
      const syncBundles = async (): Promise<void> => {
        const want = await listMeshNamespaces(clients, flags.bundleNamespaceSelector);
        for (const ns of want) {
          if (published.has(ns)) continue;
          await publishTrustBundle(clients, ns, ca.trustBundle());
          published.add(ns);
          logger.info({ namespace: ns }, 'trust bundle published');
        }
        for (const ns of published) if (!want.includes(ns)) published.delete(ns);
      };
      const bundleTimer = setInterval(() => {
        syncBundles().catch((e: unknown) => logger.warn({ err: errorMessage(e) }, 'trust bundle sync failed'));
      }, Math.max(1, Number(flags.bundleSyncSeconds) || 5) * 1000);
      bundleTimer.unref();
      const rejections = reportSeconds > 0
        ? new RejectionReporter({ clients, namespace: flags.namespace, status: () => cp.status().proxies, logger: logger.child({ component: 'rejections' }), intervalMs: reportSeconds * 1000 })
        : undefined;
      rejections?.start();
      logger.info({ xdsPort: flags.xdsPort, caPort: flags.caPort, debugPort: flags.debugPort }, 'control plane serving');
      onShutdown(logger, async () => { clearInterval(bundleTimer); await rejections?.stop(); await ca.close(); await cp.close(); });
    });
}
