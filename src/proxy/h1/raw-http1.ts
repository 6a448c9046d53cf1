// The raw HTTP/1.1 fast path: requests are parsed from the socket (codec.ts), decided by the
// same modules as node:http's path (HttpProxy.decide, retry, outlier, circuit breaker, stats),
// and written upstream as one pre-built head on a pooled raw socket; bodies stream through
// with their framing kept and their bytes counted. Anything this path does not take on
// (HTTP/1.0, Upgrade, Expect, mirrors, fault delays...) hands the connection, bytes read so
// far included, to node:http before anything was acted on; it stays there from then on.
import http from 'node:http';
import type net from 'node:net';
import type { HttpContext, HttpProxy } from '../http-proxy.js';
import { copyEndToEnd, requestHash } from '../http-proxy.js';
import type { ForwardAction, RouteTable } from '../config/model.js';
import { mutateResponseHeaders, pickCluster, rewritePath, type RequestView, type RouteResult } from '../route/router.js';
import type { ClusterState } from '../cluster-manager.js';
import type { Host } from '../balance/host.js';
import { isRetriable, outcomeStatus, retryBackoffMs, type AttemptOutcome } from '../resilience/retry.js';
import { ORIGINAL_DST_HEADER, passthroughFacts } from '../passthrough.js';
import type { ActiveTrace } from '../tracing/tracer.js';
import type { Lease, RawPool } from './raw-pool.js';
import {
  ChunkedScanner, hasLineBreak, parseRequestHead, parseResponseHead, serializeHeaders,
  type BodyFraming, type HeadLimits, type RequestHead, type ResponseHead,
} from './codec.js';

/** Largest request body buffered so it can be replayed on retry (Envoy's 1 MiB, as node:http's path). */
const REPLAY_LIMIT = 1024 * 1024;
/** Read-ahead kept while a request is in flight (pipelined bytes); past it, reading pauses. */
const READ_AHEAD = 64 * 1024;
const UPSTREAM_HEAD: HeadLimits = { maxBytes: 64 * 1024, maxHeaders: 200 };

export interface RawHttp1Limits { maxHeaderBytes: number; maxHeaders: number; headersTimeoutMs: number; keepAliveMs: number }

/** What the listener provides per connection. */
export interface RawHttp1Host {
  /** The connection's HTTP context as of now (config pushes re-resolve it); undefined = chain gone. */
  context(): HttpContext | undefined;
  draining(): boolean;
  /** Continue this connection on node:http; `pending` are bytes read but not acted on. */
  handoff(socket: net.Socket, pending: Buffer): void;
}

