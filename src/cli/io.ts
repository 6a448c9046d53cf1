// Terminal I/O for weftctl: where output goes, whether it may be coloured, and the error type
// that carries an exit code to the edge (src/cmd/weftctl.ts). Commands never call
// process.exit or read process.env; they get a CliIO through their dependencies.

export interface CliIO {
  /** Writes to stdout (command output). */
  out(text: string): void;
  /** Writes to stderr (progress, warnings, errors). */
  err(text: string): void;
  /** True when stdout is a TTY and NO_COLOR is unset: colour is allowed. */
  color: boolean;
}

/** Exit codes: 0 ok, 1 failure found (check/analyze), 2 usage error, 3 cluster unreachable/API error. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, cluster: 3 });

/** An error that ends the command with a message on stderr and a specific exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A CliIO that records everything, for unit tests. */
export interface BufferIO extends CliIO {
  stdout: string[];
  stderr: string[];
}

export function bufferIO(color = false): BufferIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, color, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t) };
}

const CODES = Object.freeze({ red: 31, green: 32, yellow: 33, blue: 34, cyan: 36, gray: 90, bold: 1 });
export type ColorName = keyof typeof CODES;

export interface Paint {
  (color: ColorName, text: string): string;
}

/** Returns a painter that wraps text in ANSI colour only when colour is on. */
export function painter(color: boolean): Paint {
  return (c, text) => (color ? `\u001b[${CODES[c]}m${text}\u001b[0m` : text);
}

/** Decides colour from the facts the entrypoint reads (TTY, NO_COLOR, --no-color). Pure. */
export function colorAllowed(isTTY: boolean | undefined, noColorEnv: string | undefined, noColorFlag = false): boolean {
  return Boolean(isTTY) && (noColorEnv === undefined || noColorEnv === '') && !noColorFlag;
}
