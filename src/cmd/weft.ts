#!/usr/bin/env node
// `weft`: one binary, many entrypoints (operator, controlplane, proxy), the way istiod bundles
// its parts. Wiring and signals only; every component lives in its own module.
import { Command } from 'commander';
import { registerControlPlaneCommand } from './controlplane.js';
import { registerOperatorCommand } from './operator.js';
import { registerProxyCommands } from '../proxy/command.js';
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
registerOperatorCommand(program);
registerControlPlaneCommand(program);
registerProxyCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`weft: ${errorMessage(err)}\n`);
  process.exit(1);
});