const STATUS_LINES = new Map<number, string>();
function statusLine(status: number): string {
  let l = STATUS_LINES.get(status);
  if (!l) { l = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}\r\n`; if (STATUS_LINES.size < 1000) STATUS_LINES.set(status, l); }
  return l;
}

function joinHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** Serves HTTP/1.1 connections on raw sockets. One instance per proxy. */
export class RawHttp1 {
  readonly connections = new Set<DownstreamConn>();
  constructor(readonly proxy: HttpProxy, readonly limits: RawHttp1Limits) {}

  serve(socket: net.Socket, host: RawHttp1Host): void {
    const c = new DownstreamConn(this, socket, host);
    this.connections.add(c);
    socket.resume(); // detection paused it
  }

  /** Drain: close connections with no request in flight; busy ones close after their response. */
  closeIdle(): void {
    for (const c of this.connections) c.closeIfIdle();
  }
}

class DownstreamConn {
  private buf: Buffer | undefined;
  private state: 'head' | 'busy' | 'done' = 'head';
  ex: Exchange | undefined;
  private readonly timer: NodeJS.Timeout;
  private deadline: 'idle' | 'head' = 'head';
  private idleSince = 0;
  private first = true;
  private parsing = false;

  constructor(readonly owner: RawHttp1, readonly socket: net.Socket, readonly host: RawHttp1Host) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    // The first request's head must arrive within the headers timeout (slowloris).
    this.timer = setTimeout(this.onTimer, owner.limits.headersTimeoutMs);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === 'done') return; // closing: the rest of a body we answered early, say
    const ex = this.ex;
    if (ex && !ex.requestDone) { ex.feedBody(chunk); return; }
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.state === 'head') this.parse();
    else if (this.buf.length > READ_AHEAD) this.socket.pause();
  };

  private readonly onEnd = (): void => {
    // Half-close by the client: finish what is in flight, then close.
    if (!this.ex) this.socket.end();
  };

  private readonly onClose = (): void => {
    this.state = 'done';
    clearTimeout(this.timer);
    this.owner.connections.delete(this);
    this.ex?.downstreamGone();
  };

  private readonly onDrain = (): void => { this.ex?.downstreamDrained(); };

  // One timer per connection, ticking at the headers timeout: a head must complete within one
  // tick of its first byte (slowloris), an idle keep-alive connection lives for keepAliveMs.
  private readonly onTimer = (): void => {
    if (this.state === 'busy') { this.timer.refresh(); return; }
    if (this.state !== 'head') return;
    if (this.deadline === 'head' && ((this.buf && this.buf.length > 0) || this.first)) { this.fail(408, 'Request Timeout'); return; }
    if (Date.now() - this.idleSince < this.owner.limits.keepAliveMs) { this.timer.refresh(); return; }
    this.socket.destroy();
  };

  closeIfIdle(): void {
    if (!this.ex && this.state === 'head') this.socket.end();
  }

  /** A malformed request: answer and close, as node:http's clientError handler does. */
  fail(status: number, text: string): void {
    this.state = 'done';
    clearTimeout(this.timer);
    if (this.socket.writable && !this.socket.writableEnded) {
      this.socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    } else this.socket.destroy();
  }

  /** Parses as many heads as are buffered, one request at a time. */
  parse(): void {
    if (this.parsing) return;
    this.parsing = true;
    try {
      while (this.state === 'head' && this.buf && this.buf.length > 0) {
        if (this.deadline === 'idle') { this.deadline = 'head'; this.timer.refresh(); }
        const l = this.owner.limits;
        const r = parseRequestHead(this.buf, { maxBytes: l.maxHeaderBytes, maxHeaders: l.maxHeaders });
        if (r.kind === 'need-more') return;
        if (r.kind === 'error') { this.fail(r.status, r.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'); return; }
        if (r.kind === 'unsupported') { this.handoff(); return; }
        const all = this.buf;
        const rest = r.consumed < all.length ? all.subarray(r.consumed) : undefined;
        this.buf = undefined;
        this.state = 'busy';
        const ex = new Exchange(this, r.head);
        this.ex = ex;
        if (!ex.begin(rest)) {
          // Handed off before any side effect: node:http gets the head and everything after it.
          this.ex = undefined;
          this.buf = all;
          this.handoff();
          return;
        }
      }
    } finally {
      this.parsing = false;
    }
  }

  private handoff(): void {
    this.state = 'done';
    clearTimeout(this.timer);
    this.owner.connections.delete(this);
    const s = this.socket;
    s.pause();
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('drain', this.onDrain);
    s.off('end', this.onEnd);
    const pending = this.buf ?? Buffer.alloc(0);
    this.buf = undefined;
    this.host.handoff(s, pending);
  }

  /** Bytes past the request body (the next pipelined request) go back to the read buffer. */
  keep(rest: Buffer): void {
    this.buf = this.buf ? Buffer.concat([rest, this.buf]) : rest;
  }

  /** The exchange is over: next request, or close. */
  exchangeDone(close: boolean): void {
    this.ex = undefined;
    if (this.state === 'done') return;
    if (close || this.host.draining() || this.socket.readableEnded) { this.state = 'done'; this.socket.end(); return; }
    this.state = 'head';
    this.deadline = 'idle';
    this.first = false;
    this.idleSince = Date.now();
    this.timer.refresh();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buf) this.parse();
  }

  /** Read pause/resume for request-body backpressure. */
  pause(): void { this.socket.pause(); }
  resume(): void { if (this.state !== 'done') this.socket.resume(); }
}

type Finish = (cluster: string, status: number, flags: string) => void;

/** One request from head to the end of its response. */
class Exchange {
  private readonly start: number;
  private readonly ctx: HttpContext | undefined;
  private trace: ActiveTrace | undefined;
  requestDone: boolean;
  private reqLeft = 0;
  private scanner: ChunkedScanner | undefined;
  private reqBytes = 0;
  private respBytes = 0;
  /** Body bytes read before an upstream socket took them (or all of it, when replayable). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private replay = false;
  private discard = false;
  private onBodyDone: (() => void) | undefined;
  private finished = false;
  private closeAfter: boolean;
  private headSent = false;
  // Forwarding state.
  private cs: ClusterState | undefined;
  private clusterName = '';
  private up: UpstreamAttempt | undefined;
  private overallTimer: NodeJS.Timeout | undefined;
  /** Bytes read with the head: the body's start, maybe the next request. */
  private rest: Buffer | undefined;

  constructor(readonly conn: DownstreamConn, readonly head: RequestHead) {
    this.start = conn.owner.proxy.deps.now();
    this.ctx = conn.host.context();
    this.requestDone = head.framing.kind === 'none';
    this.closeAfter = head.close;
    if (head.framing.kind === 'length') this.reqLeft = head.framing.length;
    else if (head.framing.kind === 'chunked') this.scanner = new ChunkedScanner();
  }

  private get deps(): HttpProxy['deps'] { return this.conn.owner.proxy.deps; }

  private view(): RequestView {
    const h = this.head.headers;
    return { authority: h.host as string, path: this.head.target, method: this.head.method, header: (n) => joinHeader(h[n]) };
  }

  /** Decides the request; false = hand the connection to node:http (nothing was acted on). */
  begin(rest: Buffer | undefined): boolean {
    this.rest = rest;
    const ctx = this.ctx;
    if (!ctx) {
      this.closeAfter = true;
      this.reply({ cluster: 'unknown', status: 503, flag: 'NR', body: 'filter chain removed by a config update\n' }, true);
      return true;
    }
    const proxy = this.conn.owner.proxy;
    const d = proxy.decide(ctx, this.view(), this.head.headers, true);
    if (d.kind === 'handoff') return false;
    const tracer = this.deps.tracer;
    if (tracer) {
      const h = this.head.headers;
      const authority = h.host as string;
      this.trace = tracer.start((n) => { const v = h[n]; return Array.isArray(v) ? v[0] : v; },
        ctx.direction === 'inbound' ? 'server' : 'client', this.start, this.head.method, `${ctx.scheme}://${authority}${this.head.target}`, authority);
    }
    if (d.kind === 'reply') { this.reply(d, !d.bare); return true; }
    if (d.delayMs > 0) return false; // unreachable: fault delays were handed off
    this.forward(ctx, d.table, d.rr, d.action);
    return true;
  }

  private readonly finish: Finish = (cluster, status, flags) => {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.overallTimer);
    const deps = this.deps;
    const durationMs = deps.now() - this.start;
    if (this.trace) deps.tracer!.end(this.trace, this.start + durationMs, status, flags, cluster);
    const ctx = this.ctx;
    deps.stats.recordRequest({
      cluster, status, flags, durationMs, direction: ctx?.direction ?? 'inbound', reqBytes: this.reqBytes, respBytes: this.respBytes,
      ...(ctx?.peerPrincipal ? { peerPrincipal: ctx.peerPrincipal } : {}),
    });
    deps.accessLog?.info({
      method: this.head.method, path: this.head.target, authority: this.head.headers.host, status, flags, cluster, durationMs,
      requestId: this.head.headers['x-request-id'], downstream: this.conn.socket.remoteAddress, direction: ctx?.direction,
    }, 'access');
  };

  /** A local answer. With a request body still to come, the connection closes after it (the rest is read and dropped). */
  private reply(d: { cluster: string; status: number; flag: string; body: string; headers?: Record<string, string> }, flagged: boolean): void {
    if (!this.requestDone) this.closeAfter = true;
    const body = d.body;
    const len = Buffer.byteLength(body);
    let h = statusLine(d.status);
    if (flagged) h += `content-type: text/plain\r\nx-weft-response-flags: ${d.flag}\r\n`;
    if (d.headers) h += serializeHeaders(d.headers);
    h += `content-length: ${len}\r\n`;
    if (this.closeAfter) h += 'connection: close\r\n';
    this.conn.socket.write(h + '\r\n' + body);
    this.headSent = true;
    this.respBytes = len;
    this.finish(d.cluster, d.status, d.flag);
    if (this.requestDone) { this.absorbRest(); this.conn.exchangeDone(this.closeAfter); return; }
    this.discard = true;
    this.rest = undefined;
    this.conn.exchangeDone(true);
  }

  /** The bytes read with the head: body for this request, the rest back to the connection. */
  private absorbRest(): void {
    const r = this.rest;
    this.rest = undefined;
    if (!r) return;
    if (!this.requestDone) this.feedBody(r); else this.conn.keep(r);
  }

  /** Streamed body bytes that arrived before the upstream socket was leased (now written with the head). */
  takePending(): Buffer[] {
    const p = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.conn.resume();
    return p;
  }

  /** Request body bytes from the socket (the exchange's part; the rest goes back to the connection). */
  feedBody(chunk: Buffer): void {
    let piece = chunk;
    if (this.scanner) {
      const before = this.scanner.payload;
      const r = this.scanner.feed(chunk);
      if ('error' in r) { this.badBody(); return; }
      this.reqBytes += this.scanner.payload - before;
      if (r.used < chunk.length) { piece = chunk.subarray(0, r.used); this.conn.keep(chunk.subarray(r.used)); }
      if (r.done) this.requestDone = true;
    } else {
      if (chunk.length > this.reqLeft) { piece = chunk.subarray(0, this.reqLeft); this.conn.keep(chunk.subarray(this.reqLeft)); }
      this.reqLeft -= piece.length;
      this.reqBytes += piece.length;
      if (this.reqLeft === 0) this.requestDone = true;
    }
    if (!this.discard) {
      const up = this.up;
      if (up && up.bodyToSocket) {
        if (!up.socket.write(piece)) { this.conn.pause(); up.socket.once('drain', () => this.conn.resume()); }
      } else {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
        if (!this.replay && this.pendingBytes > READ_AHEAD) this.conn.pause();
      }
    }
    if (this.requestDone) { const f = this.onBodyDone; this.onBodyDone = undefined; f?.(); }
  }

  /** Bad chunked framing mid-body: 400 if nothing was answered yet, else the connection goes. */
  private badBody(): void {
    this.up?.abort();
    if (!this.finished) this.release();
    if (!this.headSent) {
      this.finish(this.clusterName || 'unknown', 400, 'DPE');
      this.conn.fail(400, 'Bad Request');
    } else {
      this.finish(this.clusterName || 'unknown', 0, 'DPE');
      this.conn.socket.destroy();
    }
  }

  downstreamGone(): void {
    if (this.finished) { this.up?.abort(); return; }
    this.up?.abort();
    this.release();
    this.finish(this.clusterName || 'unknown', 0, 'DC');
  }

  downstreamDrained(): void { this.up?.resumeUpstream(); }

  private released = true;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.cs!.breaker.releaseRequest();
    clearTimeout(this.overallTimer);
  }

  private forward(ctx: HttpContext, table: RouteTable, rr: RouteResult, action: ForwardAction): void {
    const proxy = this.conn.owner.proxy;
    const deps = this.deps;
    const clusterName = pickCluster(action, deps.rand());
    this.clusterName = clusterName;
    const cs = deps.clusters.get(clusterName);
    if (!cs) { this.reply({ cluster: clusterName, status: 503, flag: 'NC', body: 'no cluster\n' }, true); return; }
    const cb = cs.breaker;
    const limits = cs.cluster.circuitBreakers;
    if (cb.requests >= limits.maxRequests || cb.requests >= limits.maxConnections + limits.maxPendingRequests || !cb.tryRequest()) {
      this.reply({ cluster: clusterName, status: 503, flag: 'UO', body: 'upstream overflow\n', headers: { 'x-envoy-overloaded': 'true' } }, true);
      return;
    }
    this.cs = cs;
    this.released = false;
    const src = this.head.headers;
    const facts = passthroughFacts(ctx.originalDst, joinHeader(src[ORIGINAL_DST_HEADER]));
    const headers = proxy.upstreamHeaders(src, ctx, table, rr, action, cs, this.trace);
    if (hasLineBreak(headers)) { this.release(); this.reply({ cluster: clusterName, status: 500, flag: 'DPE', body: 'bad header value\n' }, true); return; }
    const path = rewritePath(rr.route, action, this.head.target);
    const framing = this.head.framing;
    // Content-Length is end-to-end (already in `headers`); chunked framing is restated.
    const framingHeader = framing.kind === 'chunked' ? 'transfer-encoding: chunked\r\n' : '';
    const upHead = Buffer.from(`${this.head.method} ${path} HTTP/1.1\r\n${serializeHeaders(headers)}${framingHeader}\r\n`, 'latin1');
    const retry = action.retry;
    const hasBody = framing.kind !== 'none';
    this.replay = hasBody && framing.kind === 'length' && framing.length <= REPLAY_LIMIT && (retry?.numRetries ?? 0) > 0;
    const hash = action.hashPolicy.length > 0 ? requestHash(action, src, this.conn.socket.remoteAddress) : undefined;

    if (action.timeoutMs > 0) {
      this.overallTimer = setTimeout(() => {
        if (this.finished) return;
        this.up?.abort();
        this.release();
        this.failWith(504, 'UT', 'upstream request timeout\n');
      }, action.timeoutMs);
    }

    const tried = new Set<string>();
    let retriesLeft = retry?.numRetries ?? 0;
    let retryNumber = 0;
    let staleRetried = false;
    let retrySlot = false;
    const releaseRetrySlot = (): void => { if (retrySlot) { retrySlot = false; cb.releaseRetry(); } };
    const attemptOnce = (): void => {
      if (this.finished) { releaseRetrySlot(); return; }
      const picked = cs.pick({ now: deps.now(), hash, avoid: retry?.avoidPreviousHosts ? tried : undefined }, facts);
      const host = picked.host;
      if (!host) {
        if (picked.passthrough && !picked.passthrough.ok) {
          deps.logger.debug({ cluster: clusterName, reason: picked.passthrough.reason, target: picked.passthrough.target }, 'passthrough refused');
        }
        releaseRetrySlot();
        this.release();
        this.failWith(503, 'UH', 'no healthy upstream\n');
        return;
      }
      tried.add(host.key);
      const body = this.replay || !hasBody ? this.pending : undefined;
      this.up = new UpstreamAttempt(this, cs, host, cs.rawPoolFor(host), upHead, body, retry?.perTryTimeoutMs ?? 0, (outcome, reused) => {
        const canReplay = this.replay || !hasBody;
        if (outcome.kind === 'reset' && reused && canReplay && !staleRetried) {
          // The pooled keep-alive connection was closed by the upstream as we reused it.
          staleRetried = true;
          attemptOnce();
          return true;
        }
        proxy.recordOutlier(cs, host, outcome);
        releaseRetrySlot();
        if (retry && retriesLeft > 0 && canReplay && isRetriable(retry, outcome)) {
          if (cb.tryRetry()) {
            retrySlot = true;
            retriesLeft--;
            setTimeout(attemptOnce, retryBackoffMs(retry, retryNumber++, deps.rand()));
            return true;
          }
          deps.stats.inc('weft_retry_overflow_total', { cluster: clusterName });
        }
        if (outcome.kind !== 'response') {
          this.release();
          const { status, flag } = outcomeStatus(outcome);
          this.failWith(status, retryNumber > 0 && retry ? `${flag},URX` : flag, 'upstream connect error or disconnect/reset before headers\n');
          return true;
        }
        return false; // the response goes downstream
      }, (res) => this.respondHead(res, table, rr));
      this.up.start();
    };
    if (this.replay && !this.requestDone) {
      this.onBodyDone = attemptOnce;
      this.absorbRest();
      return;
    }
    this.absorbRest();
    attemptOnce();
  }

  /** Local answer after forwarding began (timeouts, upstream failures). */
  private failWith(status: number, flag: string, body: string): void {
    if (this.headSent) { this.finish(this.clusterName, status, flag); this.conn.socket.destroy(); return; }
    this.reply({ cluster: this.clusterName, status, flag, body }, true);
  }

  /** The response head from upstream, rebuilt for downstream. */
  private respondHead(res: ResponseHead, table: RouteTable, rr: RouteResult): void {
    const h = copyEndToEnd(res.headers);
    mutateResponseHeaders(h, table, rr);
    // Upstream values were validated by the parser; configured additions are checked here.
    if (hasLineBreak(h)) for (const k in h) if (hasLineBreak({ [k]: h[k] })) delete h[k];
    const f = res.framing;
    // A body delimited by the upstream's close is delimited by ours too.
    if (f.kind === 'until-close') this.closeAfter = true;
    let head = statusLine(res.status) + serializeHeaders(h);
    if (f.kind === 'chunked') head += 'transfer-encoding: chunked\r\n';
    if (this.closeAfter || this.conn.host.draining()) { head += 'connection: close\r\n'; this.closeAfter = true; }
    this.conn.socket.write(head + '\r\n');
    this.headSent = true;
  }

  /** Response body bytes; false = downstream is full, pause the upstream. */
  writeBody(b: Buffer, payload: number): boolean {
    this.respBytes += payload;
    return this.conn.socket.write(b);
  }

  /** The response is complete (reusable: the upstream socket may serve another request). */
  responseDone(status: number): void {
    this.release();
    this.finish(this.clusterName, status, '-');
    if (!this.requestDone) {
      // Answered before the body was all read (an early 413, say): drop the rest, then close.
      this.discard = true;
      this.conn.exchangeDone(true);
      return;
    }
    this.conn.exchangeDone(this.closeAfter);
  }

  /** The upstream went away mid-response: nothing more can be said downstream. */
  responseBroken(status: number): void {
    this.release();
    this.finish(this.clusterName, status, '-');
    this.conn.socket.destroy();
  }
}

