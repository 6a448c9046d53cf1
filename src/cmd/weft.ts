#!/usr/bin/env node
// `weft`: one binary, many entrypoints (operator, controlplane, proxy), the way istiod bundles
// its parts. Wiring and signals only; every component lives in its own module.
import { Command } from 'commander';
import { errorMessage } from '../errors/errors.js';
import { readPackageVersion } from './version.js';

const program = new Command('weft')
  .description('Weft service mesh: one image, several entrypoints')
  .version(readPackageVersion())
  .showHelpAfterError()
  .addHelpText('after', `
Examples:
  weft operator --kubeconfig .cluster/kubeconfig          # reconcile MeshConfig, serve the injector
  weft controlplane --host 127.0.0.1                      # registry + ADS + CA
  weft proxy sidecar                                      # inside an injected pod
  weft proxy iptables --help                              # the init container's capture rules
`);
// Command groups are imported on demand: `weft proxy sidecar` in every pod loads the proxy
// group only, not the operator's and control plane's Kubernetes client, express and xDS
// server (tens of MB of RSS per sidecar). Without a known group name, all are registered (help).
const GROUPS: Record<string, () => Promise<(p: Command) => unknown>> = {
  operator: async () => (await import('./operator.js')).registerOperatorCommand,
  controlplane: async () => (await import('./controlplane.js')).registerControlPlaneCommand,
  proxy: async () => (await import('../proxy/command.js')).registerProxyCommands,
};
const first = process.argv[2];
for (const name of first !== undefined && first in GROUPS ? [first] : Object.keys(GROUPS)) (await GROUPS[name]!())(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`weft: ${errorMessage(err)}\n`);
  process.exit(1);
});
