// Rewritten app probes: the injector points the kubelet's httpGet/tcpSocket/grpc probes at
// the health port (/app-health/<container>/<livez|readyz|startupz>) and passes the original
// probes in WEFT_APP_PROBES. Under STRICT mTLS the kubelet's plaintext probe to the app port
// would be refused, so the proxy performs the original probe over localhost instead.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { WeftError } from '../errors/errors.js';

/** One original probe, as src/render/inject/probes.ts writes it. */
export interface AppProbe {
  httpGet?: { path: string; port: number; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number };
  grpc?: { port: number; service?: string };
  timeoutSeconds?: number;
}

export type AppProbes = ReadonlyMap<string, AppProbe>;

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;
}

/** Parses WEFT_APP_PROBES (path -> probe). Undefined or empty gives no probes; bad JSON or shapes are INVALID_CONFIG. */
export function parseAppProbes(json: string | undefined): AppProbes {
  const out = new Map<string, AppProbe>();
  if (!json) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new WeftError('WEFT_E_INVALID_CONFIG', 'WEFT_APP_PROBES is not valid JSON', {});
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new WeftError('WEFT_E_INVALID_CONFIG', 'WEFT_APP_PROBES must be an object of path -> probe', {});
  for (const [path, v] of Object.entries(raw as Record<string, unknown>)) {
    const p = v as AppProbe | null;
    const port = p?.httpGet?.port ?? p?.tcpSocket?.port ?? p?.grpc?.port;
    if (!p || typeof p !== 'object' || !validPort(port)) {
      throw new WeftError('WEFT_E_INVALID_CONFIG', 'WEFT_APP_PROBES entry has no valid httpGet, tcpSocket or grpc port', { path });
    }
    out.set(path, p);
  }
  return out;
}

/** Runs one probe against the app on 127.0.0.1 (the proxy's UID is not captured). Resolves true on success. */
export async function runAppProbe(p: AppProbe, host = '127.0.0.1'): Promise<boolean> {
  const timeoutMs = Math.max(1, p.timeoutSeconds ?? 1) * 1000;
  if (p.httpGet) {
    const g = p.httpGet;
    const lib = (g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? https : http;
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/weft' };
    for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    return await new Promise<boolean>((resolve) => {
      const req = lib.request({ host, port: g.port, path: g.path || '/', method: 'GET', headers, timeout: timeoutMs, agent: false, rejectUnauthorized: false }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400); // the kubelet's rule
      });
      req.on('timeout', () => req.destroy(new Error('probe timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  // tcpSocket, and grpc approximated by a connect (no grpc.health client in the proxy yet).
  const port = p.tcpSocket?.port ?? p.grpc?.port ?? 0;
  return await new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}
