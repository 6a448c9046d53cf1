// The admission HTTPS server: /inject (mutating, pods), /validate (validating, pluggable
// validators), /healthz, /metrics. Never crashes on bad input: every request path ends in a
// 400 with a message or an AdmissionReview response. TLS is swapped in place on rotation.
import express, { type NextFunction, type Request, type Response } from 'express';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import type { InjectionConfig } from '../api/injection.js';
import { formatIssues, type ValidationIssue, type Validator } from '../api/validation.js';
import { errorMessage, isWeftError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { decideInjection, DEFAULT_EXCLUDED_NAMESPACES } from '../render/inject/decide.js';
import { injectPod } from '../render/inject/inject.js';
import { BadReview, allow, deny, notAPod, parseAdmissionReview, podPatch, type AdmissionReview } from './admission.js';

/** A validator, or a validator plus a second pass whose findings are warnings (e.g. unimplemented fields). */
export type ValidatorEntry = Validator | { validate: Validator; warnings?: Validator };

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
}

export interface WebhookServerOptions {
  /** InjectionConfig per revision; `defaultRevision` serves /inject, every revision serves /inject/<rev>. */
  injection: ReadonlyMap<string, InjectionConfig>;
  defaultRevision: string;
  /** kind (e.g. "VirtualService", "MeshConfig") -> validator. */
  validators?: ReadonlyMap<string, ValidatorEntry>;
  /** Optional label lookup (e.g. an informer cache); without it the webhook configuration's selector decides. */
  namespaceLabels?: (namespace: string) => Readonly<Record<string, string>> | undefined;
  excludedNamespaces?: readonly string[];
  logger: Logger;
  /** Upper bound on request bodies. */
  maxBodyBytes?: number;
}

interface Counters {
  reviews: number;
  injected: number;
  skipped: number;
  denied: number;
  badRequests: number;
  errors: number;
}

function warningText(s: string): string {
  // Admission warnings must be short, single-line, printable text.
  return s.replace(/[^\x20-\x7e]/g, ' ').slice(0, 480);
}

export class WebhookServer {
  readonly app: express.Express;
  private server: https.Server | undefined;
  private readonly opts: WebhookServerOptions;
  private readonly log: Logger;
  private readonly counters: Counters = { reviews: 0, injected: 0, skipped: 0, denied: 0, badRequests: 0, errors: 0 };
  private certNotAfter: Date | undefined;

  constructor(opts: WebhookServerOptions) {
    if (!opts.injection.has(opts.defaultRevision)) throw new Error(`no InjectionConfig for default revision ${opts.defaultRevision}`);
    this.opts = opts;
    this.log = opts.logger;
    this.app = this.buildApp();
  }

