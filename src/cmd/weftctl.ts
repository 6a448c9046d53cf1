#!/usr/bin/env node
// weftctl entrypoint: the only place that reads process.env/argv/TTY state and exits.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { colorAllowed, type CliIO } from '../cli/io.js';
import { run } from '../cli/program.js';
import type { ConfigPlanner, PlanState } from '../cli/plan/plan.js';
import type { IstioObject } from '../api/istio/types.js';
import { buildModel, type RegistryState } from '../xds/registry/convert.js';
import { buildResources } from '../xds/translate/index.js';

// dist/src/cmd/weftctl.js -> package root is three levels up.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The Istio objects of one kind, typed for the registry. */
function ofKind<T>(state: PlanState, kind: IstioObject<string, unknown>['kind']): T[] {
  return state.istio.filter((o) => o.kind === kind) as unknown as T[];
}

/** weftctl plan's translation: the control plane's own buildModel + buildResources (pure). */
const controlPlanePlanner: ConfigPlanner = {
  translate(state, proxy, opts) {
    const registry: RegistryState = {
      services: state.services,
      endpointSlices: state.endpointSlices,
      pods: state.pods,
      nodes: state.nodes,
      namespaces: state.namespaces,
      virtualServices: ofKind(state, 'VirtualService'),
      destinationRules: ofKind(state, 'DestinationRule'),
      gateways: ofKind(state, 'Gateway'),
      serviceEntries: ofKind(state, 'ServiceEntry'),
      peerAuthentications: ofKind(state, 'PeerAuthentication'),
      authorizationPolicies: ofKind(state, 'AuthorizationPolicy'),
      requestAuthentications: ofKind(state, 'RequestAuthentication'),
    };
    const model = buildModel(registry, { domain: opts.domain, rootNamespace: opts.rootNamespace, trustDomain: opts.trustDomain });
    const r = buildResources(model, proxy);
    return { clusters: r.clusters ?? [], listeners: r.listeners ?? [], routes: r.routes ?? [], endpoints: r.endpoints ?? [] };
  },
};

const argv = process.argv.slice(2);
// `weftctl ... | head` closes the pipe early: stop quietly, as kubectl does, instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const io: CliIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  color: colorAllowed(process.stdout.isTTY, process.env.NO_COLOR, argv.includes('--no-color')),
};

const code = await run(argv, { io, now: () => new Date(), packageRoot, version: packageVersion(), planner: controlPlanePlanner });
// Let stdout drain before exiting (pipes are async).
process.exitCode = code;
