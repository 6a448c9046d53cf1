// The contract between the operator and the control plane's rotation driver: two annotations
// on the self-signed CA Secret (weft-ca-secret) in the mesh namespace.
//
//   rotation.weft.dev/request  an opaque token, written by the OPERATOR to ask for a rotation.
//                              The driver starts one when it differs from state.request and
//                              the stage is idle.
//   rotation.weft.dev/state    JSON (RotationStateRecord), written only by the DRIVER.
//
// Pure parse/encode helpers only: no I/O, no clock.
import { WeftError } from '../errors/errors.js';

export const ROTATION_REQUEST_ANNOTATION = 'rotation.weft.dev/request';
export const ROTATION_STATE_ANNOTATION = 'rotation.weft.dev/state';

export const ROTATION_STAGES = ['idle', 'add-root', 'switch-issuer', 'remove-old-root'] as const;
export type RotationStageName = (typeof ROTATION_STAGES)[number];

/** At most this many lagging proxy ids are recorded. */
export const MAX_LAGGING_PROXIES = 20;

export interface RotationProxyProgress {
  total: number;
  current: number;
  /** xDS node ids of proxies not yet at the stage, at most MAX_LAGGING_PROXIES. */
  lagging: string[];
}

export interface RotationStateRecord {
  stage: RotationStageName;
  /** SHA-256 fingerprint (hex) of the root in use (before the rotation, while one runs). */
  currentRoot: string;
  /** Fingerprint of the incoming root, during a rotation. */
  nextRoot?: string;
  /** RFC 3339: when the current stage began. */
  stageSince: string;
  /** Rotations completed so far. */
  completed: number;
  /** The request token the driver last acted on. */
  request?: string;
  proxies: RotationProxyProgress;
  /** RFC 3339: when the driver last wrote this record. */
  updatedAt: string;
  message?: string;
}

const FP = /^[0-9a-f]{64}$/;
// RFC 3339 date-time with a mandatory offset (Z or ±hh:mm).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function bad(field: string, why: string): WeftError {
  return new WeftError('WEFT_E_INVALID_INPUT', `${ROTATION_STATE_ANNOTATION}: ${field} ${why}`, { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fingerprintField(o: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = o[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !FP.test(v)) throw bad(field, 'must be a SHA-256 fingerprint: 64 lowercase hex characters');
  return v;
}

function timeField(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string' || !RFC3339.test(v) || Number.isNaN(Date.parse(v))) throw bad(field, 'must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z');
  return v;
}

function countField(o: Record<string, unknown>, field: string, label = field): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(label, 'must be a non-negative integer');
  return v;
}

function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  return v;
}

/** Parses the driver's state annotation. Throws WEFT_E_INVALID_INPUT naming the bad field. */
export function parseRotationState(text: string): RotationStateRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new WeftError('WEFT_E_INVALID_INPUT', `${ROTATION_STATE_ANNOTATION}: not valid JSON`, { field: '(json)' });
  }
  if (!isObject(raw)) throw bad('(root)', 'must be a JSON object');
  const stage = raw.stage;
  if (typeof stage !== 'string' || !(ROTATION_STAGES as readonly string[]).includes(stage)) {
    throw bad('stage', `must be one of ${ROTATION_STAGES.join(', ')}`);
  }
  const currentRoot = fingerprintField(raw, 'currentRoot', true)!;
  const nextRoot = fingerprintField(raw, 'nextRoot', false);
  const stageSince = timeField(raw, 'stageSince');
  const completed = countField(raw, 'completed');
  const request = optionalString(raw, 'request');
  const p = raw.proxies;
  if (!isObject(p)) throw bad('proxies', 'must be an object {total, current, lagging}');
  const total = countField(p, 'total', 'proxies.total');
  const current = countField(p, 'current', 'proxies.current');
  if (current > total) throw bad('proxies.current', `(${current}) exceeds proxies.total (${total})`);
  const lagging = p.lagging;
  if (!Array.isArray(lagging) || !lagging.every((x) => typeof x === 'string')) throw bad('proxies.lagging', 'must be an array of xDS node ids (strings)');
  if (lagging.length > MAX_LAGGING_PROXIES) throw bad('proxies.lagging', `holds ${lagging.length} ids; at most ${MAX_LAGGING_PROXIES}`);
  const updatedAt = timeField(raw, 'updatedAt');
  const message = optionalString(raw, 'message');
  return {
    stage: stage as RotationStageName,
    currentRoot,
    ...(nextRoot !== undefined ? { nextRoot } : {}),
    stageSince,
    completed,
    ...(request !== undefined ? { request } : {}),
    proxies: { total, current, lagging: [...(lagging as string[])] },
    updatedAt,
    ...(message !== undefined ? { message } : {}),
  };
}

/** Encodes a record in a fixed key order (so equal records encode to equal text). */
export function encodeRotationState(r: RotationStateRecord): string {
  return JSON.stringify({
    stage: r.stage,
    currentRoot: r.currentRoot,
    ...(r.nextRoot !== undefined ? { nextRoot: r.nextRoot } : {}),
    stageSince: r.stageSince,
    completed: r.completed,
    ...(r.request !== undefined ? { request: r.request } : {}),
    proxies: { total: r.proxies.total, current: r.proxies.current, lagging: [...r.proxies.lagging] },
    updatedAt: r.updatedAt,
    ...(r.message !== undefined ? { message: r.message } : {}),
  });
}
