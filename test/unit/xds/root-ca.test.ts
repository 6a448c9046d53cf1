import 'reflect-metadata';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createSelfSignedCa, issueServingCertificate, type CaMaterial } from '../../../src/ca/authority.js';
import { ROOT_CA_SECRET, rootCaBundle, rootCaSecret } from '../../../src/envoy/root-ca.js';
import { TYPE_URLS, decodeResource, encodeResource } from '../../../src/envoy/index.js';

let a: CaMaterial;
let b: CaMaterial;

beforeAll(async () => {
  a = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
  b = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
});

describe('ROOTCA (the trust bundle as an SDS Secret)', () => {
  it('round-trips through the Envoy Secret proto, order kept', () => {
    const pems = [b.issuingRoot.toString('pem'), a.issuingRoot.toString('pem')];
    const decoded = decodeResource(TYPE_URLS.secret, encodeResource(TYPE_URLS.secret, rootCaSecret(pems)));
    expect(decoded['name']).toBe(ROOT_CA_SECRET);
    expect(rootCaBundle(decoded).map((p) => p.trim())).toEqual(pems.map((p) => p.trim()));
  });

  it('refuses an empty bundle', () => {
    expect(() => rootCaSecret([])).toThrow('needs at least one root');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no validation_context', { name: ROOT_CA_SECRET }, 'inline_string is missing or empty'],
    ['blank text', { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: '  ' } } }, 'inline_string is missing or empty'],
    ['text without PEM', { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: 'hello' } } }, 'holds no PEM certificate'],
    ['a corrupt PEM', { name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } } }, 'certificate 1 of the trust bundle does not parse'],
  ])('rejects %s', (_what, resource, message) => {
    expect(() => rootCaBundle(resource)).toThrow(message);
  });

  it('rejects a certificate that is not a CA', async () => {
    const leaf = (await issueServingCertificate(a, { now: new Date(), dnsNames: ['x'] })).certChainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n';
    expect(() => rootCaBundle({ name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: a.issuingRoot.toString('pem') + '\n' + leaf } } }))
      .toThrow('certificate 2 of the trust bundle is not a CA certificate');
  });
});
