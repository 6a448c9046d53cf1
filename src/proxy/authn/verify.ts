// One token against one provider: decode, issuer, time window, audiences, then signature.
// Pure (the clock is a parameter); the order and reasons follow Envoy's jwt_authn.
import type { VerifyKey } from '../../api/jwks.js';
import { candidateKeys, decodeJws, verifySignature, type DecodedJws } from './jws.js';
import type { JwtFailure } from './failures.js';

export interface VerifyPolicy {
  /** Required `iss`; empty = any issuer (Envoy's provider without issuer). */
  issuer: string;
  /** Allowed audiences; empty = not checked. */
  audiences: readonly string[];
  clockSkewSec: number;
  requireExpiration: boolean;
}

export type VerifyResult = { ok: true; jws: DecodedJws } | { ok: false; reason: JwtFailure };

/** Envoy compares audiences without scheme and trailing slash. */
function normaliseAudience(a: string): string {
  return a.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

function audiencesOf(payload: Record<string, unknown>): string[] {
  const aud = payload['aud'];
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function timeFailure(payload: Record<string, unknown>, policy: VerifyPolicy, nowSec: number): JwtFailure | undefined {
  const exp = payload['exp'];
  const nbf = payload['nbf'];
  if ((exp !== undefined && typeof exp !== 'number') || (nbf !== undefined && typeof nbf !== 'number')) return 'bad-time-claim';
  if (exp === undefined && policy.requireExpiration) return 'exp-required';
  if (typeof nbf === 'number' && nowSec + policy.clockSkewSec < nbf) return 'not-yet-valid';
  if (typeof exp === 'number' && nowSec - policy.clockSkewSec > exp) return 'expired';
  return undefined;
}

/**
 * Verifies `token` for one provider. `keys` undefined means the provider's JWKS is not
 * available (a remote set not fetched yet, or its fetch failed).
 */
export function verifyJwt(token: string, policy: VerifyPolicy, keys: readonly VerifyKey[] | undefined, nowMs: number): VerifyResult {
  const d = decodeJws(token);
  if (!d.ok) return d;
  const { jws } = d;
  if (policy.issuer !== '' && jws.payload['iss'] !== policy.issuer) return { ok: false, reason: 'unknown-issuer' };
  const t = timeFailure(jws.payload, policy, Math.floor(nowMs / 1000));
  if (t) return { ok: false, reason: t };
  if (policy.audiences.length > 0) {
    const allowed = new Set(policy.audiences.map(normaliseAudience));
    if (!audiencesOf(jws.payload).some((a) => allowed.has(normaliseAudience(a)))) return { ok: false, reason: 'audience-not-allowed' };
  }
  if (!keys) return { ok: false, reason: 'jwks-unavailable' };
  const candidates = candidateKeys(jws, keys);
  if (candidates.length === 0) return { ok: false, reason: 'no-matching-key' };
  return candidates.some((k) => verifySignature(jws, k)) ? { ok: true, jws } : { ok: false, reason: 'verification-failed' };
}
