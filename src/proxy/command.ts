// `weft proxy sidecar|gateway|iptables|drain`. The lead wires registerProxyCommands into
// src/cmd; this module only builds the commands and their run functions.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { Command } from 'commander';
import { PROXY_PORTS } from '../api/sidecar.js';
import { parseIptablesArgs } from '../api/injection.js';
import { createRootLogger, type Logger } from '../log/logger.js';
import { errorMessage } from '../errors/errors.js';
import { CertAgent, workloadCertMetricsText } from '../identity/cert-agent.js';
import { GrpcCaClient, fileTokenSource } from '../identity/ca-client.js';
import { bootstrapFromEnv, type ProxyBootstrap } from './bootstrap.js';
import { Proxy } from './proxy.js';
import { XdsClient } from './xds-client.js';
import { TlsIdentity } from './tls.js';
import { startAdminServer } from './admin.js';
import { applyIptables, iptablesRules } from './iptables.js';

export interface RunningProxy {
  proxy: Proxy;
  xds: XdsClient;
  /** Graceful drain then stop everything. */
  shutdown(): Promise<void>;
}

async function readOptional(file: string): Promise<string | undefined> {
  try { return await readFile(file, 'utf8'); } catch { return undefined; }
}

/** Starts a sidecar or gateway proxy from a bootstrap; returns handles for shutdown. */
export async function runProxy(b: ProxyBootstrap, logger: Logger): Promise<RunningProxy> {
  const proxy = new Proxy({
    logger: logger.child({ component: 'proxy' }),
    ...(b.tracing.endpoint ? { tracing: { ...b.tracing, nodeId: b.nodeId, serviceName: `${b.podName}.${b.namespace}` } } : {}),
  });
  let agent: CertAgent | undefined;
  if (b.caAddress) {
    const rootCertPem = await readOptional(b.trustBundleFile);
    const ca = new GrpcCaClient({ address: b.caAddress, token: fileTokenSource(b.caTokenFile), ...(rootCertPem ? { rootCertPem } : {}) });
    agent = new CertAgent({ ca, namespace: b.namespace, serviceAccount: b.serviceAccount, trustDomain: b.trustDomain, logger });
    const cert = await agent.start();
    const material = (c: typeof cert): ConstructorParameters<typeof TlsIdentity>[0] =>
      ({ certChainPem: c.certChainPem.join(''), keyPem: c.privateKeyPem, rootsPem: c.trustBundlePem.join('') });
    const identity = new TlsIdentity(material(cert));
    proxy.identity = identity;
    agent.on('rotated', (c) => identity.update(material(c)));
  }
  const xds = new XdsClient({
    address: b.xdsAddress,
    node: {
      id: b.nodeId, cluster: b.namespace, user_agent_name: 'weft-proxy',
      ...(b.locality ? { locality: { region: b.locality.region, zone: b.locality.zone, sub_zone: b.locality.subZone } } : {}),
    }, logger: logger.child({ component: 'xds' }),
    onConfig: (cfg) => proxy.apply(cfg),
  });
  xds.start();
  let draining: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    draining ??= (async () => {
      logger.info({ drainMs: b.drainMs }, 'draining');
      await proxy.drain(b.drainMs);
      xds.close();
      agent?.stop();
      admin.close();
      health.close();
      await proxy.close();
    })();
    return draining;
  };
  const adminDeps = {
    proxy, xds, logger, drain: () => void shutdown(),
    certChainPem: () => agent?.current()?.certChainPem.join(''),
    ...(agent ? { extraMetrics: () => workloadCertMetricsText(agent?.current(), Date.now()) } : {}),
    appProbes: b.appProbes,
  };
  const admin = await startAdminServer(adminDeps, b.ports.admin);
  const health = await startAdminServer(adminDeps, b.ports.health, '0.0.0.0');
  return { proxy, xds, shutdown };
}

export function registerProxyCommands(program: Command): Command {
  const proxyCmd = program.command('proxy').description('the Weft data plane (sidecar and gateway)');
  for (const mode of ['sidecar', 'gateway'] as const) {
    proxyCmd.command(mode)
      .description(mode === 'sidecar' ? 'run as a pod sidecar (config from the injected environment)' : 'run as an ingress/egress gateway')
      .action(async () => {
        const env = process.env;
        const b = bootstrapFromEnv(env, mode === 'sidecar' ? 'sidecar' : 'router');
        const logger = createRootLogger('weft-proxy', { level: b.logLevel });
        const running = await runProxy(b, logger);
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
      await applyIptables(args, { ipv6: args.excludeOutboundCidrs.some((c) => c.includes(':')) });
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