  private buildApp(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    const raw = express.raw({ type: () => true, limit: this.opts.maxBodyBytes ?? 4 * 1024 * 1024 });
    app.get('/healthz', (_req, res) => { res.type('text/plain').send('ok'); });
    app.get('/readyz', (_req, res) => {
      if (this.server?.listening) res.type('text/plain').send('ok');
      else res.status(503).type('text/plain').send('not serving');
    });
    app.get('/metrics', (_req, res) => { res.type('text/plain; version=0.0.4').send(this.metricsText()); });
    app.post('/inject', raw, (req, res) => { this.handle(req, res, (body) => this.inject(body, this.opts.defaultRevision)); });
    app.post('/inject/:rev', raw, (req, res) => {
      const rev = String(req.params.rev);
      if (!this.opts.injection.has(rev)) {
        this.counters.badRequests++;
        res.status(404).json({ error: `no injection config for revision "${rev}"` });
        return;
      }
      this.handle(req, res, (body) => this.inject(body, rev));
    });
    app.post('/validate', raw, (req, res) => { this.handle(req, res, (body) => this.validate(body)); });
    app.use((req, res) => { res.status(404).json({ error: `no route for ${req.method} ${req.path}` }); });
    // Body-parser failures (too large, bad encoding) and anything unexpected end here, never in a crash.
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
      if (status >= 500) {
        this.counters.errors++;
        this.log.error({ err: errorMessage(err) }, 'webhook request failed');
      } else this.counters.badRequests++;
      if (!res.headersSent) res.status(status).json({ error: errorMessage(err) });
    });
    return app;
  }

  private handle(req: Request, res: Response, fn: (body: Buffer) => AdmissionReview): void {
    this.counters.reviews++;
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      res.json(fn(body));
    } catch (e) {
      if (e instanceof BadReview) {
        this.counters.badRequests++;
        res.status(400).json({ error: e.message });
        return;
      }
      this.counters.errors++;
      this.log.error({ err: errorMessage(e) }, 'admission handler failed');
      res.status(500).json({ error: `internal error: ${errorMessage(e)}` });
    }
  }

  /** Mutating admission for pods. Exposed for tests and the benchmark (no HTTP). */
  inject(body: Buffer | string, revision: string): AdmissionReview {
    const req = parseAdmissionReview(body);
    const cfg = this.opts.injection.get(revision)!;
    if (req.operation !== 'CREATE') return allow(req.uid, { auditAnnotations: { injection: `skipped: operation ${req.operation}` } });
    const bad = notAPod(req);
    if (bad) {
      this.counters.denied++;
      return deny(req.uid, bad);
    }
    const pod = req.object as V1Pod;
    const namespace = req.namespace ?? pod.metadata?.namespace ?? '';
    const decision = decideInjection(pod, namespace, this.opts.namespaceLabels?.(namespace), {
      revision,
      isDefaultRevision: revision === this.opts.defaultRevision,
      excludedNamespaces: this.opts.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES,
    });
    if (!decision.inject) {
      this.counters.skipped++;
      const warnings = decision.reason === 'HostNetwork' || decision.reason === 'InvalidInjectLabel' ? [warningText(`weft: not injected: ${decision.message}`)] : undefined;
      return allow(req.uid, { auditAnnotations: { injection: `skipped: ${decision.reason}` }, ...(warnings ? { warnings } : {}) });
    }
    try {
      const { pod: injected, report } = injectPod(pod, cfg);
      if (!report.injected) {
        this.counters.skipped++;
        return allow(req.uid, { auditAnnotations: { injection: `skipped: ${report.reason}` } });
      }
      const { patch } = podPatch(pod, injected);
      this.counters.injected++;
      const warnings = report.warnings.map((w) => warningText(`weft: ${w}`));
      return allow(req.uid, {
        patchType: 'JSONPatch',
        patch,
        auditAnnotations: { injection: `injected: ${cfg.version} revision ${cfg.revision}${report.native ? ' native' : ' classic'}` },
        ...(warnings.length ? { warnings } : {}),
      });
    } catch (e) {
      this.counters.denied++;
      if (isWeftError(e, 'WEFT_E_INVALID_INPUT')) return deny(req.uid, `weft sidecar injection failed: ${e.message}`);
      // A renderer bug must not take admission down: deny this pod, say why, keep serving.
      this.counters.errors++;
      this.log.error({ err: errorMessage(e), uid: req.uid }, 'injection failed unexpectedly');
      return deny(req.uid, `weft sidecar injection failed (internal error): ${errorMessage(e)}`, 500);
    }
  }

  /** Validating admission. Exposed for tests and the benchmark (no HTTP). */
  validate(body: Buffer | string): AdmissionReview {
    const req = parseAdmissionReview(body);
    if (req.operation === 'DELETE' || req.operation === 'CONNECT') return allow(req.uid);
    const entry = this.opts.validators?.get(req.kind.kind);
    if (!entry) return allow(req.uid, { warnings: [warningText(`weft: no validator for kind ${req.kind.kind}; not validated`)] });
    if (req.object === undefined || req.object === null) {
      this.counters.denied++;
      return deny(req.uid, `request.object is missing for ${req.operation} of ${req.kind.kind}`);
    }
    const validate = typeof entry === 'function' ? entry : entry.validate;
    const warn = typeof entry === 'function' ? undefined : entry.warnings;
    let issues: ValidationIssue[];
    let warnings: ValidationIssue[] = [];
    try {
      issues = validate(req.object);
      if (warn) warnings = warn(req.object);
    } catch (e) {
      this.counters.denied++;
      this.log.error({ kind: req.kind.kind, err: errorMessage(e) }, 'validator threw');
      return deny(req.uid, `validator for ${req.kind.kind} failed: ${errorMessage(e)}`, 500);
    }
    const warningList = warnings.map((w) => warningText(`${w.path}: ${w.message}`));
    if (issues.length) {
      this.counters.denied++;
      return deny(req.uid, `invalid ${req.kind.kind}: ${formatIssues(issues)}`, 400, warningList.length ? { warnings: warningList } : {});
    }
    return allow(req.uid, warningList.length ? { warnings: warningList } : {});
  }

  /** Starts HTTPS on host:port (port 0 = any). Resolves with the bound port. */
  async listen(tls: TlsMaterial, port: number, host = '127.0.0.1'): Promise<number> {
    const server = https.createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }, this.app);
    server.keepAliveTimeout = 30_000;
    server.on('tlsClientError', (err) => { this.log.debug({ err: err.message }, 'tls client error'); });
    server.on('clientError', (_err, socket) => { socket.destroy(); });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    return (server.address() as AddressInfo).port;
  }

  /** Swaps the serving certificate for new connections; open connections keep theirs. */
  setTls(tls: TlsMaterial, notAfter?: Date): void {
    this.server?.setSecureContext({ cert: tls.certPem, key: tls.keyPem });
    if (notAfter) this.certNotAfter = notAfter;
    this.log.info({ notAfter: notAfter?.toISOString() }, 'webhook serving certificate loaded');
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  metricsText(): string {
    const c = this.counters;
    const lines = [
      '# TYPE weft_webhook_reviews_total counter',
      `weft_webhook_reviews_total ${c.reviews}`,
      '# TYPE weft_webhook_injections_total counter',
      `weft_webhook_injections_total{result="injected"} ${c.injected}`,
      `weft_webhook_injections_total{result="skipped"} ${c.skipped}`,
      `weft_webhook_injections_total{result="denied"} ${c.denied}`,
      '# TYPE weft_webhook_bad_requests_total counter',
      `weft_webhook_bad_requests_total ${c.badRequests}`,
      '# TYPE weft_webhook_errors_total counter',
      `weft_webhook_errors_total ${c.errors}`,
    ];
    if (this.certNotAfter) {
      lines.push('# TYPE weft_webhook_cert_expiry_timestamp_seconds gauge', `weft_webhook_cert_expiry_timestamp_seconds ${Math.floor(this.certNotAfter.getTime() / 1000)}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
