// What every command receives: terminal I/O, a clock, where the package's manifests live,
// and the global flags. Built once by src/cli/program.ts.
import type { Command } from 'commander';
import type { CliIO } from './io.js';
import type { GlobalOptions } from './kube.js';
import type { ConfigPlanner } from './plan/plan.js';

export interface App {
  io: CliIO;
  now(): Date;
  /** Root of the installed package (holds manifests/ and package.json). */
  packageRoot: string;
  /** Weft version of this weftctl build. */
  version: string;
  /** The control plane's translation for `weftctl plan` (built in src/cmd/weftctl.ts; absent = plan unavailable). */
  planner?: ConfigPlanner;
}

/** Global flags (root options) merged with the command's own. */
export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Examples block for --help. */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}
