// `weft proxy sidecar|gateway|iptables|drain`. The lead wires registerProxyCommands into
// src/cmd; this module only builds the commands and their run functions.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { Command } from 'commander';
import { PROXY_PORTS, spiffeId } from '../api/sidecar.js';
import { parseIptablesArgs } from '../api/injection.js';
import { createRootLogger, type Logger } from '../log/logger.js';
import { errorMessage, WeftError } from '../errors/errors.js';
import { GATEWAY_TYPES } from '../api/meshconfig.js';
import { workloadCertMetricsText } from '../identity/cert-agent.js';
import { fileTokenSource } from '../identity/ca-client.js';
import { startWorkloadIdentity, type WorkloadIdentity } from './workload-identity.js';
import { bootstrapFromEnv, type DnsBootstrap, type ProxyBootstrap } from './bootstrap.js';
import { DnsProxy } from './dns/server.js';
import { parseResolvConf } from './dns/resolv-conf.js';
import type { NameTableShape } from './dns/names.js';
import { Proxy } from './proxy.js';
import { XdsClient } from './xds-client.js';
import { startAdminServer } from './admin.js';
import { applyIptables, hasGlobalIpv6, iptablesRules } from './iptables.js';
import { CredentialStore } from './credentials.js';
import { kubeSecretFetcher } from './kube-credentials.js';

export interface RunningProxy {
  proxy: Proxy;
  xds: XdsClient;
  /** The DNS proxy, when the bootstrap enables it. */
  dns?: DnsProxy;
  /** Graceful drain then stop everything. */
  shutdown(): Promise<void>;
}

async function readOptional(file: string): Promise<string | undefined> {
  try { return await readFile(file, 'utf8'); } catch { return undefined; }
}

/** The DNS proxy with upstreams and search list from the pod's resolv.conf (or explicit upstreams). */
async function startDnsProxy(d: DnsBootstrap, logger: Logger): Promise<DnsProxy> {
  const resolv = parseResolvConf((await readOptional(d.resolvConfPath)) ?? '');
  const upstreams = d.upstreams ?? resolv.nameservers;
  if (upstreams.length === 0) logger.warn({ resolvConf: d.resolvConfPath }, 'no dns upstreams; names outside the mesh get SERVFAIL');
  const dns = new DnsProxy({ host: d.host, ...(d.host === '127.0.0.1' ? { extraHosts: ['::1'] } : {}), port: d.port, upstreams, searchDomains: resolv.searches, clusterDomain: d.clusterDomain, logger,
    ...(d.forwardTimeoutMs !== undefined ? { forwardTimeoutMs: d.forwardTimeoutMs } : {}) });
  await dns.start();
  return dns;
}

/** A Deployment pod's workload: `web-5d8f7c9b4-x2x9q` -> `web`; any other pod name as is. */
export function workloadFromPodName(podName: string): string {
  return /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(podName)?.[1] ?? podName;
}

/** Starts a sidecar or gateway proxy from a bootstrap; returns handles for shutdown. */
export async function runProxy(b: ProxyBootstrap, logger: Logger, opts: { credentials?: CredentialStore } = {}): Promise<RunningProxy> {
  const proxy = new Proxy({
    logger: logger.child({ component: 'proxy' }),
    workload: {
      workload: workloadFromPodName(b.podName), namespace: b.namespace,
      principal: b.caAddress ? spiffeId(b.trustDomain, b.namespace, b.serviceAccount) : '',
    },
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    ...(b.tracing.endpoint ? { tracing: { ...b.tracing, nodeId: b.nodeId, serviceName: `${b.podName}.${b.namespace}` } } : {}),
    ...(b.accessLog ? { accessLog: createRootLogger('access', { level: 'info', destination: process.stdout }) } : {}),
  });
  let wid: WorkloadIdentity | undefined;
  if (b.caAddress) {
    const rootCertPem = await readOptional(b.trustBundleFile);
    wid = await startWorkloadIdentity({
      caAddress: b.caAddress, token: fileTokenSource(b.caTokenFile), ...(rootCertPem ? { rootCertPem } : {}),
      namespace: b.namespace, serviceAccount: b.serviceAccount, trustDomain: b.trustDomain, logger,
    });
    proxy.identity = wid.identity;
  }
  const identity = wid;
  const dns = b.dns ? await startDnsProxy(b.dns, logger.child({ component: 'dns' })) : undefined;
  const xds = new XdsClient({
    address: b.xdsAddress,
    node: {
      id: b.nodeId, cluster: b.namespace, user_agent_name: 'weft-proxy',
      ...(b.locality ? { locality: { region: b.locality.region, zone: b.locality.zone, sub_zone: b.locality.subZone } } : {}),
    }, logger: logger.child({ component: 'xds' }),
    onConfig: (cfg) => proxy.apply(cfg),
    // The mesh trust bundle over SDS (ROOTCA) keeps the identity in step with root rotation.
    ...(identity ? { onTrustBundle: (pems: string[], superseded: () => boolean) => identity.applyTrustBundle(pems, superseded) } : {}),
    ...(dns ? { onNameTable: (t: NameTableShape) => dns.setNameTable(t) } : {}),
  });
  xds.start();
  let draining: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    draining ??= (async () => {
      logger.info({ drainMs: b.drainMs }, 'draining');
      await proxy.drain(b.drainMs);
      xds.close();
      wid?.stop();
      admin.close();
      health.close();
      await dns?.close();
      await proxy.close();
    })();
    return draining;
  };
  const adminDeps = {
    proxy, xds, logger, drain: () => void shutdown(),
    certChainPem: () => wid?.agent.current()?.certChainPem.join(''),
    rootFingerprint: () => wid?.agent.current()?.rootFingerprint,
    ...(wid ? { extraMetrics: () => workloadCertMetricsText(wid?.agent.current(), Date.now()) } : {}),
    appProbes: b.appProbes,
    ...(dns ? { dns } : {}),
  };
  const admin = await startAdminServer(adminDeps, b.ports.admin);
  const health = await startAdminServer(adminDeps, b.ports.health, '0.0.0.0');
  return { proxy, xds, ...(dns ? { dns } : {}), shutdown };
}

