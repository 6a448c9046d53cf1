// One bound listener: accept -> (original destination hand-off) -> detect -> pick filter
// chain -> TLS termination -> HTTP/1, HTTP/2 or TCP. Every socket error ends in a clean
// close of that connection; nothing here may throw into the event loop.
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import type { FilterChain, Listener, ProxyConfig, RouteTable } from './config/model.js';
import { detectProtocol, MAX_DETECT_BYTES, type Detected } from './detect.js';
import { needsDetection, selectFilterChain, type ConnectionFacts } from './filter-chain.js';
import type { HttpContext, HttpProxy } from './http-proxy.js';
import type { H2Proxy } from './h2-proxy.js';
import { tcpConnContext, type TcpProxy } from './tcp-proxy.js';
import { checkPeerIdentity, peerUris, type TlsIdentity } from './tls.js';
import { clientCertError, evaluateNetworkRbac, type AuthzConnection } from './authz/index.js';
import { originalDst, type OrigDst } from './orig-dst.js';
import { ReplaySocket } from './replay-socket.js';
import { RawHttp1, type RawHttp1Host } from './h1/raw-http1.js';
import { DEFAULT_HEADER_LIMITS, h2HeaderViolation, type HeaderLimits } from './header-limits.js';

/** WEFT_HTTP1_FASTPATH=0 sends every HTTP/1.1 connection through node:http (a kill switch, and an A/B anchor). */
const FAST_PATH = process.env.WEFT_HTTP1_FASTPATH !== '0';
const KEEP_ALIVE_MS = 60_000;

export interface ListenerDeps {
  config: () => ProxyConfig;
  http: HttpProxy;
  h2: H2Proxy;
  tcp: TcpProxy;
  identity: () => TlsIdentity | undefined;
  logger: Logger;
  origDst: (s: net.Socket) => OrigDst;
  /** The serving context of a gateway credential (credentialName); undefined = not loaded. */
  credential?: (name: string) => tls.SecureContext | undefined;
}

/**
 * What a connection was dispatched with. Filter chains are resolved per connection, but a
 * config push can change a chain (an AuthorizationPolicy edits its RBAC filters) while a
 * keep-alive connection lives on: `generation` says which config the chain came from, and a
 * stale context is re-resolved from `listener` + `facts` before the next request uses it.
 */
interface ConnCtx {
  http: HttpContext;
  chain: FilterChain;
  listener: string;
  facts: ConnectionFacts;
  generation: number;
  peer?: string;
  conn?: AuthzConnection;
}

const HEADERS_TIMEOUT_MS = 10_000; // slowloris: the whole header block must arrive within this

export class ListenerRuntime {
  readonly server: net.Server;
  /** The [::] twin of a 0.0.0.0 listener, when the host has IPv6. */
  private server6: net.Server | undefined;
  private readonly h1: http.Server;
  private readonly raw: RawHttp1 | undefined;
  private readonly h2s: http2.Http2Server;
  private readonly ctxs = new WeakMap<object, ConnCtx>();
  private readonly sockets = new Set<net.Socket>();
  private pendingH2: ConnCtx | undefined;
  private draining = false;
  /** Bumped on every config change; contexts from an older generation are re-resolved. */
  private generation = 0;
  private readonly h2Sessions = new Set<http2.ServerHttp2Session>();
  private readonly h2Prefix = new WeakMap<net.Socket, Buffer>();
  /** Per accepted socket: the addresses and destination port RBAC sees. */
  private readonly connFacts = new WeakMap<net.Socket, AuthzConnection>();