/** One attempt on one upstream socket: write the request, read the response head and body. */
class UpstreamAttempt {
  socket!: net.Socket;
  private lease: Lease | undefined;
  private cancelWait: (() => void) | undefined;
  private buf: Buffer | undefined;
  private res: ResponseHead | undefined;
  private resLeft = 0;
  private scanner: ChunkedScanner | undefined;
  private settled = false;
  private over = false;
  private gotBytes = false;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Streaming request bodies go straight to the socket once it is leased. */
  bodyToSocket = false;

  constructor(
    private readonly ex: Exchange, private readonly cs: ClusterState, private readonly host: Host, private readonly pool: RawPool,
    private readonly head: Buffer, private readonly body: Buffer[] | undefined, private readonly perTryMs: number,
    /** true = the exchange took care of it (retry or local reply); false = forward the response. */
    private readonly settle: (o: AttemptOutcome, reused: boolean) => boolean,
    private readonly onHead: (res: ResponseHead) => void,
  ) {}

  start(): void {
    this.host.active++;
    if (this.perTryMs > 0) this.timer = setTimeout(() => this.fail({ kind: 'per-try-timeout' }), this.perTryMs);
    try {
      this.cancelWait = this.pool.acquire((lease) => {
        this.cancelWait = undefined;
        if (this.over) { this.pool.release(lease.socket, !lease.connecting); return; }
        this.attach(lease);
      });
    } catch {
      this.fail({ kind: 'connect-failure' }); // e.g. an address net.connect refuses outright
    }
  }

