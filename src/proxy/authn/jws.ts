// JWS compact serialisation: strict parsing and signature checks with node:crypto. Pure.
// Only asymmetric algorithms: `none` is never accepted and HS* needs a shared secret that a
// JWKS of public keys cannot hold, so both are refused.
import { constants, verify as cryptoVerify } from 'node:crypto';
import type { VerifyKey } from '../../api/jwks.js';
import type { JwtFailure } from './failures.js';

/** Longest token looked at; anything longer is refused before decoding. */
export const MAX_TOKEN_BYTES = 16 * 1024;

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  alg: string;
  kid?: string;
  signingInput: Buffer;
  signature: Buffer;
  /** The payload segment as sent (base64url), for forward_payload_header. */
  payloadSegment: string;
}

interface AlgSpec { hash: string | null; kty: VerifyKey['kty']; pss?: boolean; sigBytes?: number; crv?: string }

const ALGS: Readonly<Record<string, AlgSpec>> = {
  RS256: { hash: 'sha256', kty: 'RSA' }, RS384: { hash: 'sha384', kty: 'RSA' }, RS512: { hash: 'sha512', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true }, PS384: { hash: 'sha384', kty: 'RSA', pss: true }, PS512: { hash: 'sha512', kty: 'RSA', pss: true },
  ES256: { hash: 'sha256', kty: 'EC', sigBytes: 64, crv: 'P-256' }, ES384: { hash: 'sha384', kty: 'EC', sigBytes: 96, crv: 'P-384' },
  ES512: { hash: 'sha512', kty: 'EC', sigBytes: 132, crv: 'P-521' },
  EdDSA: { hash: null, kty: 'OKP' },
};

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64url(seg: string): Buffer | undefined {
  // Strict: base64url alphabet only (no padding, no '+' '/'), and no impossible length.
  if (!B64URL.test(seg) || seg.length % 4 === 1) return undefined;
  return Buffer.from(seg, 'base64url');
}

function jsonObject(buf: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export type DecodeResult = { ok: true; jws: DecodedJws } | { ok: false; reason: JwtFailure };

export function decodeJws(token: string): DecodeResult {
  if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: 'too-large' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '')) return { ok: false, reason: 'bad-format' };
  const [h, p, s] = parts as [string, string, string];
  const hb = b64url(h);
  if (!hb) return { ok: false, reason: 'header-bad-base64' };
  const header = jsonObject(hb);
  if (!header) return { ok: false, reason: 'header-bad-json' };
  const alg = header['alg'];
  if (typeof alg !== 'string' || alg === '') return { ok: false, reason: 'header-bad-alg' };
  if (alg === 'none' || alg.startsWith('HS') || !ALGS[alg]) return { ok: false, reason: 'alg-not-supported' };
  const pb = b64url(p);
  if (!pb) return { ok: false, reason: 'payload-bad-base64' };
  const payload = jsonObject(pb);
  if (!payload) return { ok: false, reason: 'payload-bad-json' };
  const signature = b64url(s);
  if (!signature) return { ok: false, reason: 'signature-bad-base64' };
  const jws: DecodedJws = { header, payload, alg, signingInput: Buffer.from(`${h}.${p}`, 'ascii'), signature, payloadSegment: p };
  if (typeof header['kid'] === 'string') jws.kid = header['kid'];
  return { ok: true, jws };
}

/** Keys that may have signed this token: same kid (when the token names one), fitting alg and type. */
export function candidateKeys(jws: DecodedJws, keys: readonly VerifyKey[]): VerifyKey[] {
  const spec = ALGS[jws.alg]!;
  return keys.filter((k) =>
    (jws.kid === undefined || k.kid === jws.kid)
    && (k.alg === undefined || k.alg === jws.alg)
    && k.kty === spec.kty
    && (spec.crv === undefined || k.crv === spec.crv));
}

export function verifySignature(jws: DecodedJws, key: VerifyKey): boolean {
  const spec = ALGS[jws.alg]!;
  if (spec.sigBytes !== undefined && jws.signature.length !== spec.sigBytes) return false;
  try {
    if (spec.pss) {
      return cryptoVerify(spec.hash, jws.signingInput, {
        key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      }, jws.signature);
    }
    if (spec.kty === 'EC') return cryptoVerify(spec.hash, jws.signingInput, { key: key.key, dsaEncoding: 'ieee-p1363' }, jws.signature);
    return cryptoVerify(spec.hash, jws.signingInput, key.key, jws.signature);
  } catch {
    return false;
  }
}
