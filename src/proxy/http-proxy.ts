// HTTP/1.1 request forwarding: route -> cluster -> balance -> attempts with retries and
// timeouts -> response with header mutations. Upstream connections come from per-host
// keep-alive pools. WebSocket (and other Upgrade) requests are spliced as raw streams.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../errors/errors.js';
import type { ForwardAction, Route, RouteTable } from './config/model.js';
import { TokenBucket } from './resilience/token-bucket.js';
import {
  mutateRequestHeaders, mutateResponseHeaders, pickCluster, redirectLocation, rewritePath, routeRequest,
  type HeaderBag, type RequestView, type RouteResult,
} from './route/router.js';
import type { ClusterManager, ClusterState } from './cluster-manager.js';
import type { Host } from './balance/host.js';
import { fnv1a } from './balance/host.js';
import { isRetriable, outcomeStatus, retryBackoffMs, type AttemptOutcome } from './resilience/retry.js';
import { classifyStatus } from './resilience/outlier.js';
import type { Stats } from './stats.js';
import { applyAuthnHeaders, checkRequest, RBAC_DENIED_BODY, RBAC_DENIED_STATUS, type ConnectionAuthz, type SecurityVerdict } from './authz/index.js';
import type { KeyResolver } from './authn/index.js';
import type { OrigDst } from './orig-dst.js';
import { ORIGINAL_DST_HEADER, passthroughFacts } from './passthrough.js';
import type { ActiveTrace, Tracer } from './tracing/tracer.js';

/** Largest request body buffered so it can be replayed on retry or mirrored (Envoy's 1 MiB). */
const REPLAY_LIMIT = 1024 * 1024;
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'upgrade', 'trailer', 'http2-settings'];
const HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

export interface HttpProxyDeps {
  clusters: ClusterManager;
  stats: Stats;
  logger: Logger;
  now: () => number;
  rand: () => number;
  /** JSON lines access log (Envoy-like fields); off when undefined. */
  accessLog?: Logger;
  /** JWKS for jwt_authn providers (local sets inline, remote ones through the cache). */
  jwtKeys?: KeyResolver;
  /** Spans and trace-context propagation; undefined = off (trace headers pass through untouched). */
  tracer?: Tracer;
}

export interface HttpContext {
  routes: () => RouteTable | undefined;
  direction: 'inbound' | 'outbound';
  scheme: 'http' | 'https';
  /** Sanitised x-forwarded-client-cert for mTLS peers; client-sent values are always dropped. */
  peerIdentity?: () => string | undefined;
  /** The verified mTLS peer's SPIFFE id (the source_principal of inbound metrics). */
  peerPrincipal?: string;
  /** RBAC filters of the filter chain plus the connection's peer facts; absent = no authorization. */
  authz?: ConnectionAuthz;
  /** The connection's original destination (ORIGINAL_DST clusters forward there). */
  originalDst?: OrigDst;
}

/** No key source configured: every provider's keys are the inline ones, remote ones are unavailable. */
export const localKeysOnly: KeyResolver = (p) => (p.jwks.kind === 'local' ? p.jwks.keys : undefined);

export function requestView(req: http.IncomingMessage): RequestView {
  const h = req.headers;
  return {
    authority: h.host ?? '',
    path: req.url ?? '/',
    method: req.method ?? 'GET',
    header: (n) => {
      const v = h[n];
      return Array.isArray(v) ? v.join(',') : v;
    },
  };
}

export function stripHopByHop(h: HeaderBag): void {
  const conn = h.connection;
  if (typeof conn === 'string') for (const n of conn.split(',')) delete h[n.trim().toLowerCase()];
  for (const n of HOP_BY_HOP) if (h[n] !== undefined) delete h[n];
}