  private attach(lease: Lease): void {
    this.lease = lease;
    const s = lease.socket;
    this.socket = s;
    s.on('data', this.onData);
    s.on('close', this.onClose);
    s.on('end', this.onEnd);
    if (lease.connecting) {
      this.connectTimer = setTimeout(() => this.fail({ kind: 'connect-failure' }), this.cs.cluster.connectTimeoutMs);
      s.once(this.cs.cluster.tls ? 'secureConnect' : 'connect', () => { clearTimeout(this.connectTimer); if (this.lease) this.lease.connecting = false; });
    }
    if (this.body === undefined) {
      const early = this.ex.takePending();
      s.write(early.length === 0 ? this.head : Buffer.concat([this.head, ...early]));
      this.bodyToSocket = true;
    } else {
      s.write(this.body.length === 0 ? this.head : Buffer.concat([this.head, ...this.body]));
    }
  }

  private detach(): net.Socket | undefined {
    const s = this.lease?.socket;
    if (!s) return undefined;
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('end', this.onEnd);
    this.lease = undefined;
    return s;
  }

  private done(): void {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.host.active--;
  }

  /** The exchange gave up (timeout, downstream gone): the socket cannot be reused. */
  abort(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.done();
    this.settled = true;
    const s = this.detach();
    if (s) this.pool.release(s, false);
  }

