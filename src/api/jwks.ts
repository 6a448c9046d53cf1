// JSON Web Key Sets -> public keys node:crypto can verify with. Pure; shared by the control
// plane (is an inline jwks usable?) and the proxy (verification). A key that cannot be used
// (unknown kty, bad encoding) is skipped, and a set with no usable key is an error, as
// Envoy's Jwks::createFrom refuses it.
import { createPublicKey, type KeyObject } from 'node:crypto';

export interface VerifyKey {
  kid?: string;
  /** The JWK's own alg, when it names one: a token must then use exactly that alg. */
  alg?: string;
  kty: 'RSA' | 'EC' | 'OKP';
  /** EC curve or OKP subtype (P-256, Ed25519, ...). */
  crv?: string;
  key: KeyObject;
}

export type JwksResult = { ok: true; keys: VerifyKey[] } | { ok: false; error: string };

/** The public members each key type needs (RFC 7518 section 6, RFC 8037). */
const MEMBERS: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };
const B64URL = /^[A-Za-z0-9_-]+$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function toKey(jwk: Record<string, unknown>): VerifyKey | undefined {
  const kty = jwk['kty'];
  const members = typeof kty === 'string' ? MEMBERS[kty] : undefined;
  if (!members) return undefined;
  // node decodes base64url leniently; a member with other characters is a broken key, not a short one.
  for (const m of members) {
    const v = jwk[m];
    if (typeof v !== 'string' || (m !== 'crv' && !B64URL.test(v))) return undefined;
  }
  // Only public members: a JWK that also carries `d` still yields its public half.
  const pub: Record<string, unknown> = { kty };
  for (const k of ['n', 'e', 'crv', 'x', 'y']) if (jwk[k] !== undefined) pub[k] = jwk[k];
  try {
    // The JWK typing in @types/node is narrower than what createPublicKey accepts at runtime.
    const key = createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
    const out: VerifyKey = { kty: kty as VerifyKey['kty'], key };
    if (typeof jwk['kid'] === 'string') out.kid = jwk['kid'];
    if (typeof jwk['alg'] === 'string') out.alg = jwk['alg'];
    if (typeof jwk['crv'] === 'string') out.crv = jwk['crv'];
    return out;
  } catch {
    return undefined;
  }
}

/** Parses a JWKS document (`{"keys":[...]}`) or a single JWK. */
export function parseJwks(text: string): JwksResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `jwks is not valid JSON: ${(e as Error).message}` };
  }
  if (!isObj(doc)) return { ok: false, error: 'jwks must be a JSON object' };
  const list = Array.isArray(doc['keys']) ? doc['keys'] : doc['kty'] !== undefined ? [doc] : undefined;
  if (!list) return { ok: false, error: 'jwks has no "keys" array' };
  const keys = list.filter(isObj).map(toKey).filter((k): k is VerifyKey => k !== undefined);
  if (keys.length === 0) return { ok: false, error: 'jwks has no usable public key (RSA, EC or OKP)' };
  return { ok: true, keys };
}
