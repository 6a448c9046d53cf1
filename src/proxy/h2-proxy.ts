// HTTP/2 (and so gRPC) request forwarding: streams in, streams out, trailers preserved.
// Upstream is HTTP/2 when the cluster says so (gRPC), else HTTP/1.1 through the pool.
import http from 'node:http';
import http2 from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { RouteTable } from './config/model.js';
import {
  mutateRequestHeaders, mutateResponseHeaders, pickCluster, redirectLocation, rewritePath, routeRequest, type HeaderBag,
} from './route/router.js';
import type { ClusterManager } from './cluster-manager.js';
import type { OrigDst } from './orig-dst.js';
import { ORIGINAL_DST_HEADER, passthroughFacts } from './passthrough.js';
import { stripHopByHop } from './http-proxy.js';
import { classifyStatus } from './resilience/outlier.js';
import { isRetriable, retryBackoffMs, type AttemptOutcome } from './resilience/retry.js';
import type { Stats } from './stats.js';
import { applyAuthnHeaders, checkRequest, RBAC_DENIED_BODY, RBAC_DENIED_STATUS, type ConnectionAuthz } from './authz/index.js';
import type { Tracer } from './tracing/tracer.js';
import type { KeyResolver } from './authn/index.js';
import { localKeysOnly } from './http-proxy.js';

export interface H2ProxyDeps {
  clusters: ClusterManager; stats: Stats; logger: Logger; now: () => number; rand: () => number;
  /** JWKS for jwt_authn providers (local sets inline, remote ones through the cache). */
  jwtKeys?: KeyResolver;
  /** Spans and trace-context propagation; undefined = off (trace headers pass through untouched). */
  tracer?: Tracer;
}
export interface H2Context {
  routes: () => RouteTable | undefined; direction: 'inbound' | 'outbound'; scheme: 'http' | 'https';
  /** RBAC filters of the filter chain plus the connection's peer facts; absent = no authorization. */
  authz?: ConnectionAuthz;
  /** The connection's original destination (ORIGINAL_DST clusters forward there). */
  originalDst?: OrigDst;
  /** The verified mTLS peer's SPIFFE id (the source_principal of inbound metrics), as HttpContext has it. */
  peerPrincipal?: string;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL } = http2.constants;
/** Request bytes kept for replay on retry (Envoy's default buffer limit). */
const H2_REPLAY_LIMIT = 1024 * 1024;

function isGrpc(h: http2.IncomingHttpHeaders): boolean {
  return String(h['content-type'] ?? '').startsWith('application/grpc');
}

function localReply(stream: http2.ServerHttp2Stream, status: number, flag: string, grpc: boolean, msg: string, extra: Record<string, string> = {}): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) { stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR); return; }
  if (grpc) {
    // gRPC clients read errors from a trailers-only response; map to UNAVAILABLE/UNIMPLEMENTED.
    const code = status === 404 ? 12 : status === 504 ? 4 : status === 403 ? 7 : status === 401 ? 16 : 14;
    stream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': msg, 'x-weft-response-flags': flag, ...extra }, { endStream: true });
  } else {
    stream.respond({ [HTTP2_HEADER_STATUS]: status, 'content-type': 'text/plain', 'x-weft-response-flags': flag, ...extra });
    stream.end(msg + '\n');
  }
}

