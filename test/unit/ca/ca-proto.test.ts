import { describe, expect, it } from '@jest/globals';
import type { MethodDefinition } from '@grpc/proto-loader';
import { CA_METHOD_PATH, loadCaPackage } from '../../../src/identity/ca-proto.js';

describe('ca.proto and its embedded JSON twin', () => {
  it('define the same service and encode identically', () => {
    const fromFile = loadCaPackage('file');
    const fromJson = loadCaPackage('json');
    const m1 = (fromFile['weft.ca.v1.CertificateService'] as Record<string, MethodDefinition<object, object>>).CreateCertificate!;
    const m2 = (fromJson['weft.ca.v1.CertificateService'] as Record<string, MethodDefinition<object, object>>).CreateCertificate!;
    expect(m1.path).toBe(CA_METHOD_PATH);
    expect(m2.path).toBe(CA_METHOD_PATH);
    const req = { csr: '-----BEGIN CERTIFICATE REQUEST-----', validity_duration: 86400 };
    expect(m1.requestSerialize(req)).toEqual(m2.requestSerialize(req));
    const res = { cert_chain: ['a', 'b'], trust_bundle: ['r1', 'r2'] };
    expect(m1.responseSerialize(res)).toEqual(m2.responseSerialize(res));
    expect(m2.responseDeserialize(m1.responseSerialize(res))).toEqual(res);
    expect(m2.requestDeserialize(m1.requestSerialize(req))).toEqual(req);
    // Field numbers as in Istio's IstioCertificateRequest: csr = 1, validity_duration = 3.
    expect(Buffer.from(m1.requestSerialize({ csr: 'x', validity_duration: 1 })).toString('hex')).toBe('0a01781801');
  });
});