/** Copy of node's header object without hop-by-hop headers, in one pass (no deletes: keeps the object fast). */
export function copyEndToEnd(src: http.IncomingHttpHeaders): HeaderBag {
  const out: HeaderBag = {};
  const conn = src.connection;
  const extra = typeof conn === 'string' && conn !== 'keep-alive' && conn !== 'close'
    ? new Set(conn.split(',').map((n) => n.trim().toLowerCase())) : undefined;
  for (const k in src) {
    if (HOP_SET.has(k) || extra?.has(k)) continue;
    out[k] = src[k];
  }
  return out;
}

function localReply(res: http.ServerResponse, status: number, flag: string, body: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-weft-response-flags': flag, ...extra });
  res.end(body);
}

/** What happens to a request before any upstream is involved (see HttpProxy.decide). */
export type Decision =
  | { kind: 'reply'; cluster: string; status: number; flag: string; body: string; headers?: Record<string, string>; bare?: boolean }
  | { kind: 'forward'; table: RouteTable; rr: RouteResult; action: ForwardAction; delayMs: number }
  | { kind: 'handoff' };

interface Attempt { outcome: AttemptOutcome; res?: http.IncomingMessage; host?: Host; reusedSocket?: boolean }

export class HttpProxy {
  /** Token buckets per route object; a config update starts fresh buckets. */
  private readonly buckets = new WeakMap<Route, TokenBucket>();

  constructor(readonly deps: HttpProxyDeps) {}

  bucketFor(route: Route): TokenBucket {
    let b = this.buckets.get(route);
    if (!b) { b = new TokenBucket(route.rateLimit!, this.deps.now()); this.buckets.set(route, b); }
    return b;
  }

  security(ctx: HttpContext, view: RequestView): SecurityVerdict {
    return checkRequest(ctx.authz, { method: view.method, rawPath: view.path, authority: view.authority, header: view.header }, {
      scheme: ctx.scheme, keys: this.deps.jwtKeys ?? localKeysOnly, now: this.deps.now(),
    });
  }

  /**
   * Everything decided before the upstream is chosen, shared by node:http's path and the raw
   * fast path: jwt_authn and RBAC (ahead of the router, as Istio orders them), routing, direct
   * and redirect answers, the local rate limit and fault aborts. `handoffIfSlow`: the raw path
   * asks for 'handoff' before any side effect when the route needs what only node:http's path
   * does (mirrors, fault delays). Mutates `headers` with the authn results.
   */
  decide(ctx: HttpContext, view: RequestView, headers: HeaderBag, handoffIfSlow = false): Decision {
    const verdict = this.security(ctx, view);
    if (verdict.kind === 'unauthenticated') {
      this.deps.logger.debug({ reason: verdict.deny.reason, provider: verdict.deny.provider, path: view.path }, 'jwt authentication failed');
      return { kind: 'reply', cluster: 'jwt_authn', status: verdict.deny.status, flag: 'JWT', body: verdict.deny.body, headers: verdict.deny.headers };
    }
    if (verdict.kind === 'forbidden') {
      this.deps.logger.debug({ filter: verdict.decision.filter, policy: verdict.decision.policy, path: view.path }, 'rbac denied');
      return { kind: 'reply', cluster: 'rbac', status: RBAC_DENIED_STATUS, flag: 'RBAC', body: RBAC_DENIED_BODY };
    }
    applyAuthnHeaders(headers as http.IncomingHttpHeaders, verdict.authn);
    const table = ctx.routes();
    const rr = table ? routeRequest(table, view) : undefined;
    if (!table || !rr) return { kind: 'reply', cluster: 'unknown', status: 404, flag: 'NR', body: 'no route\n' };
    const action = rr.route.action;
    const fault = rr.route.fault;
    if (handoffIfSlow && ((action.kind === 'forward' && action.mirrors.length > 0) || fault?.delay)) return { kind: 'handoff' };
    if (action.kind === 'direct') return { kind: 'reply', cluster: 'direct', status: action.status, flag: '-', body: action.body, bare: true };
    if (action.kind === 'redirect') {
      const location = redirectLocation(rr.route, action, { scheme: ctx.scheme, authority: view.authority, path: view.path });
      return { kind: 'reply', cluster: 'redirect', status: action.status, flag: '-', body: '', bare: true, headers: { location } };
    }
    if (rr.route.rateLimit && !this.bucketFor(rr.route).tryTake(this.deps.now())) {
      return { kind: 'reply', cluster: 'ratelimit', status: 429, flag: 'RL', body: 'local_rate_limited\n', headers: { 'x-local-rate-limit': 'true' } };
    }
    if (fault?.abort && this.deps.rand() < fault.abort.fraction) {
      const extra: Record<string, string> = fault.abort.grpcStatus !== undefined ? { 'grpc-status': String(fault.abort.grpcStatus) } : {};
      return { kind: 'reply', cluster: 'fault', status: fault.abort.status, flag: 'FI', body: 'fault filter abort\n', headers: extra };
    }
    const delayMs = fault?.delay && this.deps.rand() < fault.delay.fraction ? fault.delay.ms : 0;
    return { kind: 'forward', table, rr, action, delayMs };
  }

