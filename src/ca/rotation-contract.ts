// The contract between the operator and the control plane's rotation driver, carried on
// the self-signed CA Secret (weft-ca-secret) in the mesh namespace:
//
//   rotation.weft.dev/request  opaque token, written by the operator; a new value starts a rotation
//   rotation.weft.dev/state    JSON (RotationStatus), written only by the driver
//
// and the incoming CA's material under next-* data keys while a rotation runs. Pure: no I/O.
import { WeftError } from '../errors/errors.js';
import type { RotationStage } from './rotation.js';

export const ROTATION_REQUEST_ANNOTATION = 'rotation.weft.dev/request';
export const ROTATION_STATE_ANNOTATION = 'rotation.weft.dev/state';

/** The incoming CA during a rotation, in the same layout as CA_SECRET_KEYS. */
export const NEXT_CA_SECRET_KEYS = Object.freeze({
  caCert: 'next-ca-cert.pem',
  caKey: 'next-ca-key.pem',
  certChain: 'next-cert-chain.pem',
  rootCert: 'next-root-cert.pem',
  rootKey: 'next-root-key.pem',
});

/** At most this many lagging proxy ids are listed in the state (the counts are exact). */
export const MAX_LAGGING_LISTED = 20;

export const PLUGGED_CA_ROTATION_MESSAGE =
  "root rotation needs Weft's self-signed CA (weft-ca-secret); a plugged-in cacerts root is rotated by replacing cacerts";

export const ROTATION_STAGES: readonly RotationStage[] = Object.freeze(['idle', 'add-root', 'switch-issuer', 'remove-old-root']);

export interface RotationProxies {
  /** Connected proxies (xDS nodes). */
  readonly total: number;
  /** Proxies that ACKed the current stage's ROOTCA trust bundle. */
  readonly current: number;
  /** xDS node ids of proxies not yet current, sorted, at most MAX_LAGGING_LISTED. */
  readonly lagging: readonly string[];
}

/** The JSON in rotation.weft.dev/state. */
export interface RotationStatus {
  readonly stage: RotationStage;
  /** SHA-256 fingerprint (lowercase hex) of the root in use before the rotation. */
  readonly currentRoot: string;
  /** Fingerprint of the incoming root, during a rotation. */
  readonly nextRoot?: string;
  /** RFC 3339. */
  readonly stageSince: string;
  readonly completed: number;
  /** The request token the driver last acted on. */
  readonly request?: string;
  readonly proxies: RotationProxies;
  /** RFC 3339. */
  readonly updatedAt: string;
  readonly message?: string;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;
// RFC 3339 with a time zone (Z or ±hh:mm), optional fractional seconds.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function bad(message: string, details: Record<string, unknown> = {}): WeftError {
  return new WeftError('WEFT_E_INVALID_INPUT', `${ROTATION_STATE_ANNOTATION}: ${message}`, details);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fingerprintField(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !FINGERPRINT.test(v)) throw bad(`${key} must be a SHA-256 fingerprint (64 lowercase hex digits)`, { field: key });
  return v;
}

function timeField(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !RFC3339.test(v) || Number.isNaN(Date.parse(v))) throw bad(`${key} must be an RFC 3339 timestamp`, { field: key });
  return v;
}

function countField(o: Record<string, unknown>, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${where}${key} must be a non-negative integer`, { field: `${where}${key}` });
  return v;
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${key} must be a string`, { field: key });
  return v;
}

/** Checks a status (parsed or about to be written) against the contract; returns a copy in contract field order. */
export function validateRotationStatus(value: unknown): RotationStatus {
  if (!isRecord(value)) throw bad('must be a JSON object');
  const stage = value['stage'];
  if (typeof stage !== 'string' || !(ROTATION_STAGES as readonly string[]).includes(stage)) {
    throw bad(`stage must be one of ${ROTATION_STAGES.join(', ')}`, { field: 'stage', stage });
  }
  const currentRoot = fingerprintField(value, 'currentRoot');
  let nextRoot: string | undefined;
  if (value['nextRoot'] !== undefined) nextRoot = fingerprintField(value, 'nextRoot');
  if (stage !== 'idle' && nextRoot === undefined) throw bad(`stage ${stage} needs nextRoot`, { field: 'nextRoot' });
  if (stage === 'idle' && nextRoot !== undefined) throw bad('stage idle must not have nextRoot', { field: 'nextRoot' });
  if (nextRoot !== undefined && nextRoot === currentRoot) throw bad('nextRoot must differ from currentRoot', { field: 'nextRoot' });
  const stageSince = timeField(value, 'stageSince');
  const completed = countField(value, 'completed', '');
  const request = optionalString(value, 'request');
  const proxies = value['proxies'];
  if (!isRecord(proxies)) throw bad('proxies must be an object {total, current, lagging}', { field: 'proxies' });
  const total = countField(proxies, 'total', 'proxies.');
  const current = countField(proxies, 'current', 'proxies.');
  if (current > total) throw bad('proxies.current must not exceed proxies.total', { field: 'proxies.current' });
  const lagging = proxies['lagging'];
  if (!Array.isArray(lagging) || !lagging.every((l) => typeof l === 'string')) {
    throw bad('proxies.lagging must be an array of xDS node ids', { field: 'proxies.lagging' });
  }
  if (lagging.length > MAX_LAGGING_LISTED) throw bad(`proxies.lagging lists at most ${MAX_LAGGING_LISTED} ids`, { field: 'proxies.lagging' });
  const updatedAt = timeField(value, 'updatedAt');
  const message = optionalString(value, 'message');
  return {
    stage: stage as RotationStage,
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

/** Parses the state annotation; a clear WEFT_E_INVALID_INPUT for every malformed shape. */
export function parseRotationStatus(text: string): RotationStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new WeftError('WEFT_E_INVALID_INPUT', `${ROTATION_STATE_ANNOTATION}: not valid JSON`, {}, { cause: e });
  }
  return validateRotationStatus(value);
}

/** The annotation's text, fields in contract order. Throws on a status the contract forbids. */
export function encodeRotationStatus(s: RotationStatus): string {
  return JSON.stringify(validateRotationStatus(s));
}

/** True when two statuses differ in anything but updatedAt (the driver writes only then). */
export function rotationStatusChanged(a: RotationStatus | undefined, b: RotationStatus): boolean {
  if (!a) return true;
  const key = (s: RotationStatus): string => JSON.stringify({ ...validateRotationStatus(s), updatedAt: '' });
  return key(a) !== key(b);
}
export type { RotationStage };
