// Why a JWT was refused, with the status text Envoy's jwt_verify_lib uses for each reason
// (the 401 body and the log field).
export type JwtFailure =
  | 'missing' | 'too-large' | 'bad-format' | 'header-bad-base64' | 'header-bad-json' | 'header-bad-alg' | 'alg-not-supported'
  | 'payload-bad-base64' | 'payload-bad-json' | 'signature-bad-base64' | 'unknown-issuer' | 'audience-not-allowed'
  | 'expired' | 'not-yet-valid' | 'exp-required' | 'bad-time-claim' | 'no-matching-key' | 'verification-failed' | 'jwks-unavailable';

export const FAILURE_TEXT: Readonly<Record<JwtFailure, string>> = {
  'missing': 'Jwt is missing',
  'too-large': 'Jwt is too large',
  'bad-format': 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  'header-bad-base64': 'Jwt header is an invalid Base64url encoded',
  'header-bad-json': 'Jwt header is an invalid JSON',
  'header-bad-alg': 'Jwt header [alg] field is required and must be a string',
  'alg-not-supported': 'Jwt header [alg] is not supported',
  'payload-bad-base64': 'Jwt payload is an invalid Base64url encoded',
  'payload-bad-json': 'Jwt payload is an invalid JSON',
  'signature-bad-base64': 'Jwt signature is an invalid Base64url encoded',
  'unknown-issuer': 'Jwt issuer is not configured',
  'audience-not-allowed': 'Audiences in Jwt are not allowed',
  'expired': 'Jwt is expired',
  'not-yet-valid': 'Jwt not yet valid',
  'exp-required': 'Jwt doesn\'t have expiration time',
  'bad-time-claim': 'Jwt payload [exp] or [nbf] field is not a number',
  'no-matching-key': 'Jwks doesn\'t have key to match kid or alg from Jwt',
  'verification-failed': 'Jwt verification fails',
  'jwks-unavailable': 'Jwks remote fetch is failed',
};
