// Fast leaf encoding. A workload certificate always has the same shape, so its DER is
// written directly around the parts that vary (serial, validity, public key, SPIFFE ID)
// and signed with Node's synchronous crypto.sign. The CA's own certificates, rarer and
// more varied, are made with @peculiar/x509. Tests parse every leaf with Node's
// X509Certificate and @peculiar/x509 to hold the two paths to the same result.
import { KeyObject, randomBytes, sign, type webcrypto } from 'node:crypto';
import { WeftError } from '../errors/errors.js';
import { x509, type CryptoKey } from '../identity/x509.js';
import type { KeyKind } from './keys.js';
import { isP256 } from './keys.js';
import * as der from './der.js';

const OIDS = Object.freeze({
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
});

export interface LeafSigner {
  /** DER of the whole certificate. */
  sign(params: { spki: Uint8Array; uri: string; notBefore: Date; notAfter: Date }): { der: Buffer; serialHex: string };
}

/** The issuer's Name, exactly as it appears as subject in the signing certificate. */
function subjectDer(cert: x509.X509Certificate): Buffer {
  const top = der.read(Buffer.from(cert.rawData));
  const tbs = der.children(top)[0]!;
  const fields = der.children(tbs);
  const offset = fields[0]!.tag === 0xa0 ? 1 : 0; // [0] version is present in v3 certificates
  return Buffer.from(der.raw(fields[offset + 4]!)); // serial, sigAlg, issuer, validity, subject
}

export function createLeafSigner(signingCert: x509.X509Certificate, signingKey: CryptoKey, keyKind: KeyKind): LeafSigner {
  const key = KeyObject.from(signingKey as unknown as webcrypto.CryptoKey); // the object is Node's CryptoKey (see identity/x509.ts)
  const ec = isP256(keyKind);
  if (!ec && keyKind.type !== 'rsa') throw new WeftError('WEFT_E_INVALID_CONFIG', 'CA key must be ECDSA P-256 or RSA', { keyType: keyKind.type });
  const sigAlg = ec ? der.seq(der.oid(OIDS.ecdsaWithSha256)) : der.seq(der.oid(OIDS.sha256WithRsa), Buffer.from([der.TAG.NULL, 0]));
  const issuer = subjectDer(signingCert);
  const ski = signingCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const staticExts = Buffer.concat([
    der.extension(OIDS.basicConstraints, true, der.seq()),
    // digitalSignature (bit 0) + keyEncipherment (bit 2): 1010 0000, five unused bits.
    der.extension(OIDS.keyUsage, true, der.bitString(Buffer.from([0xa0]), 5)),
    der.extension(OIDS.extKeyUsage, false, der.seq(der.oid(OIDS.serverAuth), der.oid(OIDS.clientAuth))),
    ...(ski ? [der.extension(OIDS.authorityKeyId, false, der.seq(der.ctx(0, Buffer.from(ski.keyId, 'hex'), false)))] : []),
  ]);
  const versionV3 = der.ctx(0, der.smallInt(2), true);
  const emptySubject = der.seq();

  return {
    sign({ spki, uri, notBefore, notAfter }) {
      const serial = randomBytes(16);
      serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, 16 significant bytes
      // The subject is empty, so the SAN is critical (RFC 5280 4.2.1.6).
      const san = der.extension(OIDS.subjectAltName, true, der.seq(der.tlv(0x86, Buffer.from(uri, 'ascii'))));
      const tbs = der.seq(
        versionV3,
        der.uint(serial),
        sigAlg,
        issuer,
        der.seq(der.time(notBefore), der.time(notAfter)),
        emptySubject,
        spki,
        der.ctx(3, der.seq(staticExts, san), true),
      );
      const sig = sign('sha256', tbs, key); // ECDSA signatures come out DER-encoded, as X.509 wants
      return { der: der.seq(tbs, sigAlg, der.bitString(sig)), serialHex: serial.toString('hex') };
    },
  };
}
