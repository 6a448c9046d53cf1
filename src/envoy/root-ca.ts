// The mesh trust bundle as an SDS resource, the way istiod serves it: an Envoy
// `tls.v3.Secret` named ROOTCA whose validation_context.trusted_ca.inline_string holds the
// PEM roots. The issuing root comes first; during a root rotation the order changes at
// switch-issuer, which tells a proxy to renew. Pure.
import { X509Certificate } from 'node:crypto';
import { WeftError } from '../errors/errors.js';
import type { EnvoyResource } from './types.js';

export const ROOT_CA_SECRET = 'ROOTCA';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function rootCaSecret(bundlePem: readonly string[]): EnvoyResource {
  if (bundlePem.length === 0) throw new WeftError('WEFT_E_INVALID_INPUT', 'the ROOTCA trust bundle needs at least one root');
  return { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: bundlePem.map((p) => p.trim() + '\n').join('') } } };
}

/**
 * The PEM roots of a decoded ROOTCA Secret, in order. Rejects, with the reason, anything a
 * proxy must not trust: no inline_string, no certificate, a block that does not parse, a
 * certificate that is not a CA.
 */
export function rootCaBundle(resource: EnvoyResource): string[] {
  const vc = resource['validation_context'] as { trusted_ca?: { inline_string?: unknown } } | undefined;
  const text = vc?.trusted_ca?.inline_string;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new WeftError('WEFT_E_INVALID_INPUT', 'ROOTCA: validation_context.trusted_ca.inline_string is missing or empty');
  }
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new WeftError('WEFT_E_INVALID_INPUT', 'ROOTCA: the trust bundle holds no PEM certificate');
  return blocks.map((b, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(b);
    } catch (e) {
      throw new WeftError('WEFT_E_INVALID_INPUT', `ROOTCA: certificate ${i + 1} of the trust bundle does not parse`, { index: i }, { cause: e });
    }
    if (!cert.ca) throw new WeftError('WEFT_E_INVALID_INPUT', `ROOTCA: certificate ${i + 1} of the trust bundle is not a CA certificate`, { index: i, subject: cert.subject });
    return `${b}\n`;
  });
}