  /** Entry point for one downstream request. Never throws; every failure becomes a local reply. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: HttpContext): void {
    const start = this.deps.now();
    const tracer = this.deps.tracer;
    const trace = tracer ? this.startTrace(tracer, req, ctx, start) : undefined;
    // Body bytes as they pass, both directions (chunked bodies included).
    const bytes = { req: 0, resp: 0 };
    req.on('data', (c: Buffer) => { bytes.req += c.length; });
    const finish = (cluster: string, status: number, flags: string): void => {
      const durationMs = this.deps.now() - start;
      if (trace) tracer!.end(trace, start + durationMs, status, flags, cluster);
      this.deps.stats.recordRequest({
        cluster, status, flags, durationMs, direction: ctx.direction, reqBytes: bytes.req, respBytes: bytes.resp,
        ...(ctx.peerPrincipal ? { peerPrincipal: ctx.peerPrincipal } : {}),
      });
      this.deps.accessLog?.info({
        method: req.method, path: req.url, authority: req.headers.host, status, flags, cluster, durationMs,
        requestId: req.headers['x-request-id'], downstream: req.socket.remoteAddress, direction: ctx.direction,
      }, 'access');
    };
    const d = this.decide(ctx, requestView(req), req.headers);
    if (d.kind === 'reply') {
      req.resume();
      if (d.bare) {
        res.writeHead(d.status, { ...d.headers, 'content-length': Buffer.byteLength(d.body) });
        res.end(d.body);
      } else localReply(res, d.status, d.flag, d.body, d.headers);
      bytes.resp = Buffer.byteLength(d.body);
      finish(d.cluster, d.status, d.flag);
      return;
    }
    if (d.kind !== 'forward') return; // 'handoff' is only asked for by the raw path
    if (d.delayMs > 0) {
      const t = setTimeout(() => this.forward(req, res, ctx, d.table, d.rr, d.action, finish, bytes, trace), d.delayMs);
      res.once('close', () => clearTimeout(t));
      return;
    }
    this.forward(req, res, ctx, d.table, d.rr, d.action, finish, bytes, trace);
  }

  private startTrace(tracer: Tracer, req: http.IncomingMessage, ctx: HttpContext, start: number): ActiveTrace {
    const h = req.headers;
    const authority = h.host ?? '';
    return tracer.start((n) => { const v = h[n]; return Array.isArray(v) ? v[0] : v; },
      ctx.direction === 'inbound' ? 'server' : 'client', start, req.method ?? 'GET', `${ctx.scheme}://${authority}${req.url ?? '/'}`, authority);
  }

  private forward(
    req: http.IncomingMessage, res: http.ServerResponse, ctx: HttpContext, table: RouteTable, rr: RouteResult,
    action: ForwardAction, finish: (cluster: string, status: number, flags: string) => void, bytes: { resp: number }, trace?: ActiveTrace,
  ): void {
    const clusterName = pickCluster(action, this.deps.rand());
    const cs = this.deps.clusters.get(clusterName);
    if (!cs) {
      req.resume();
      localReply(res, 503, 'NC', 'no cluster\n');
      finish(clusterName, 503, 'NC');
      return;
    }
    const cb = cs.breaker;
    const limits = cs.cluster.circuitBreakers;
    // HTTP/1 upstreams carry one request per connection: beyond max_connections requests
    // queue as pending, and beyond max_pending_requests they overflow.
    if (cb.requests >= limits.maxRequests || cb.requests >= limits.maxConnections + limits.maxPendingRequests || !cb.tryRequest()) {
      req.resume();
      localReply(res, 503, 'UO', 'upstream overflow\n', { 'x-envoy-overloaded': 'true' });
      finish(clusterName, 503, 'UO');
      return;
    }

    const facts = passthroughFacts(ctx.originalDst, requestView(req).header(ORIGINAL_DST_HEADER));
    const headers = this.upstreamHeaders(req.headers, ctx, table, rr, action, cs, trace);
    const path = rewritePath(rr.route, action, req.url ?? '/');
    const method = req.method ?? 'GET';

    const retry = action.retry;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const declared = Number(req.headers['content-length'] ?? 'NaN');
    const replayable = !hasBody || (Number.isFinite(declared) && declared <= REPLAY_LIMIT);
    const wantReplay = hasBody && replayable && ((retry && retry.numRetries > 0) || action.mirrors.length > 0);

    const hash = action.hashPolicy.length > 0 ? requestHash(action, req.headers, req.socket.remoteAddress) : undefined;
    let done = false;
    let current: http.ClientRequest | undefined;
    let overallTimer: NodeJS.Timeout | undefined;
    const release = (): void => { cb.releaseRequest(); clearTimeout(overallTimer); };

    res.on('close', () => {
      if (!res.writableFinished && !done) {
        done = true;
        current?.destroy();
        release();
        finish(clusterName, 0, 'DC');
      }
    });
    if (action.timeoutMs > 0) {
      overallTimer = setTimeout(() => {
        if (done) return;
        done = true;
        current?.destroy();
        release();
        localReply(res, 504, 'UT', 'upstream request timeout\n');
        finish(clusterName, 504, 'UT');
      }, action.timeoutMs);
    }

    const run = (body: Buffer | undefined): void => {
      for (const m of action.mirrors) if (this.deps.rand() < m.fraction) this.mirror(m.cluster, method, path, headers, body);
      const tried = new Set<string>();
      let retriesLeft = retry?.numRetries ?? 0;
      let retryNumber = 0;
      let staleRetried = false;
      // The breaker's retry slot is held from scheduling until the retried attempt ends (Envoy),
      // so a retry budget bounds retries in flight, not only those waiting out their backoff.
      let retrySlot = false;
      let closeHooked = false;
      const releaseRetrySlot = (): void => { if (retrySlot) { retrySlot = false; cb.releaseRetry(); } };
      const attemptOnce = (freshRetry: boolean): void => {
        if (done) { releaseRetrySlot(); return; }
        const picked = cs.pick({ now: this.deps.now(), hash, avoid: retry?.avoidPreviousHosts ? tried : undefined }, facts);
        const host = picked.host;
        if (!host) {
          if (picked.passthrough && !picked.passthrough.ok) {
            this.deps.logger.debug({ cluster: clusterName, reason: picked.passthrough.reason, target: picked.passthrough.target }, 'passthrough refused');
          }
          done = true; release(); releaseRetrySlot();
          localReply(res, 503, 'UH', 'no healthy upstream\n');
          finish(clusterName, 503, 'UH');
          return;
        }
        tried.add(host.key);
        this.attempt(cs, host, method, path, headers, body, body ? undefined : req, retry?.perTryTimeoutMs ?? 0, (a, reqRef) => {
          current = reqRef;
          return a;
        }).then((a) => {
          if (done) { a.res?.resume(); releaseRetrySlot(); return; }
          const canReplay = body !== undefined || !hasBody;
          if (a.outcome.kind === 'reset' && a.reusedSocket && canReplay && !staleRetried) {
            // The pooled keep-alive connection was closed by the upstream as we reused it:
            // not the host's fault and nothing was processed, so try once more on a fresh one.
            staleRetried = true;
            attemptOnce(false);
            return;
          }
          this.recordOutlier(cs, host, a.outcome);
          releaseRetrySlot();
          if (retry && retriesLeft > 0 && canReplay && isRetriable(retry, a.outcome)) {
            if (cb.tryRetry()) {
              retrySlot = true;
              // Hooked only once a retry happens, so requests without retries pay nothing.
              if (!closeHooked) { closeHooked = true; res.once('close', releaseRetrySlot); }
              retriesLeft--;
              a.res?.resume();
              const delay = retryBackoffMs(retry, retryNumber++, this.deps.rand());
              setTimeout(() => attemptOnce(true), delay);
              return;
            }
            // Overflow (Envoy's upstream_rq_retry_overflow): the upstream's answer goes back as is.
            this.deps.stats.inc('weft_retry_overflow_total', { cluster: clusterName });
          }
          done = true;
          if (a.res) {
            a.res.on('data', (c: Buffer) => { bytes.resp += c.length; });
            this.respond(res, a.res, table, rr, () => { release(); finish(clusterName, a.res!.statusCode ?? 0, '-'); });
          } else {
            release();
            const { status, flag } = outcomeStatus(a.outcome);
            const f = retryNumber > 0 && retry ? `${flag},URX` : flag;
            localReply(res, status, f, 'upstream connect error or disconnect/reset before headers\n');
            finish(clusterName, status, f);
          }
        }, (e: unknown) => {
          this.deps.logger.error({ err: e }, 'proxy attempt failed unexpectedly');
          releaseRetrySlot();
          if (!done) { done = true; release(); localReply(res, 500, 'DPE', 'internal proxy error\n'); finish(clusterName, 500, 'DPE'); }
        });
        void freshRetry;
      };
      attemptOnce(false);
    };

    if (wantReplay) {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => { size += c.length; if (size <= REPLAY_LIMIT) chunks.push(c); });
      req.on('end', () => run(Buffer.concat(chunks)));
      req.on('error', () => { if (!done) { done = true; release(); finish(clusterName, 0, 'DC'); } });
    } else {
      run(hasBody ? undefined : Buffer.alloc(0));
    }
  }

  private attempt(
    cs: ClusterState, host: Host, method: string, path: string, headers: HeaderBag, body: Buffer | undefined,
    stream: http.IncomingMessage | undefined, perTryMs: number,
    track: (a: Attempt, r: http.ClientRequest) => Attempt,
  ): Promise<Attempt> {
    return new Promise((resolve) => {
      host.active++;
      let settled = false;
      let connected = false;
      let reused = false;
      let timer: NodeJS.Timeout | undefined;
      let connectTimer: NodeJS.Timeout | undefined;
      const settle = (a: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer); clearTimeout(connectTimer);
        if (a.res) a.res.once('close', () => host.active--); else host.active--;
        resolve(a);
      };
      const ureq = http.request({
        host: host.endpoint.address, port: host.endpoint.port, method, path, headers: headers as http.OutgoingHttpHeaders,
        agent: cs.agentFor(host), setHost: false,
      });
      track({ outcome: { kind: 'reset' } }, ureq);
      ureq.on('socket', (s) => {
        if (!s.connecting) { connected = true; reused = true; return; }
        connectTimer = setTimeout(() => { ureq.destroy(); settle({ outcome: { kind: 'connect-failure' }, host }); }, cs.cluster.connectTimeoutMs);
        s.once('connect', () => { connected = true; clearTimeout(connectTimer); });
        s.once('secureConnect', () => { connected = true; });
      });
      ureq.on('response', (ures) => {
        const g = ures.headers['grpc-status'];
        settle({ outcome: { kind: 'response', status: ures.statusCode ?? 502, ...(g !== undefined ? { grpcStatus: Number(g) } : {}) }, res: ures, host });
      });
      ureq.on('error', () => settle({ outcome: { kind: connected ? 'reset' : 'connect-failure' }, host, reusedSocket: reused }));
      if (perTryMs > 0) timer = setTimeout(() => { ureq.destroy(); settle({ outcome: { kind: 'per-try-timeout' }, host }); }, perTryMs);
      if (body !== undefined) ureq.end(body);
      else if (stream) stream.pipe(ureq);
      else ureq.end();
    });
  }

  /** The upstream request's headers: end-to-end ones, route mutations, XFCC, x-request-id, trace context. */
  upstreamHeaders(
    src: http.IncomingHttpHeaders, ctx: HttpContext, table: RouteTable, rr: RouteResult, action: ForwardAction, cs: ClusterState, trace?: ActiveTrace,
  ): HeaderBag {
    const headers = copyEndToEnd(src);
    mutateRequestHeaders(headers, table, rr);
    delete headers['x-forwarded-client-cert'];
    if (cs.cluster.originalDst?.useHttpHeader) delete headers[ORIGINAL_DST_HEADER]; // consumed here, not passed on
    const xfcc = ctx.peerIdentity?.();
    if (xfcc) headers['x-forwarded-client-cert'] = xfcc;
    // Envoy's default (generate_request_id): every request upstream carries one.
    if (!headers['x-request-id']) headers['x-request-id'] = randomUUID();
    if (trace) {
      trace.requestId ??= headers['x-request-id'] as string;
      this.deps.tracer!.inject(headers, trace);
    }
    if (!headers['x-forwarded-proto']) headers['x-forwarded-proto'] = ctx.scheme;
    if (action.hostRewrite) headers.host = action.hostRewrite;
    return headers;
  }