export function registerProxyCommands(program: Command): Command {
  const proxyCmd = program.command('proxy').description('the Weft data plane (sidecar and gateway)');
  for (const mode of ['sidecar', 'gateway'] as const) {
    const cmd = proxyCmd.command(mode)
      .description(mode === 'sidecar' ? 'run as a pod sidecar (config from the injected environment)' : 'run as an ingress/egress gateway (listeners come from the Istio Gateways that select its pod labels)')
      .option('--log-level <level>', 'log level (default: $WEFT_LOG_LEVEL or info)');
    if (mode === 'gateway') {
      // `router` is Envoy/Istio's node type for gateways, and what earlier operator renders ran.
      cmd.alias('router').option('--gateway-type <type>', `the kind of gateway, ${GATEWAY_TYPES.join(' or ')} (informational: Gateway resources decide what it serves)`, 'ingress');
    }
    cmd.action(async (opts: { logLevel?: string; gatewayType?: string }) => {
      const env = process.env;
      const b = bootstrapFromEnv(env, mode === 'sidecar' ? 'sidecar' : 'router');
      if (opts.gatewayType !== undefined && !(GATEWAY_TYPES as readonly string[]).includes(opts.gatewayType)) {
        throw new WeftError('WEFT_E_INVALID_INPUT', `--gateway-type must be ${GATEWAY_TYPES.join(' or ')}`, { value: opts.gatewayType });
      }
      const logger = createRootLogger('weft-proxy', { level: opts.logLevel ?? b.logLevel });
      // Gateways serve credentialName Secrets from their own namespace (Istio's secure ingress).
      const credentials = mode === 'gateway'
        ? new CredentialStore(kubeSecretFetcher(b.namespace), logger.child({ component: 'credentials' }))
        : undefined;
      const running = await runProxy(b, logger, credentials ? { credentials } : {});
      const stop = (): void => {
        void running.shutdown().then(() => process.exit(0));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  }
  proxyCmd.command('iptables')
    .description('install the traffic capture rules (init container)')
    .allowUnknownOption(true)
    .helpOption(false)
    .argument('[flags...]')
    .option('--dry-run', 'print the iptables-restore input instead of applying it')
    .action(async (flags: string[], opts: { dryRun?: boolean }) => {
      const args = parseIptablesArgs(flags.filter((f) => f !== '--dry-run'));
      if (opts.dryRun) { process.stdout.write(iptablesRules(args)); return; }
      const ifInet6 = await readFile('/proc/net/if_inet6', 'utf8').catch(() => ''); // absent: no IPv6 in this kernel
      const ipv6 = args.excludeOutboundCidrs.some((c) => c.includes(':')) || hasGlobalIpv6(ifInet6);
      process.stdout.write(`weft proxy iptables: capture rules for IPv4${ipv6 ? ' and IPv6' : ''}\n`);
      await applyIptables(args, { ipv6 });
    });
  proxyCmd.command('drain')
    .description('ask the local proxy to drain (preStop hook)')
    .option('--seconds <n>', 'how long to wait for the drain', '5')
    .action(async (opts: { seconds: string }) => {
      await new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: PROXY_PORTS.admin, path: '/drain', method: 'POST' }, (res) => { res.resume(); res.on('end', () => resolve()); });
        req.on('error', (e) => { process.stderr.write(`drain: ${errorMessage(e)}\n`); resolve(); });
        req.end();
      });
      await new Promise((r) => setTimeout(r, Number(opts.seconds) * 1000));
    });
  return proxyCmd;
}
