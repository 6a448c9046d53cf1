// The control plane's GET /debug/syncz as weftctl reads it. The CLI may not import src/xds, so the
// JSON shape is restated here (it mirrors ControlPlaneStatus.proxies in src/xds/controlplane.ts)
// and validated field by field: a wrong body gives an error naming the bad field.
import http from 'node:http';
import type { ProxySync, SyncState } from './check/checks.js';
import { CliError, EXIT } from './io.js';

export type SynczState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';
const SYNCZ_STATES: readonly string[] = ['SYNCED', 'STALE', 'NACKED', 'NOT SENT'];

export interface SynczNack {
  typeUrl?: string;
  version: string;
  message: string;
  code?: number;
  at?: string;
}

export interface SynczType {
  /** CDS, EDS, LDS, RDS, SDS. */
  type: string;
  sent?: string;
  acked?: string;
  state: SynczState;
  lastNack?: SynczNack;
}

export interface SynczProxy {
  nodeId: string;
  flavour?: string;
  namespace?: string;
  snapshot?: string;
  types: SynczType[];
  lastNack?: SynczNack;
}

export interface SynczReport {
  pushes: number;
  lastPushAt?: string;
  proxies: SynczProxy[];
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(path: string, what: string): Error {
  return new Error(`invalid /debug/syncz body: ${path} ${what}`);
}

function optString(o: Json, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${path}.${key}`, `must be a string, got ${typeof v}`);
  return v;
}

function parseNack(v: unknown, path: string): SynczNack | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw bad(path, 'must be an object');
  const version = optString(v, 'version', path) ?? '';
  const message = optString(v, 'message', path) ?? '';
  const n: SynczNack = { version, message };
  const typeUrl = optString(v, 'typeUrl', path);
  if (typeUrl !== undefined) n.typeUrl = typeUrl;
  const at = optString(v, 'at', path);
  if (at !== undefined) n.at = at;
  if (typeof v.code === 'number') n.code = v.code;
  return n;
}

function parseType(v: unknown, path: string): SynczType {
  if (!isObj(v)) throw bad(path, 'must be an object');
  const type = optString(v, 'type', path);
  if (!type) throw bad(`${path}.type`, 'is missing');
  const state = v.state;
  if (typeof state !== 'string' || !SYNCZ_STATES.includes(state)) throw bad(`${path}.state`, `must be one of ${SYNCZ_STATES.join(', ')}, got ${JSON.stringify(state)}`);
  const t: SynczType = { type, state: state as SynczState };
  const sent = optString(v, 'sent', path);
  if (sent !== undefined) t.sent = sent;
  const acked = optString(v, 'acked', path);
  if (acked !== undefined) t.acked = acked;
  const nack = parseNack(v.lastNack, `${path}.lastNack`);
  if (nack) t.lastNack = nack;
  return t;
}

function parseProxy(v: unknown, path: string): SynczProxy {
  if (!isObj(v)) throw bad(path, 'must be an object');
  const nodeId = optString(v, 'nodeId', path);
  if (!nodeId) throw bad(`${path}.nodeId`, 'is missing');
  if (!Array.isArray(v.types)) throw bad(`${path}.types`, 'must be a list');
  const p: SynczProxy = { nodeId, types: v.types.map((t, i) => parseType(t, `${path}.types[${i}]`)) };
  for (const k of ['flavour', 'namespace', 'snapshot'] as const) {
    const s = optString(v, k, path);
    if (s !== undefined) p[k] = s;
  }
  const nack = parseNack(v.lastNack, `${path}.lastNack`);
  if (nack) p.lastNack = nack;
  return p;
}

/** Validates a parsed /debug/syncz body. Throws an Error naming the first bad field. Pure. */
export function parseSyncz(body: unknown): SynczReport {
  if (!isObj(body)) throw bad('body', 'must be a JSON object');
  if (!Array.isArray(body.proxies)) throw bad('proxies', 'must be a list');
  const pushes = body.pushes === undefined ? 0 : body.pushes;
  if (typeof pushes !== 'number') throw bad('pushes', 'must be a number');
  const r: SynczReport = { pushes, proxies: body.proxies.map((p, i) => parseProxy(p, `proxies[${i}]`)) };
  if (isObj(body.lastPush) && typeof body.lastPush.at === 'string') r.lastPushAt = body.lastPush.at;
  return r;
}

/** Parses raw response text: not-JSON and wrong-shape bodies both give a clear error. Pure. */
export function parseSynczText(text: string): SynczReport {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const head = text.trim().slice(0, 60);
    throw new Error(`/debug/syncz did not return JSON (body starts with ${JSON.stringify(head)})`);
  }
  return parseSyncz(body);
}

/** `sidecar~10.88.0.5~reviews-v1-abc.shop~shop.svc.cluster.local` -> `reviews-v1-abc.shop`; other ids unchanged. */
export function proxyName(nodeId: string): string {
  const parts = nodeId.split('~');
  return parts.length === 4 && parts[2] ? parts[2] : nodeId;
}

const toSyncState = (s: SynczState): SyncState => (s === 'NACKED' ? 'NACK' : s);

/** One ProxySync row per proxy; `error` names the NACKed types, grouped by NACK message. Pure. */
export function synczToProxySyncs(report: SynczReport): ProxySync[] {
  return report.proxies.map((p) => {
    const types: Record<string, SyncState> = {};
    const byMessage = new Map<string, string[]>();
    for (const t of p.types) {
      types[t.type] = toSyncState(t.state);
      if (t.state !== 'NACKED') continue;
      const msg = t.lastNack?.message || 'no error detail';
      byMessage.set(msg, [...(byMessage.get(msg) ?? []), t.type]);
    }
    const error = [...byMessage].map(([msg, ts]) => `${ts.join(',')} NACKed: ${msg}`).join('; ');
    return { proxy: proxyName(p.nodeId), types, ...(error ? { error } : {}) };
  });
}

/**
 * Grace for STALE: `first` and `second` are two reads `graceMs` apart. A type still STALE at the
 * same sent version in both reads is stuck (STALE); one sent since the first read is PENDING
 * (in flight, not a warning). Pure.
 */
export function applyStaleGrace(first: SynczReport, second: SynczReport): ProxySync[] {
  const before = new Map<string, string | undefined>();
  for (const p of first.proxies) for (const t of p.types) if (t.state === 'STALE') before.set(`${p.nodeId}\u0000${t.type}`, t.sent);
  const rows = synczToProxySyncs(second);
  second.proxies.forEach((p, i) => {
    const row = rows[i] as ProxySync;
    for (const t of p.types) {
      if (t.state !== 'STALE') continue;
      const key = `${p.nodeId}\u0000${t.type}`;
      if (!before.has(key) || before.get(key) !== t.sent) row.types[t.type] = 'PENDING';
    }
  });
  return rows;
}

/** Only loopback and the local pod CIDR (network rule); http only. Throws a usage CliError. */
export function synczUrl(base: string): URL {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new CliError(`--controlplane-debug ${base}: not a URL (expected e.g. http://127.0.0.1:15014)`, EXIT.usage);
  }
  if (u.protocol !== 'http:') throw new CliError(`--controlplane-debug ${base}: only http:// is supported`, EXIT.usage);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const ok = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || /^10\.88\.\d+\.\d+$/.test(host);
  if (!ok) throw new CliError(`--controlplane-debug ${base}: weftctl only contacts 127.0.0.0/8 or 10.88.0.0/16; use kubectl port-forward and http://127.0.0.1:<port>`, EXIT.usage);
  if (!u.pathname.endsWith('/debug/syncz')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/debug/syncz`;
  return u;
}

/** GET the URL, bounded by a timeout; rejects on HTTP >= 400 with the status. */
export async function httpGetText(url: URL, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 400) reject(new Error(`${url.href} answered HTTP ${res.statusCode}: ${text.trim().slice(0, 120)}`));
        else resolve(text);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url.href}: no answer within ${timeoutMs}ms`)));
    req.on('error', (e: Error & { code?: string }) => reject(new Error(`${url.href}: ${e.message}`)));
  });
}

export interface SynczClientOptions {
  /** How long a type may stay STALE before `check` warns. */
  graceMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_STALE_GRACE_MS = 2000;

/** Reads /debug/syncz from a control plane's debug port. */
export class SynczClient {
  readonly url: URL;
  readonly description: string;
  private readonly graceMs: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(base: string, opts: SynczClientOptions = {}) {
    this.url = synczUrl(base);
    this.description = `control plane ${this.url.href}`;
    this.graceMs = opts.graceMs ?? DEFAULT_STALE_GRACE_MS;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async report(): Promise<SynczReport> {
    return parseSynczText(await httpGetText(this.url, this.timeoutMs));
  }

  /** One read; a second read after the grace only when something is STALE. */
  async fetch(): Promise<ProxySync[]> {
    const first = await this.report();
    if (!first.proxies.some((p) => p.types.some((t) => t.state === 'STALE'))) return synczToProxySyncs(first);
    await this.sleep(this.graceMs);
    return applyStaleGrace(first, await this.report());
  }
}
