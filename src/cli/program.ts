// The weftctl command tree (commander). run() is the whole CLI as a function: argv in, exit
// code out, all output through app.io, so tests can run it in-process.
import { Command, CommanderError, Option } from 'commander';
import { examples, type App } from './app.js';
import { CliError, EXIT } from './io.js';
import { OUTPUT_FORMATS } from './output.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerCheck } from './commands/check.js';
import { registerStatus } from './commands/status.js';
import { registerKubeInject } from './commands/kube-inject.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerPlan } from './commands/plan.js';
import { registerProxy } from './commands/proxy.js';
import { registerRotateRoot } from './commands/rotate-root.js';
import { registerVersion } from './commands/version.js';

export function buildProgram(app: App): Command {
  const program = new Command('weftctl');
  program
    .description('weftctl: install, check, analyze and debug the Weft service mesh')
    .option('--kubeconfig <path>', 'path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <namespace>', 'namespace scope (default: the context namespace, else "default")')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS))
    .option('--no-color', 'never colour output (colour is used only on a TTY and when NO_COLOR is unset)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => app.io.out(s),
      writeErr: (s) => app.io.err(s),
      outputError: (s, write) => write(s),
    })
    .addHelpText('after', examples([
      'weftctl check --pre                  # is this cluster ready for Weft?',
      'weftctl install --set version=0.1.0 --wait',
      'weftctl status',
      'weftctl analyze -A',
      'weftctl kube-inject -f deployment.yaml | kubectl apply -f -',
      'weftctl plan -f virtualservice.yaml       # what would this change do to each proxy?',
      'weftctl rotate-root --wait               # rotate the mesh CA root now',
    ]));
  registerAnalyze(program, app);
  registerCheck(program, app);
  registerStatus(program, app);
  registerKubeInject(program, app);
  registerLifecycle(program, app);
  registerPlan(program, app);
  registerProxy(program, app);
  registerRotateRoot(program, app);
  registerVersion(program, app);
  // Subcommands inherit the error routing and exit override.
  for (const c of program.commands) {
    c.exitOverride().configureOutput({ writeOut: (s) => app.io.out(s), writeErr: (s) => app.io.err(s), outputError: (s, write) => write(s) });
    c.showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

/** Runs weftctl with argv (without node and script). Returns the exit code. */
export async function run(argv: readonly string[], app: App): Promise<number> {
  const program = buildProgram(app);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.executeSubCommandAsync') return EXIT.ok;
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      if (e.message) app.io.err(`Error: ${e.message}\n`);
      return e.exitCode;
    }
    app.io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.failure;
  }
}