  constructor(public name: string, private readonly deps: ListenerDeps, limits: HeaderLimits = DEFAULT_HEADER_LIMITS, headersTimeoutMs = HEADERS_TIMEOUT_MS) {
    const { maxHeaderBytes, maxHeaders } = limits;
    this.server = net.createServer({ noDelay: true }, (s) => this.accept(s));
    this.server.on('error', (err) => deps.logger.error({ err, listener: name }, 'listener error'));
    this.h1 = http.createServer({
      maxHeaderSize: maxHeaderBytes, headersTimeout: headersTimeoutMs, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_MS,
      // Node checks header deadlines on this interval (default 30 s); keep it well under the timeout.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 2))),
    });
    // node:http silently drops header lines past maxHeadersCount: keep one more, so that a
    // request over the limit is visible and gets the 431 the raw path gives.
    this.h1.maxHeadersCount = maxHeaders + 1;
    const tooManyHeaders = (req: http.IncomingMessage): boolean => req.rawHeaders.length / 2 > maxHeaders;
    this.raw = FAST_PATH ? new RawHttp1(deps.http, { maxHeaderBytes, maxHeaders, headersTimeoutMs, keepAliveMs: KEEP_ALIVE_MS }) : undefined;
    // This server never listens (connections are handed to it), and Node only starts its
    // header/request deadline checks on 'listening': start them now, or slowloris wins.
    this.h1.emit('listening');
    this.h1.on('request', (req, res) => {
      const c0 = this.ctxs.get(req.socket);
      if (!c0) { res.destroy(); return; }
      const c = this.current(c0);
      if (!c) { this.chainGone(res); return; }
      if (tooManyHeaders(req)) { res.writeHead(431, { 'content-length': '0', connection: 'close' }).end(); return; }
      if (this.draining) res.shouldKeepAlive = false; // finish this one, then close the connection
      deps.http.handle(req, res, c.http);
    });
    this.h1.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const c0 = this.ctxs.get(req.socket);
      const c = c0 ? this.current(c0) : undefined;
      if (!c) { socket.destroy(); return; }
      if (tooManyHeaders(req)) { socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'); return; }
      deps.http.handleUpgrade(req, socket, head, c.http);
    });
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if ((socket as net.Socket).writable && !(socket as net.Socket).writableEnded) {
        socket.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      } else socket.destroy();
    });
    // Node resets streams past maxHeaderListPairs (pseudo-headers included) with ENHANCE_YOUR_CALM;
    // the headroom lets a block just over max_headers_count reach the clearer 431 below.
    this.h2s = http2.createServer({ maxSessionMemory: 10, maxHeaderListPairs: maxHeaders + 32, settings: { maxConcurrentStreams: 256, maxHeaderListSize: maxHeaderBytes } });
    this.h2s.on('stream', (stream, headers, _flags, rawHeaders: string[]) => {
      // First, before anything can close it: a stream the client already reset (rapid reset,
      // CVE-2023-44487) errors on close, and an 'error' with no listener would crash the process.
      stream.on('error', () => undefined);
      if (stream.destroyed || stream.closed) return;
      const tooBig = h2HeaderViolation(rawHeaders, limits);
      if (tooBig) { refuseHeaders(stream, tooBig, deps.logger); return; }
      const c0 = stream.session ? this.ctxs.get(stream.session) : undefined;
      const c = c0 ? this.current(c0) : undefined;
      if (!c) { stream.close(http2.constants.NGHTTP2_REFUSED_STREAM); return; }
      deps.h2.handle(stream, headers, c.http);
    });
    this.h2s.on('sessionError', () => { /* the session is torn down; nothing else to do */ });
    this.h2s.on('session', (session) => {
      // 'session' fires synchronously inside emit('connection'), so the pending context is this one's.
      if (this.pendingH2) { this.ctxs.set(session, this.pendingH2); this.pendingH2 = undefined; }
      session.on('error', () => { /* e.g. protocol errors from garbage frames */ });
      this.h2Sessions.add(session);
      session.on('close', () => this.h2Sessions.delete(session));
      if (this.draining) session.close();
    });
  }

  async listen(address: string, port: number): Promise<number> {
    const bound = await listenOn(this.server, { host: address, port });
    // Envoy's 0.0.0.0 listeners in a dual-stack pod also take IPv6 (Istio adds "::" as an
    // additional address): ip6tables redirects the app's IPv6 traffic to the same ports.
    if (address === '0.0.0.0') await this.listenIpv6(bound);
    return bound;
  }

  /** The IPv6 twin of a wildcard listener; a pod without IPv6 just goes on with IPv4. */
  private async listenIpv6(port: number): Promise<void> {
    const s6 = net.createServer({ noDelay: true }, (s) => this.accept(s));
    try {
      await listenOn(s6, { host: '::', port, ipv6Only: true });
      s6.on('error', (err) => this.deps.logger.error({ err, listener: this.name }, 'listener error (IPv6)'));
      this.server6 = s6;
    } catch (err) {
      this.deps.logger.debug({ err, listener: this.name, port }, 'no IPv6 wildcard listener');
    }
  }

  /** The config changed: live connections pick up their (possibly new) chain on their next request. */
  configChanged(): void {
    this.generation++;
  }

  /** `c`, re-resolved against the current config when a push happened since it was made; undefined = its chain is gone. */
  private current(c: ConnCtx): ConnCtx | undefined {
    if (c.generation === this.generation) return c;
    const l = this.deps.config().listeners.get(c.listener);
    const chain = l ? selectFilterChain(l, c.facts) : undefined;
    // The connection's transport is fixed: only an HTTP chain with the same TLS-ness can take it over.
    if (!chain || chain.filter.kind !== 'http' || Boolean(chain.tls) !== Boolean(c.chain.tls)) return undefined;
    c.chain = chain;
    c.http = this.httpContext(chain, c.http.scheme, c.peer, c.conn);
    c.generation = this.generation;
    return c;
  }

  /** The chain this keep-alive connection was using no longer exists: answer and close, as a drain would. */
  private chainGone(res: http.ServerResponse): void {
    res.shouldKeepAlive = false;
    res.writeHead(503, { 'content-type': 'text/plain', 'x-weft-response-flags': 'NR', connection: 'close' });
    res.end('filter chain removed by a config update\n');
  }

  /** Graceful drain: stop accepting, close idle keep-alive connections, GOAWAY HTTP/2. */
  startDrain(): Promise<void> {
    this.draining = true;
    const closed = this.stopAccepting();
    this.h1.closeIdleConnections();
    this.raw?.closeIdle();
    for (const s of this.h2Sessions) s.close(); // GOAWAY; in-flight streams finish
    return closed;
  }

  /** Stop accepting; existing connections finish (drain) until `close` destroys them. */
  stopAccepting(): Promise<void> {
    const s6 = this.server6;
    const v6 = s6 ? new Promise<void>((resolve) => s6.close(() => resolve())) : Promise.resolve();
    const v4 = new Promise<void>((resolve) => this.server.close(() => { this.h1.close(); resolve(); }));
    return Promise.all([v4, v6]).then(() => undefined);
  }

  destroyConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.h1.closeAllConnections();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  private listenerModel(): Listener | undefined {
    return this.deps.config().listeners.get(this.name);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const own = this.listenerModel();
    if (!own) { socket.destroy(); return; }
    let l = own;
    let dstPort = socket.localPort ?? 0;
    let dstIp = socket.localAddress;
    if (own.useOriginalDst || own.restoreOriginalDst) {
      const dst = this.deps.origDst(socket);
      dstPort = dst.port;
      dstIp = dst.address;
      if (own.useOriginalDst) {
        // Capture listener (virtualOutbound): hand off to the listener for the original
        // destination, as Envoy's use_original_dst does; else use our own chains. A listener
        // with only the original_dst filter (virtualInbound) keeps the connection and matches
        // its chains on the original port, or inbound traffic would land on outbound listeners.
        const cfg = this.deps.config();
        const target = cfg.listeners.get(`${dst.address}_${dst.port}`) ?? cfg.listeners.get(`0.0.0.0_${dst.port}`);
        if (target && target !== own) l = target;
      }
    }
    this.connFacts.set(socket, {
      destinationPort: dstPort, ...(socket.remoteAddress ? { remoteIp: socket.remoteAddress } : {}), ...(dstIp ? { localIp: dstIp } : {}),
    });
    if (!needsDetection(l)) {
      const facts: ConnectionFacts = { dstPort, transport: 'raw_buffer', alpn: [] };
      this.dispatch(socket, l, selectFilterChain(l, facts), { kind: 'tcp' }, facts);
      return;
    }
    this.detect(socket, l.detectTimeoutMs, (d) => {
      const facts = d.kind === 'tls'
        ? { dstPort, transport: 'tls' as const, alpn: d.alpn, ...(d.sni ? { sni: d.sni } : {}) }
        : { dstPort, transport: 'raw_buffer' as const, alpn: d.kind === 'http1' ? ['http/1.1'] : d.kind === 'h2c' ? ['h2c'] : [] };
      this.dispatch(socket, l, selectFilterChain(l, facts), d, facts);
    });
  }

  /** Accumulate first bytes until the detector decides, the cap is hit, or the timeout fires. */
  private detect(socket: net.Socket, timeoutMs: number, cb: (d: Detected) => void): void {
    let buf: Buffer = Buffer.alloc(0);
    let decided = false;
    const decide = (d: Detected): void => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      // node:http2 reads the native handle and would miss unshifted bytes. TLSSocket does
      // replay a net.Socket's buffered bytes, so TLS keeps the native handle (a JS stream
      // wrapper in between costs a setImmediate per encrypted write).
      if (d.kind === 'h2c') this.h2Prefix.set(socket, buf);
      else if (buf.length > 0) socket.unshift(buf);
      cb(d);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const d = detectProtocol(buf);
      if (d.kind !== 'need-more') decide(d);
      else if (buf.length >= MAX_DETECT_BYTES) decide({ kind: 'tcp' });
    };
    const onEnd = (): void => decide({ kind: 'tcp' });
    // No bytes within the timeout: a server-first protocol, treat as TCP.
    const timer = setTimeout(() => decide(buf.length === 0 ? { kind: 'tcp' } : detectOrTcp(buf)), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
  }

  private dispatch(socket: net.Socket, l: Listener, chain: FilterChain | undefined, d: Detected, facts: ConnectionFacts): void {
    if (!chain) { socket.destroy(); return; }
    const origin = { listener: l.name, facts };
    if (chain.tls) {
      if (d.kind !== 'tls') { socket.destroy(); return; } // STRICT: plaintext on a TLS-only chain
      this.terminateTls(socket, chain, origin);
      return;
    }
    this.route(socket, chain, d.kind === 'h2c' ? 'h2' : d.kind === 'http1' ? 'h1' : 'other', 'http', origin, undefined, this.connFacts.get(socket));
  }

  private httpContext(chain: FilterChain, scheme: 'http' | 'https', peer: string | undefined, conn: AuthzConnection | undefined): HttpContext {
    const f = chain.filter;
    const routes = (): RouteTable | undefined => f.kind !== 'http' ? undefined : f.inlineRoutes ?? (f.rdsName ? this.deps.config().routes.get(f.rdsName) : undefined);
    const direction = this.name.includes('inbound') || this.name.startsWith('virtualInbound') ? 'inbound' : 'outbound';
    return {
      routes, direction, scheme,
      ...(connDestination(conn) ? { originalDst: connDestination(conn)! } : {}),
      ...(peer ? { peerIdentity: () => `By=;URI=${peer}`, peerPrincipal: peer } : {}),
      ...(f.kind === 'http' && (f.rbac.length > 0 || f.jwt.length > 0) ? { authz: { filters: f.rbac, jwt: f.jwt, conn: conn ?? {} } } : {}),
    };
  }

  private route(
    socket: net.Socket, chain: FilterChain, proto: 'h1' | 'h2' | 'other', scheme: 'http' | 'https',
    origin: { listener: string; facts: ConnectionFacts }, peer?: string, conn?: AuthzConnection,
  ): void {
    if (!this.connectionAllowed(socket, chain, conn)) return;
    const f = chain.filter;
    if (f.kind === 'tcp') {
      socket.resume();
      this.deps.tcp.handle(socket, f, connDestination(conn), tcpConnContext(this.name, chain, conn));
      return;
    }
    const ctx: ConnCtx = {
      chain, http: this.httpContext(chain, scheme, peer, conn), generation: this.generation, ...origin,
      ...(peer ? { peer } : {}), ...(conn ? { conn } : {}),
    };
    this.ctxs.set(socket, ctx);
    if (proto === 'h2') {
      const prefix = this.h2Prefix.get(socket);
      this.pendingH2 = ctx;
      this.h2s.emit('connection', prefix ? new ReplaySocket(socket, prefix) : socket);
      this.pendingH2 = undefined;
      if (prefix) return;
    }
    else if (proto === 'h1' && this.raw) { this.raw.serve(socket, this.rawHost(socket)); return; }
    else if (proto === 'h1') this.h1.emit('connection', socket);
    else {
      // Not HTTP on an HTTP-only chain: give the HTTP server a chance for a clean 400.
      this.h1.emit('connection', socket);
    }
    socket.resume();
  }

  /** The raw HTTP/1.1 path's view of this listener, for one connection. */
  private rawHost(socket: net.Socket): RawHttp1Host {
    return {
      context: () => { const c0 = this.ctxs.get(socket); return c0 ? this.current(c0)?.http : undefined; },
      draining: () => this.draining,
      handoff: (s, pending) => {
        // node:http reads buffered bytes before the handle: the head it gets is the one we read.
        if (pending.length > 0) s.unshift(pending);
        this.h1.emit('connection', s);
        s.resume();
      },
    };
  }

  /**
   * Network RBAC (envoy.filters.network.rbac): one decision per connection, after TLS so a
   * verified mTLS principal counts, and before the terminal filter so a refused connection
   * never reaches the upstream. Refused: closed at once with nothing written, as Envoy does.
   * (Envoy decides on the first byte; deciding at accept is stricter for server-first protocols.)
   */
  private connectionAllowed(socket: net.Socket, chain: FilterChain, conn: AuthzConnection | undefined): boolean {
    if (!chain.networkRbac || chain.networkRbac.length === 0) return true;
    const d = evaluateNetworkRbac(chain.networkRbac, conn ?? {});
    if (d.allowed) return true;
    this.deps.logger.debug({ listener: this.name, chain: chain.name, filter: d.filter, policy: d.policy, remoteIp: conn?.remoteIp }, 'connection refused by RBAC');
    socket.destroy();
    return false;
  }

  private terminateTls(socket: net.Socket, chain: FilterChain, origin: { listener: string; facts: ConnectionFacts }): void {
    const tlsCfg = chain.tls!;
    // A gateway server's credentialName serves that Secret's certificate (and asks for no client
    // certificate unless MUTUAL); everything else serves the workload identity.
    const credential = tlsCfg.credentialName;
    const secureContext = credential ? this.deps.credential?.(credential) : this.deps.identity()?.secureContext;
    if (!secureContext) {
      if (credential) this.deps.logger.debug({ listener: this.name, credential }, 'no TLS credential loaded: connection closed');
      socket.destroy();
      return;
    }
    const ts = new tls.TLSSocket(socket, {
      isServer: true, secureContext, requestCert: credential ? tlsCfg.requireClientCert : true, rejectUnauthorized: tlsCfg.requireClientCert,
      // HTTP chains also accept Istio's mesh ALPN values (as HTTP/1.1), so a peer that offers only
      // istio-peer-exchange/istio is not refused with no_application_protocol.
      ALPNProtocols: chain.filter.kind === 'http' ? ['h2', 'http/1.1', 'istio-peer-exchange', 'istio'] : tlsCfg.alpn.length > 0 ? tlsCfg.alpn : ['istio', 'http/1.1'],
    });
    this.sockets.add(ts);
    ts.on('close', () => this.sockets.delete(ts));
    ts.on('error', () => { ts.destroy(); socket.destroy(); });
    const hs = setTimeout(() => ts.destroy(), 10_000); // handshake deadline
    ts.once('close', () => clearTimeout(hs));
    ts.once('secure', () => {
      clearTimeout(hs);
      const cert = ts.getPeerCertificate();
      const bad = tlsCfg.requireClientCert ? checkPeerIdentity(cert, tlsCfg.expectedSans) : undefined;
      if (bad) { this.deps.logger.warn({ peer: peerUris(cert) }, 'peer identity rejected'); ts.destroy(); return; }
      // A client certificate counts only if it chained to our roots (Node checks that only for tls.Server sockets).
      const certError = clientCertError(ts);
      if (tlsCfg.requireClientCert && certError) { this.deps.logger.warn({ reason: certError }, 'peer certificate not verified'); ts.destroy(); return; }
      const peer = peerUris(cert)[0];
      const proto = ts.alpnProtocol === 'h2' ? 'h2' : 'h1';
      // A TLSSocket built by hand stays secureConnecting after 'secure'; node:http2's server
      // would then wait for a 'secureConnect' that server sockets never emit (h2 over mTLS hung).
      (ts as unknown as { secureConnecting: boolean }).secureConnecting = false;
      this.route(ts as unknown as net.Socket, chain, chain.filter.kind === 'http' ? proto : 'other', 'https', origin, peer, {
        // Only a certificate that chained to our roots names a principal RBAC may trust.
        ...this.connFacts.get(socket), ...(!certError && peer ? { peerPrincipal: peer } : {}),
      });
    });
    // No socket.resume() here: the TLSSocket reads the handle itself and replays the bytes
    // detection unshifted; a flowing raw socket would hand them to nobody.
  }
}

/** The connection's (original) destination as accept() recorded it; passthrough forwards there. */
function connDestination(conn: AuthzConnection | undefined): OrigDst | undefined {
  return conn?.localIp && conn.destinationPort ? { address: conn.localIp, port: conn.destinationPort } : undefined;
}

function detectOrTcp(buf: Buffer): Detected {
  const d = detectProtocol(buf);
  // A partial request line at the deadline still goes to HTTP, which answers 400/408 cleanly.
  if (d.kind === 'need-more') return buf[0] === 0x16 ? { kind: 'tls', alpn: [] } : { kind: 'http1' };
  return d;
}

export { originalDst };

/** HTTP/2 twin of the HTTP/1 431: answer, end our side, discard whatever body follows. */
function refuseHeaders(stream: http2.ServerHttp2Stream, reason: string, logger: Logger): void {
  logger.debug({ reason }, 'HTTP/2 request headers over the limits');
  stream.resume();
  try {
    stream.respond({ ':status': 431, 'content-length': '0' }, { endStream: true });
  } catch {
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  }
}

function listenOn(server: net.Server, opts: net.ListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