  recordOutlier(cs: ClusterState, host: Host, o: AttemptOutcome): void {
    if (!cs.outlier) return;
    const now = this.deps.now();
    if (o.kind === 'response') cs.outlier.record(host, classifyStatus(o.status), now);
    else if (o.kind !== 'overflow') cs.outlier.record(host, 'local-failure', now);
  }

  private respond(res: http.ServerResponse, ures: http.IncomingMessage, table: RouteTable, rr: RouteResult, onEnd: () => void): void {
    const h = copyEndToEnd(ures.headers);
    mutateResponseHeaders(h, table, rr);
    res.writeHead(ures.statusCode ?? 502, h as http.OutgoingHttpHeaders);
    ures.pipe(res);
    let ended = false;
    const end = (): void => { if (!ended) { ended = true; onEnd(); } };
    res.once('finish', end);
    ures.once('error', () => { res.destroy(); end(); });
    res.once('close', () => { if (!ures.complete) ures.destroy(); end(); });
  }

  /** Fire-and-forget shadow copy; Envoy appends "-shadow" to the authority. */
  private mirror(cluster: string, method: string, path: string, headers: HeaderBag, body: Buffer | undefined): void {
    const cs = this.deps.clusters.get(cluster);
    // A mirror to a passthrough cluster has no original destination of its own: never sent.
    const host = cs?.cluster.originalDst ? undefined : cs?.balancer.pick({ now: this.deps.now() });
    if (!cs || !host) return;
    const h: HeaderBag = { ...headers, host: `${String(headers.host ?? '')}-shadow` };
    const send = (staleRetried: boolean): void => {
      const r = http.request({ host: host.endpoint.address, port: host.endpoint.port, method, path, headers: h as http.OutgoingHttpHeaders, agent: cs.agentFor(host), setHost: false });
      r.on('response', (x) => x.resume());
      // A pooled keep-alive socket the upstream closed meanwhile: once on a fresh one,
      // as the primary path does; otherwise shadow traffic never affects the real request.
      r.on('error', (e) => {
        if (r.reusedSocket && !staleRetried) { send(true); return; }
        this.deps.logger.debug({ cluster, path, err: errorMessage(e) }, 'shadow request failed');
      });
      r.setTimeout(10_000, () => r.destroy(new Error('shadow request timed out after 10 s')));
      r.end(body);
    };
    send(false);
  }