  resumeUpstream(): void { this.lease?.socket.resume(); }

  private fail(o: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    const reused = this.lease?.reused === true && !this.gotBytes;
    this.cancelWait?.();
    this.done();
    const s = this.detach();
    if (s) this.pool.release(s, false);
    this.settle(o, reused);
  }

  private readonly onEnd = (): void => { /* handled on close; until-close bodies end there */ };

  private readonly onClose = (): void => {
    const wasConnecting = this.lease?.connecting === true;
    if (!this.res) { this.fail(wasConnecting ? { kind: 'connect-failure' } : { kind: 'reset' }); return; }
    this.detach();
    this.done();
    if (this.res.framing.kind === 'until-close') this.ex.responseDone(this.res.status);
    else this.ex.responseBroken(this.res.status);
  };

  private readonly onData = (chunk: Buffer): void => {
    this.gotBytes = true;
    if (this.res) { this.onBody(chunk); return; }
    let buf: Buffer = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = undefined;
    for (;;) {
      const r = parseResponseHead(buf, UPSTREAM_HEAD, this.ex.head.method === 'HEAD');
      if (r.kind === 'need-more') { this.buf = buf; return; }
      if (r.kind !== 'ok') { this.fail({ kind: 'reset' }); return; }
      const rest: Buffer | undefined = r.consumed < buf.length ? buf.subarray(r.consumed) : undefined;
      if (r.head.status < 200) { if (rest) { buf = rest; continue; } return; } // interim 1xx: not forwarded
      const res = r.head;
      const g = res.headers['grpc-status'];
      const outcome: AttemptOutcome = { kind: 'response', status: res.status, ...(typeof g === 'string' ? { grpcStatus: Number(g) } : {}) };
      this.settled = true;
      clearTimeout(this.timer);
      if (this.settle(outcome, false)) {
        // Retried or answered locally: the response is dropped. Its socket is kept only when
        // the whole (small) body is already here, as is usual for a 503.
        this.done();
        const s = this.detach();
        const f = res.framing;
        const whole = f.kind === 'none' ? !rest : f.kind === 'length' && (rest?.length ?? 0) === f.length;
        if (s) this.pool.release(s, whole && !res.close && this.ex.requestDone && !this.bodyPending());
        return;
      }
      this.res = res;
      // Head and the body bytes that came with it leave in one write (one TLS record, one syscall).
      const down = this.ex.conn.socket;
      down.cork();
      try {
        this.onHead(res);
        const f: BodyFraming = res.framing;
        if (f.kind === 'length') this.resLeft = f.length;
        else if (f.kind === 'chunked') this.scanner = new ChunkedScanner();
        if (f.kind === 'none' || (f.kind === 'length' && f.length === 0)) this.complete(rest);
        else if (rest) this.onBody(rest);
      } finally {
        if (down.writableCorked > 0) down.uncork();
      }
      return;
    }
  };

