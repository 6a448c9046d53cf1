#!/usr/bin/env node
// weftctl entrypoint: the only place that reads process.env/argv/TTY state and exits.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { colorAllowed, type CliIO } from '../cli/io.js';
import { run } from '../cli/program.js';

// dist/src/cmd/weftctl.js -> package root is three levels up.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const argv = process.argv.slice(2);
const io: CliIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  color: colorAllowed(process.stdout.isTTY, process.env.NO_COLOR, argv.includes('--no-color')),
};

const code = await run(argv, { io, now: () => new Date(), packageRoot, version: packageVersion() });
// Let stdout drain before exiting (pipes are async).
process.exitCode = code;
