// The only place that reads process.env for the entrypoints: every value becomes part of
// a frozen config object that components receive through their constructors.

export interface CommonFlags {
  kubeconfig?: string;
  logLevel: string;
}

export function commonFromEnv(env: NodeJS.ProcessEnv, flags: { kubeconfig?: string; logLevel?: string }): Readonly<CommonFlags> {
  const kubeconfig = flags.kubeconfig ?? env.KUBECONFIG;
  return Object.freeze({
    ...(kubeconfig ? { kubeconfig } : {}),
    logLevel: flags.logLevel ?? env.WEFT_LOG_LEVEL ?? 'info',
  });
}

export function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag}: "${value}" is not a port number (0-65535)`);
  return n;
}