  private onBody(chunk: Buffer): void {
    const f = this.res!.framing;
    let piece = chunk;
    let payload = chunk.length;
    let end = false;
    let extra: Buffer | undefined;
    if (f.kind === 'length') {
      if (chunk.length >= this.resLeft) { piece = chunk.subarray(0, this.resLeft); extra = chunk.length > this.resLeft ? chunk : undefined; end = true; }
      payload = piece.length;
      this.resLeft -= piece.length;
    } else if (f.kind === 'chunked') {
      const before = this.scanner!.payload;
      const r = this.scanner!.feed(chunk);
      if ('error' in r) { this.broken(); return; }
      payload = this.scanner!.payload - before;
      if (r.used < chunk.length) { piece = chunk.subarray(0, r.used); extra = chunk; }
      end = r.done;
    }
    if (!this.ex.writeBody(piece, payload)) this.lease?.socket.pause();
    if (end) this.complete(extra);
  }

  private broken(): void {
    this.done();
    const s = this.detach();
    if (s) this.pool.release(s, false);
    this.ex.responseBroken(this.res!.status);
  }

  /** Response complete; `extra` = bytes past its end (the upstream broke framing: do not reuse). */
  private complete(extra: Buffer | undefined): void {
    this.done();
    const s = this.detach();
    if (s) {
      if (s.isPaused()) s.resume();
      this.pool.release(s, !extra && !this.res!.close && this.ex.requestDone && !this.bodyPending());
    }
    this.ex.responseDone(this.res!.status);
  }

  /** A streamed request body still being written: the socket cannot take another request yet. */
  private bodyPending(): boolean { return this.bodyToSocket && !this.ex.requestDone; }
}