export class H2Proxy {
  constructor(private readonly deps: H2ProxyDeps) {}

  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ctx: H2Context): void {
    stream.on('error', () => { /* downstream resets are routine */ });
    const start = this.deps.now();
    const grpc = isGrpc(headers);
    const authority = String(headers[':authority'] ?? headers.host ?? '');
    const path = String(headers[':path'] ?? '/');
    const method = String(headers[':method'] ?? 'GET');
    const header = (n: string): string | undefined => { const v = headers[n]; return Array.isArray(v) ? v.join(',') : v; };
    const tracer = this.deps.tracer;
    const trace = tracer?.start(header, ctx.direction === 'inbound' ? 'server' : 'client', start, method, `${ctx.scheme}://${authority}${path}`, authority);
    // Body sizes are the DATA payload bytes that passed through (a 'data' listener does not
    // change flow: every path below consumes the stream in this same tick).
    const bytes = { req: 0, resp: 0 };
    stream.on('data', (c: Buffer) => { bytes.req += c.length; });
    const finish = (cluster: string, status: number, flags: string): void => {
      const durationMs = this.deps.now() - start;
      this.deps.stats.recordRequest({
        cluster, status, flags, durationMs, direction: ctx.direction, reqBytes: bytes.req, respBytes: bytes.resp,
        ...(ctx.peerPrincipal ? { peerPrincipal: ctx.peerPrincipal } : {}),
      });
      if (trace) tracer!.end(trace, start + durationMs, status, flags, cluster);
    };
    // jwt_authn then RBAC run before the router, as Istio orders them ahead of envoy.filters.http.router.
    const verdict = checkRequest(ctx.authz, { method, rawPath: path, authority, header }, {
      scheme: ctx.scheme, keys: this.deps.jwtKeys ?? localKeysOnly, now: this.deps.now(),
    });
    if (verdict.kind === 'unauthenticated') {
      stream.resume();
      this.deps.logger.debug({ reason: verdict.deny.reason, provider: verdict.deny.provider, path }, 'jwt authentication failed');
      localReply(stream, verdict.deny.status, 'JWT', grpc, verdict.deny.body, verdict.deny.headers);
      finish('jwt_authn', verdict.deny.status, 'JWT');
      return;
    }
    if (verdict.kind === 'forbidden') {
      stream.resume();
      localReply(stream, RBAC_DENIED_STATUS, 'RBAC', grpc, RBAC_DENIED_BODY);
      finish('rbac', RBAC_DENIED_STATUS, 'RBAC');
      return;
    }
    applyAuthnHeaders(headers, verdict.authn);
    const table = ctx.routes();
    const rr = table ? routeRequest(table, { authority, path, method, header }) : undefined;
    if (!table || !rr) { stream.resume(); localReply(stream, 404, 'NR', grpc, 'no route'); finish('unknown', 404, 'NR'); return; }
    const action = rr.route.action;
    if (action.kind === 'direct') {
      stream.resume();
      stream.respond({ [HTTP2_HEADER_STATUS]: action.status });
      stream.end(action.body);
      finish('direct', action.status, '-');
      return;
    }
    if (action.kind === 'redirect') {
      stream.resume();
      stream.respond({ [HTTP2_HEADER_STATUS]: action.status, location: redirectLocation(rr.route, action, { scheme: ctx.scheme, authority, path }) }, { endStream: true });
      finish('redirect', action.status, '-');
      return;
    }
    const clusterName = pickCluster(action, this.deps.rand());
    const cs = this.deps.clusters.get(clusterName);
    const host = cs?.pick({ now: this.deps.now() }, passthroughFacts(ctx.originalDst, header(ORIGINAL_DST_HEADER))).host;
    if (!cs || !host) { stream.resume(); localReply(stream, 503, cs ? 'UH' : 'NC', grpc, 'no healthy upstream'); finish(clusterName, 503, cs ? 'UH' : 'NC'); return; }
    if (!cs.breaker.tryRequest()) { stream.resume(); localReply(stream, 503, 'UO', grpc, 'upstream overflow'); finish(clusterName, 503, 'UO'); return; }

    const h: HeaderBag = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) h[k] = v;
    stripHopByHop(h);
    mutateRequestHeaders(h, table, rr);
    delete h['x-forwarded-client-cert'];
    if (cs.cluster.originalDst?.useHttpHeader) delete h[ORIGINAL_DST_HEADER]; // consumed here, not passed on
    if (!h['x-request-id']) h['x-request-id'] = randomUUID();
    if (trace) {
      trace.requestId ??= h['x-request-id'] as string;
      tracer!.inject(h, trace);
    }
    const upAuthority = action.hostRewrite ?? authority;
    const upPath = rewritePath(rr.route, action, path);
    host.active++;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    // A retry holds its breaker slot until the retried attempt's outcome (Envoy), so a retry
    // budget bounds retries in flight.
    let retrySlot = false;
    const releaseRetrySlot = (): void => { if (retrySlot) { retrySlot = false; cs.breaker.releaseRetry(); } };
    const done = (status: number, flag: string): void => {
      releaseRetrySlot();
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      host.active--;
      cs.breaker.releaseRequest();
      if (cs.outlier) cs.outlier.record(host, flag === '-' ? classifyStatus(status) : 'local-failure', this.deps.now());
      finish(clusterName, status, flag);
    };

    if (!cs.cluster.http2) {
      this.toHttp1(stream, cs.agentFor(host), host.endpoint, method, upPath, { ...h, host: upAuthority }, table, rr, grpc, done, (n) => { bytes.resp += n; });
      return;
    }
    // Stream the request upstream while keeping a copy (up to 1 MiB) so that a retriable
    // failure before the response starts can be replayed on another host (Envoy's model).
    const retry = action.retry;
    const chunks: Buffer[] = [];
    let buffered = 0;
    let overflow = false;
    let reqEnded = false;
    let current: http2.ClientHttp2Stream | undefined;
    let committed = false;
    let retriesLeft = retry?.numRetries ?? 0;
    let retryNumber = 0;
    const tried = new Set<string>([host.key]);
    // Backpressure: while the upstream stream's buffer is full, stop reading the client, so
    // flow control holds the client back instead of the body piling up here.
    const holdUntilDrained = (up: http2.ClientHttp2Stream): void => {
      if (!up.writableNeedDrain || stream.isPaused()) return;
      stream.pause();
      up.once('drain', () => stream.resume());
      // A failed attempt with no retry lets the rest drain; a pending retry resumes in attempt().
      up.once('close', () => { if (current === up) stream.resume(); });
    };
    stream.on('data', (c: Buffer) => {
      if (!overflow) { buffered += c.length; if (buffered > H2_REPLAY_LIMIT) { overflow = true; chunks.length = 0; } else chunks.push(c); }
      if (current) { current.write(c); holdUntilDrained(current); }
    });
    stream.on('end', () => { reqEnded = true; current?.end(); });
    stream.on('close', () => { if (current && !current.closed) current.close(NGHTTP2_CANCEL); if (!finished) done(0, 'DC'); });
    if (action.timeoutMs > 0 && !grpc) {
      timer = setTimeout(() => { current?.close(NGHTTP2_CANCEL); localReply(stream, 504, 'UT', grpc, 'upstream request timeout'); done(504, 'UT'); }, action.timeoutMs);
    }
    const fail = (flag: string): void => {
      localReply(stream, 503, retryNumber > 0 ? `${flag},URX` : flag, grpc, flag === 'UF' ? 'upstream connect error' : 'upstream reset');
      done(503, flag);
    };
    const maybeRetry = (o: AttemptOutcome): boolean => {
      releaseRetrySlot(); // the retried attempt (if any) has its outcome
      if (!retry || retriesLeft <= 0 || overflow || committed || finished || !isRetriable(retry, o)) return false;
      if (!cs.breaker.tryRetry()) {
        this.deps.stats.inc('weft_retry_overflow_total', { cluster: clusterName });
        return false;
      }
      retrySlot = true;
      retriesLeft--;
      const delay = retryBackoffMs(retry, retryNumber++, this.deps.rand());
      setTimeout(() => {
        if (finished) return;
        // The copy overflowed while waiting: a replay would send a truncated body.
        if (overflow) { fail('UR'); return; }
        const next = cs.cluster.originalDst ? host : cs.balancer.pick({ now: this.deps.now(), avoid: retry.avoidPreviousHosts ? tried : undefined }) ?? host;
        tried.add(next.key);
        attempt(next);
      }, delay);
      return true;
    };
    const attempt = (target: typeof host): void => {
      let up: http2.ClientHttp2Stream;
      try {
        up = cs.sessionFor(target).request({ ...h, ':method': method, ':path': upPath, ':authority': upAuthority, ':scheme': 'http' } as http2.OutgoingHttpHeaders);
      } catch {
        if (!maybeRetry({ kind: 'connect-failure' })) fail('UF');
        return;
      }
      current = up;
      for (const c of chunks) up.write(c);
      if (reqEnded) up.end();
      else if (stream.isPaused()) { stream.resume(); holdUntilDrained(up); } // a retry replaces the stalled attempt
      let trailers: http2.IncomingHttpHeaders | undefined;
      let responded = false;
      up.on('response', (rh, flags) => {
        responded = true;
        const status = Number(rh[HTTP2_HEADER_STATUS] ?? 502);
        const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
        const g = rh['grpc-status'];
        if (endStream && maybeRetry({ kind: 'response', status, ...(g !== undefined ? { grpcStatus: Number(g) } : {}) })) {
          current = undefined;
          return;
        }
        committed = true;
        releaseRetrySlot();
        clearTimeout(timer);
        const out: HeaderBag = {};
        for (const [k, v] of Object.entries(rh)) if (!k.startsWith(':')) out[k] = v;
        mutateResponseHeaders(out, table, rr);
        if (stream.destroyed) return;
        stream.respond({ ...out, [HTTP2_HEADER_STATUS]: status } as http2.OutgoingHttpHeaders, endStream ? { endStream: true } : { waitForTrailers: true });
        if (endStream) { done(status, '-'); return; }
        stream.once('wantTrailers', () => {
          const t: HeaderBag = {};
          for (const [k, v] of Object.entries(trailers ?? {})) if (!k.startsWith(':')) t[k] = v;
          try { stream.sendTrailers(t as http2.OutgoingHttpHeaders); } catch { /* stream already gone */ }
        });
        up.on('data', (c: Buffer) => { bytes.resp += c.length; });
        up.pipe(stream);
        up.once('end', () => done(status, '-'));
      });
      up.on('trailers', (t) => { trailers = t; });
      const onFail = (): void => {
        if (finished || current !== up) return;
        if (!responded && maybeRetry({ kind: 'reset' })) { current = undefined; return; }
        fail('UR');
      };
      up.on('error', onFail);
      up.on('close', () => { if (!committed) onFail(); else if (!finished) { localReply(stream, 503, 'UR', grpc, 'upstream reset'); done(503, 'UR'); } });
    };
    attempt(host);
  }

  private toHttp1(
    stream: http2.ServerHttp2Stream, agent: http.Agent, ep: { address: string; port: number }, method: string, path: string,
    headers: HeaderBag, table: RouteTable, rr: NonNullable<ReturnType<typeof routeRequest>>, grpc: boolean,
    done: (status: number, flag: string) => void, responseBytes: (n: number) => void,
  ): void {
    const ureq = http.request({ host: ep.address, port: ep.port, method, path, headers: headers as http.OutgoingHttpHeaders, agent, setHost: false });
    ureq.on('response', (ures) => {
      const out: HeaderBag = { ...ures.headers };
      stripHopByHop(out);
      mutateResponseHeaders(out, table, rr);
      if (stream.destroyed) { ures.resume(); return; }
      stream.respond({ ...out, [HTTP2_HEADER_STATUS]: ures.statusCode ?? 502 } as http2.OutgoingHttpHeaders);
      ures.on('data', (c: Buffer) => responseBytes(c.length));
      ures.pipe(stream);
      ures.once('end', () => done(ures.statusCode ?? 502, '-'));
    });
    ureq.on('error', () => { localReply(stream, 503, 'UF', grpc, 'upstream connect error'); done(503, 'UF'); });
    stream.pipe(ureq);
    stream.on('close', () => { if (!ureq.destroyed && !ureq.writableFinished) ureq.destroy(); });
  }
}
