// The mesh settings file the operator mounts into the control plane (ConfigMap
// weft-mesh-<revision>, key mesh.json; rendered by src/render/controlplane). Only the fields the
// control plane itself uses are read; unknown fields are ignored so an older control plane
// runs with a newer operator's file during an upgrade. Pure.
import { parseDuration } from '../api/meshconfig.js';
import { WeftError, errorMessage } from '../errors/errors.js';

const invalidConfig = (message: string, details: Record<string, unknown>): WeftError => new WeftError('WEFT_E_INVALID_CONFIG', message, details);

export interface MeshFileSettings {
  revision?: string;
  trustDomain?: string;
  /** Default lifetime of workload certificates (the CA's default TTL). */
  workloadCertTtlMs?: number;
  /** Lifetime of a self-signed root the CA creates. */
  rootCertTtlMs?: number;
}

export function parseMeshFile(text: string, file: string): MeshFileSettings {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidConfig(`${file} is not valid JSON: ${errorMessage(e)}`, { file });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalidConfig(`${file} must hold a JSON object`, { file });
  const o = v as Record<string, unknown>;
  const out: MeshFileSettings = {};
  const str = (key: string): string | undefined => {
    const x = o[key];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'string' || x === '') throw invalidConfig(`${file}: ${key} must be a non-empty string`, { file, field: key });
    return x;
  };
  const dur = (key: string): number | undefined => {
    const x = str(key);
    if (x === undefined) return undefined;
    const ms = parseDuration(x);
    if (ms === undefined || ms <= 0) throw invalidConfig(`${file}: ${key} must be a duration such as 24h or 90m, got ${JSON.stringify(x)}`, { file, field: key });
    return ms;
  };
  const revision = str('revision');
  const trustDomain = str('trustDomain');
  const workloadCertTtlMs = dur('workloadCertTTL');
  const rootCertTtlMs = dur('rootCertTTL');
  if (revision !== undefined) out.revision = revision;
  if (trustDomain !== undefined) out.trustDomain = trustDomain;
  if (workloadCertTtlMs !== undefined) out.workloadCertTtlMs = workloadCertTtlMs;
  if (rootCertTtlMs !== undefined) out.rootCertTtlMs = rootCertTtlMs;
  return out;
}
