#!/usr/bin/env node
// Entry point of the process kubelet (test/dev infrastructure): flags, pid file, signals.
// Exit code 3 means another process kubelet already runs (see its pid file).
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { createRootLogger } from '../../src/log/logger.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { errorMessage } from '../../src/errors/errors.js';
import { ProcessKubelet } from './kubelet.js';
import { defaultVersionCacheDir } from './images.js';
import { REPO_ROOT } from './repo-root.js';

export { REPO_ROOT };

export const EXIT_ALREADY_RUNNING = 3;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('process-kubelet');
  } catch {
    return false;
  }
}

/** Takes the pid file atomically; returns the other owner's pid if one is alive. */
export function acquirePidFile(file: string): number | undefined {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = Number(fs.readFileSync(file, 'utf8').trim());
      if (other && other !== process.pid && pidAlive(other)) return other;
      fs.rmSync(file, { force: true }); // stale
    }
  }
  return undefined;
}

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

async function main(): Promise<void> {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const clusterDir = process.env.WEFT_CLUSTER_DIR ?? path.join(REPO_ROOT, '.cluster');
  const program = new Command()
    .name('process-kubelet')
    .description('Test-only kubelet: runs the pods of one node as local processes in network namespaces')
    .option('--kubeconfig <path>', 'kubeconfig (admin)', path.join(clusterDir, 'kubeconfig'))
    .option('--node-name <name>', 'Node to register', 'weft-proc-0')
    .option('--node-ip <ip>', 'Node InternalIP (inside the blackholed node CIDR)', '10.89.0.20')
    .option('--bridge <name>', 'host bridge the pod veths join', 'weft0')
    .option('--gateway <ip>', 'bridge address: pods default route', '10.88.0.1')
    .option('--pod-prefix-len <n>', 'prefix length on pod eth0 (the routed pod CIDR)', '16')
    .option('--state-dir <dir>', 'per-pod state (volumes, logs)', path.join(clusterDir, 'process-kubelet'))
    .option('--pid-file <path>', 'pid file; a live owner makes this exit with code 3', path.join(clusterDir, 'process-kubelet.pid'))
    .option('--api-forward <host:port>', 'in-pod API address (forwarded to the API server)', '10.88.0.1:16443')
    .option('--cluster-dns <ip>', "cluster DNS address (port 53): pods' nameserver; '' = none", '10.88.0.1')
    .option('--version-cache <dir>', 'builds of previous weft versions: <dir>/<version>/dist/...', defaultVersionCacheDir())
    .option('--backoff-base-ms <n>', 'container restart backoff start', '1000')
    .option('--backoff-max-ms <n>', 'container restart backoff cap', '30000')
    .option('--keep-node', 'on exit mark the Node NotReady instead of deleting it', false)
    .option('--log-level <level>', 'pino level', 'info')
    .parse();
  const opts = program.opts<{
    kubeconfig: string; nodeName: string; nodeIp: string; bridge: string; gateway: string; podPrefixLen: string; stateDir: string;
    pidFile: string; apiForward: string; clusterDns: string; versionCache: string; backoffBaseMs: string; backoffMaxMs: string; keepNode: boolean; logLevel: string;
  }>();
  const logger = createRootLogger('process-kubelet', { level: opts.logLevel });
  const other = acquirePidFile(opts.pidFile);
  if (other !== undefined) {
    logger.warn({ pid: other, pidFile: opts.pidFile }, 'another process kubelet is running');
    process.exit(EXIT_ALREADY_RUNNING);
  }
  const kc = loadKubeConfig({ kubeconfig: opts.kubeconfig });
  const server = new URL(kc.getCurrentCluster()?.server ?? 'https://127.0.0.1:16443');
  const kubelet = new ProcessKubelet({
    kubeconfig: kc,
    nodeName: opts.nodeName,
    nodeIP: opts.nodeIp,
    bridge: opts.bridge,
    gateway: opts.gateway,
    podPrefixLen: Number(opts.podPrefixLen),
    stateDir: opts.stateDir,
    images: { repoRoot: REPO_ROOT, weftVersion: pkg.version, versionCacheDir: opts.versionCache, nodePath: process.execPath },
    apiForwardListen: parseHostPort(opts.apiForward),
    apiTarget: { host: server.hostname, port: Number(server.port || 443) },
    ...(opts.clusterDns ? { clusterDnsHost: opts.clusterDns } : {}),
    backoffBaseMs: Number(opts.backoffBaseMs),
    backoffMaxMs: Number(opts.backoffMaxMs),
    deleteNodeOnExit: !opts.keepNode,
    logger,
  });
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: sig }, 'stopping process kubelet');
    const hard = setTimeout(() => process.exit(1), 60_000);
    hard.unref();
    kubelet
      .stop()
      .catch((e: unknown) => logger.error({ err: errorMessage(e) }, 'shutdown failed'))
      .finally(() => {
        fs.rmSync(opts.pidFile, { force: true });
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await kubelet.start();
  } catch (e) {
    logger.error({ err: errorMessage(e), details: (e as { details?: unknown }).details }, 'process kubelet failed to start');
    await kubelet.stop().catch(() => undefined);
    fs.rmSync(opts.pidFile, { force: true });
    process.exit(1);
  }
}

await main();
