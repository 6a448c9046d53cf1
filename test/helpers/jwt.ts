// In-test JWT issuing: key pairs from node:crypto, JWKS documents and signed compact JWS.
import { createPrivateKey, generateKeyPairSync, sign, constants, type KeyObject } from 'node:crypto';

export type TestAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';

export interface TestKey { alg: TestAlg; kid: string; privateKey: KeyObject; jwk: Record<string, unknown> }

export function makeKey(alg: TestAlg, kid = `k-${alg}`): TestKey {
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
    : alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
  return { alg, kid, privateKey: pair.privateKey, jwk };
}

export function jwksOf(...keys: TestKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Signs `payload` with `key`; `header` overrides (e.g. a different kid or alg). */
export function signJwt(key: TestKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const h = { alg: key.alg, typ: 'JWT', kid: key.kid, ...header };
  const input = `${b64(h)}.${b64(payload)}`;
  const hash = key.alg === 'EdDSA' ? null : `sha${key.alg.slice(2)}`;
  const k = createPrivateKey(key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const sig = key.alg.startsWith('PS')
    ? sign(hash, Buffer.from(input), { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
    : key.alg.startsWith('ES') ? sign(hash, Buffer.from(input), { key: k, dsaEncoding: 'ieee-p1363' }) : sign(hash, Buffer.from(input), k);
  return `${input}.${sig.toString('base64url')}`;
}

/** Istio's demo token claims (security/tools/jwt/samples), with times around `nowSec`. */
export function istioClaims(nowSec: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: 'testing@secure.istio.io', sub: 'testing@secure.istio.io', exp: nowSec + 3600, iat: nowSec, foo: 'bar', ...extra };
}
