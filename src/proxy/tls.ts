// Workload TLS identity: one swappable secure context used for every new inbound and
// outbound mTLS connection. Swapping never touches established connections. Peer
// identity is the SPIFFE URI SAN, checked against the expected set.
import tls from 'node:tls';
import { WeftError } from '../errors/errors.js';

export interface TlsMaterial {
  /** Leaf first, then intermediates (PEM). */
  certChainPem: string;
  keyPem: string;
  /** Trust bundle: every root the proxy accepts, PEM, possibly several during a root rotation. */
  rootsPem: string;
}

export class TlsIdentity {
  private ctx: tls.SecureContext;
  generation = 0;

  constructor(material: TlsMaterial) {
    this.ctx = TlsIdentity.build(material);
  }

  private static build(m: TlsMaterial): tls.SecureContext {
    try {
      return tls.createSecureContext({ cert: m.certChainPem, key: m.keyPem, ca: m.rootsPem, minVersion: 'TLSv1.2' });
    } catch (e) {
      throw new WeftError('WEFT_E_INVALID_INPUT', 'workload certificate rejected by TLS', { reason: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Replace cert, key and trust bundle for new connections (rotation). */
  update(material: TlsMaterial): void {
    this.ctx = TlsIdentity.build(material);
    this.generation++;
  }

  get secureContext(): tls.SecureContext {
    return this.ctx;
  }
}

/** URI SANs (spiffe://…) of a peer certificate. */
export function peerUris(cert: tls.PeerCertificate | undefined): string[] {
  const san = cert?.subjectaltname;
  if (!san) return [];
  return san.split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

/** An Error when the peer's SPIFFE ids match none of `expected` (empty = any verified peer). */
export function checkPeerIdentity(cert: tls.PeerCertificate | undefined, expected: readonly string[]): Error | undefined {
  if (expected.length === 0) return undefined;
  const uris = peerUris(cert);
  if (uris.some((u) => expected.includes(u))) return undefined;
  return new WeftError('WEFT_E_PERMISSION_DENIED', 'peer identity not in the expected set', { peer: uris, expected });
}
