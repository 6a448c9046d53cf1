// Gateway TLS credentials (Istio's credentialName): certificates a gateway serves on its
// SIMPLE/MUTUAL servers come from Secrets in the gateway's own namespace, fetched by the
// gateway itself with its ServiceAccount, so keys never travel through the control plane or
// appear in listener config. The store fetches each wanted name, refreshes it periodically
// (rotation), keeps the last good context when a refresh fails, and forgets unused names.
import tls from 'node:tls';
import type { Logger } from '../log/logger.js';

export interface TlsCredential {
  certPem: string;
  keyPem: string;
  /** CA bundle for MUTUAL servers: client certificates must chain to it (the Secret's ca.crt / cacert). */
  caPem?: string;
}

/** Fetches one Secret's credential; undefined when it does not exist or holds none. */
export type CredentialFetcher = (name: string) => Promise<TlsCredential | undefined>;

/** A Secret's data (base64 values) -> credential: kubernetes.io/tls keys, or Istio's generic cert/key. */
export function credentialFromSecretData(data: Record<string, string> | undefined): TlsCredential | undefined {
  if (!data) return undefined;
  const certPem = pickPem(data, 'tls.crt', 'cert');
  const keyPem = pickPem(data, 'tls.key', 'key');
  if (!certPem?.includes('-----BEGIN CERTIFICATE-----') || !keyPem?.includes('PRIVATE KEY-----')) return undefined;
  // Istio's MUTUAL task puts the client CA in the same Secret (kubectl create secret generic ... --from-file=ca.crt).
  const caPem = caFromSecretData(data);
  return caPem ? { certPem, keyPem, caPem } : { certPem, keyPem };
}

/** The client CA a Secret holds under ca.crt or cacert; undefined when absent or not PEM. */
export function caFromSecretData(data: Record<string, string> | undefined): string | undefined {
  const caPem = data ? pickPem(data, 'ca.crt', 'cacert') : undefined;
  return caPem?.includes('-----BEGIN CERTIFICATE-----') ? caPem : undefined;
}

/**
 * Istio also reads a MUTUAL server's client CA from a separate Secret named
 * `<credentialName>-cacert`; the credential's own ca.crt wins when both exist.
 */
export function cacertSecretName(credentialName: string): string {
  return `${credentialName}-cacert`;
}

function pickPem(data: Record<string, string>, ...keys: string[]): string | undefined {
  for (const k of keys) if (data[k]) return Buffer.from(data[k], 'base64').toString('utf8');
  return undefined;
}

export class CredentialStore {
  private readonly contexts = new Map<string, tls.SecureContext>();
  private readonly wanted = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly fetch: CredentialFetcher, private readonly logger: Logger, refreshMs = 30_000) {
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
  }

  /** The names the current config serves: new ones are fetched now, unused ones forgotten. */
  want(names: Iterable<string>): Promise<void> {
    const next = new Set(names);
    for (const n of [...this.wanted]) if (!next.has(n)) { this.wanted.delete(n); this.contexts.delete(n); }
    const loads: Promise<void>[] = [];
    for (const n of next) if (!this.wanted.has(n)) { this.wanted.add(n); loads.push(this.load(n)); }
    return Promise.all(loads).then(() => undefined);
  }

  /** Re-reads every wanted Secret (rotation); the interval calls it. */
  refresh(): Promise<void> {
    return Promise.all([...this.wanted].map((n) => this.load(n))).then(() => undefined);
  }

  /** The serving context for a name; undefined until (or unless) its Secret is usable. */
  get(name: string): tls.SecureContext | undefined {
    return this.contexts.get(name);
  }

  private load(name: string): Promise<void> {
    const cur = this.inFlight.get(name);
    if (cur) return cur;
    const p = (async () => {
      try {
        const c = await this.fetch(name);
        if (!this.wanted.has(name)) return;
        if (!c) {
          // Envoy serves nothing for a missing credential: connections on that chain are closed.
          if (this.contexts.delete(name)) this.logger.warn({ credential: name }, 'TLS credential is gone');
          else this.logger.warn({ credential: name }, 'TLS credential not found (or holds no tls.crt/tls.key)');
          return;
        }
        const had = this.contexts.has(name);
        // With a CA, client certificates are verified against it alone (MUTUAL); without one a
        // MUTUAL server can verify nobody, so every client certificate is refused.
        this.contexts.set(name, tls.createSecureContext({ cert: c.certPem, key: c.keyPem, ...(c.caPem ? { ca: c.caPem } : {}) }));
        if (!had) this.logger.info({ credential: name }, 'TLS credential loaded');
      } catch (err) {
        // A failed refresh keeps the last good context (the API server may just be away).
        this.logger.warn({ err, credential: name }, 'TLS credential fetch failed');
      } finally {
        this.inFlight.delete(name);
      }
    })();
    this.inFlight.set(name, p);
    return p;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.wanted.clear();
    this.contexts.clear();
  }
}
