// Whether a server-side TLSSocket's client certificate chained to our trust bundle.
// Node computes `authorized` only for sockets accepted by a tls.Server; the proxy builds
// TLSSockets itself (after protocol detection), so it must read the handshake's verify
// result the same way tls.Server does (onServerSocketSecure -> _handle.verifyError()).
import type tls from 'node:tls';

interface TlsHandle { verifyError?: () => Error | null }

/** undefined when verified; else the OpenSSL verify error code (or 'NO_PEER_CERTIFICATE'). */
export function clientCertError(ts: tls.TLSSocket): string | undefined {
  const handle = (ts as unknown as { _handle?: TlsHandle })._handle;
  if (!handle?.verifyError) return 'NO_TLS_HANDLE';
  const err = handle.verifyError();
  if (err) return (err as Error & { code?: string }).code ?? err.message;
  const cert = ts.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? undefined : 'NO_PEER_CERTIFICATE';
}
