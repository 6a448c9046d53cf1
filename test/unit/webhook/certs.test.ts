// Serving-certificate generation and the pure rotation plan, on an injected clock.
import { describe, expect, it, beforeAll } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import {
  certInfo, createCA, issueServingCert, leafMatches, nextBundle, planRotation, splitPemBundle,
  type KeyAndCert, type RotationPolicy,
} from '../../../src/webhook/certs.js';

const DAY = 24 * 3600 * 1000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number): Date => new Date(T0.getTime() + days * DAY);
const policy: RotationPolicy = { renewBeforeFraction: 1 / 3, dnsNames: ['weft-webhook.weft-system.svc'], ipAddresses: ['127.0.0.1'] };

let ca: KeyAndCert;
let leaf: KeyAndCert;
beforeAll(async () => {
  ca = await createCA(T0, 365 * DAY);
  leaf = await issueServingCert(ca, T0, 30 * DAY, policy.dnsNames, policy.ipAddresses);
});

describe('webhook serving certificates', () => {
  it('makes an ECDSA P-256 CA and a serving leaf it signed, with the SANs asked for', () => {
    const c = new X509Certificate(ca.certPem);
    expect(c.ca).toBe(true);
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(leafMatches(leaf.certPem, leaf.keyPem, ca.certPem)).toBe(true);
    const info = certInfo(leaf.certPem)!;
    expect(info.isCA).toBe(false);
    expect(info.dnsNames).toEqual(['weft-webhook.weft-system.svc']);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    expect(info.notAfter.getTime()).toBe(at(30).getTime());
    expect(new X509Certificate(leaf.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('never issues a leaf that outlives its CA', async () => {
    const shortCa = await createCA(T0, 10 * DAY);
    const l = await issueServingCert(shortCa, T0, 30 * DAY, ['x'], []);
    expect(certInfo(l.certPem)!.notAfter.getTime()).toBe(at(10).getTime());
  });

  it('detects a leaf from another CA or with the wrong key', async () => {
    const other = await createCA(T0, DAY);
    expect(leafMatches(leaf.certPem, leaf.keyPem, other.certPem)).toBe(false);
    const l2 = await issueServingCert(ca, T0, DAY, ['x'], []);
    expect(leafMatches(leaf.certPem, l2.keyPem, ca.certPem)).toBe(false);
  });
});

describe('planRotation (clock injected)', () => {
  const stored = (): { ca: KeyAndCert; leaf: KeyAndCert; bundle: string[] } => ({ ca, leaf, bundle: [ca.certPem] });

  it('creates everything when nothing is stored', () => {
    expect(planRotation({ bundle: [] }, T0, policy)).toEqual({ action: 'ca', reason: 'no CA stored' });
  });
  it('does nothing for a fresh certificate', () => {
    expect(planRotation(stored(), at(1), policy)).toEqual({ action: 'none' });
    expect(planRotation(stored(), at(19), policy)).toEqual({ action: 'none' });
  });
  it('renews the leaf once two thirds of its life have passed, well before expiry', () => {
    expect(planRotation(stored(), at(21), policy)).toMatchObject({ action: 'leaf' });
  });
  it('renews the CA once two thirds of its life have passed', () => {
    expect(planRotation(stored(), at(250), policy)).toMatchObject({ action: 'ca' });
  });
  it('renews a leaf missing a SAN', () => {
    const p = planRotation(stored(), at(1), { ...policy, dnsNames: ['other.svc'] });
    expect(p).toEqual({ action: 'leaf', reason: 'serving certificate lacks SANs other.svc' });
  });
  it('renews a leaf that does not parse, or was signed by another CA', async () => {
    expect(planRotation({ ...stored(), leaf: { certPem: 'junk', keyPem: 'junk' } }, at(1), policy)).toMatchObject({ action: 'leaf', reason: 'stored serving certificate does not parse' });
    const other = await createCA(T0, 365 * DAY);
    expect(planRotation({ ...stored(), ca: other }, at(1), policy)).toMatchObject({ action: 'leaf' });
  });
  it('replaces a "CA" that is not a CA certificate', () => {
    expect(planRotation({ ...stored(), ca: leaf }, at(1), policy)).toMatchObject({ action: 'ca', reason: 'stored CA is not a CA certificate' });
  });
});

describe('CA bundle overlap', () => {
  it('puts the new CA first and keeps old CAs until they expire', async () => {
    const next = await createCA(at(250), 365 * DAY);
    expect(nextBundle(next.certPem, [ca.certPem], at(250))).toEqual([next.certPem, ca.certPem]);
    expect(nextBundle(next.certPem, [ca.certPem], at(400))).toEqual([next.certPem]);
    expect(nextBundle(next.certPem, [next.certPem, ca.certPem], at(250))).toEqual([next.certPem, ca.certPem]);
  });
  it('splits a PEM bundle', () => {
    expect(splitPemBundle(ca.certPem + leaf.certPem)).toEqual([ca.certPem, leaf.certPem]);
    expect(splitPemBundle('nothing')).toEqual([]);
  });
});