  /** WebSocket and other Upgrade requests: route, then splice raw bytes both ways. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: HttpContext): void {
    const table = ctx.routes();
    const rr = table ? routeRequest(table, requestView(req)) : undefined;
    const fail = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    };
    const view = requestView(req);
    const verdict = this.security(ctx, view);
    if (verdict.kind === 'unauthenticated') {
      const d = verdict.deny;
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(d.body)}\r\nwww-authenticate: ${d.headers['www-authenticate'] ?? 'Bearer'}\r\nx-weft-response-flags: JWT\r\nconnection: close\r\n\r\n${d.body}`);
      return;
    }
    if (verdict.kind === 'forbidden') {
      socket.end(`HTTP/1.1 ${RBAC_DENIED_STATUS} Forbidden\r\ncontent-type: text/plain\r\ncontent-length: ${RBAC_DENIED_BODY.length}\r\nx-weft-response-flags: RBAC\r\nconnection: close\r\n\r\n${RBAC_DENIED_BODY}`);
      return;
    }
    applyAuthnHeaders(req.headers, verdict.authn);
    if (!table || !rr || rr.route.action.kind !== 'forward') { fail(404, 'Not Found'); return; }
    const action = rr.route.action;
    const cs = this.deps.clusters.get(pickCluster(action, this.deps.rand()));
    const host = cs?.pick({ now: this.deps.now() }, passthroughFacts(ctx.originalDst, view.header(ORIGINAL_DST_HEADER))).host;
    if (!cs || !host) { fail(503, 'Service Unavailable'); return; }
    const headers: HeaderBag = { ...req.headers };
    if (cs.cluster.originalDst?.useHttpHeader) delete headers[ORIGINAL_DST_HEADER];
    mutateRequestHeaders(headers, table, rr);
    if (action.hostRewrite) headers.host = action.hostRewrite;
    const path = rewritePath(rr.route, action, req.url ?? '/');
    // cs.dial originates the cluster's mTLS (a STRICT peer would refuse a plaintext upgrade).
    const up = cs.dial({ host: host.endpoint.address, port: host.endpoint.port, localAddress: cs.cluster.bindAddress });
    let head1 = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) head1 += `${k}: ${one}\r\n`;
    }
    up.write(head1 + '\r\n');
    if (head.length > 0) up.write(head);
    up.pipe(socket).pipe(up);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  }
}

export function requestHash(action: ForwardAction, headers: HeaderBag, remoteAddress: string | undefined): number | undefined {
  for (const p of action.hashPolicy) {
    if (p.kind === 'header') {
      const v = headers[p.name];
      if (v !== undefined) return fnv1a(Array.isArray(v) ? v.join(',') : v);
    } else if (p.kind === 'cookie') {
      const c0 = headers.cookie;
      const m = (Array.isArray(c0) ? c0.join('; ') : c0 ?? '').split(/;\s*/).find((c) => c.startsWith(`${p.name}=`));
      if (m) return fnv1a(m.slice(p.name.length + 1));
    } else if (remoteAddress) {
      return fnv1a(remoteAddress);
    }
  }
  return undefined;
}
