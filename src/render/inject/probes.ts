// Probe rewriting. Under STRICT mTLS the kubelet's plain-text probes to the app's port would
// be captured and refused, so each httpGet/tcpSocket/grpc probe is pointed at the proxy's
// health port (/app-health/<container>/<livez|readyz|startupz>); the original probe goes
// into WEFT_APP_PROBES and the proxy performs it against the app over localhost.
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { APP_PROBE_PATH_PREFIX } from '../../api/injection.js';
import { PROXY_PORTS } from '../../api/sidecar.js';

/** What the proxy must do when kubelet hits a rewritten probe path. */
export interface OriginalProbe {
  httpGet?: { path: string; port: number; scheme: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number };
  grpc?: { port: number; service?: string };
  timeoutSeconds?: number;
}

const KINDS = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;

function resolvePort(c: V1Container, port: unknown): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string') {
    if (/^\d+$/.test(port)) return Number(port);
    const named = (c.ports ?? []).find((p) => p.name === port);
    return named?.containerPort;
  }
  return undefined;
}

function captured(port: number, include: '*' | number[], exclude: readonly number[]): boolean {
  if (exclude.includes(port)) return false;
  return include === '*' || include.includes(port);
}

export interface ProbeRewriteResult {
  /** path -> original probe; empty when nothing was rewritten. */
  probes: Record<string, OriginalProbe>;
  warnings: string[];
}

/** Rewrites probes of `containers` in place (the caller passes its own deep copy). */
export function rewriteProbes(
  containers: V1Container[],
  include: '*' | number[],
  exclude: readonly number[],
): ProbeRewriteResult {
  const probes: Record<string, OriginalProbe> = {};
  const warnings: string[] = [];
  for (const c of containers) {
    for (const [field, short] of KINDS) {
      const p: V1Probe | undefined = c[field];
      if (!p || p.exec) continue;
      let original: OriginalProbe;
      let rawPort: unknown;
      if (p.httpGet) {
        if (p.httpGet.host) continue; // probes another host: not our traffic
        rawPort = p.httpGet.port;
        const port = resolvePort(c, rawPort);
        if (port === undefined) {
          warnings.push(`container ${c.name}: ${field} port "${String(rawPort)}" is not a declared container port; probe left as is`);
          continue;
        }
        if (!captured(port, include, exclude)) continue;
        original = { httpGet: { path: p.httpGet.path ?? '/', port, scheme: p.httpGet.scheme ?? 'HTTP' } };
        if (p.httpGet.httpHeaders?.length) original.httpGet!.httpHeaders = p.httpGet.httpHeaders.map((h) => ({ name: h.name, value: h.value }));
      } else if (p.tcpSocket) {
        rawPort = p.tcpSocket.port;
        const port = resolvePort(c, rawPort);
        if (port === undefined) {
          warnings.push(`container ${c.name}: ${field} port "${String(rawPort)}" is not a declared container port; probe left as is`);
          continue;
        }
        if (!captured(port, include, exclude)) continue;
        original = { tcpSocket: { port } };
      } else if (p.grpc) {
        if (!captured(p.grpc.port, include, exclude)) continue;
        original = { grpc: { port: p.grpc.port, ...(p.grpc.service ? { service: p.grpc.service } : {}) } };
      } else {
        continue;
      }
      if (p.timeoutSeconds !== undefined) original.timeoutSeconds = p.timeoutSeconds;
      const path = `${APP_PROBE_PATH_PREFIX}${c.name}/${short}`;
      probes[path] = original;
      const rewritten: V1Probe = { ...p, httpGet: { path, port: PROXY_PORTS.health, scheme: 'HTTP' } };
      delete rewritten.tcpSocket;
      delete rewritten.grpc;
      c[field] = rewritten;
    }
  }
  return { probes, warnings };
}
