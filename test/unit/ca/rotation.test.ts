import { beforeAll, describe, expect, it } from '@jest/globals';
import { createSelfSignedCa, fingerprint, type CaMaterial } from '../../../src/ca/authority.js';
import { Issuer } from '../../../src/ca/issuer.js';
import {
  abortRotation,
  advanceRotation,
  expiringSoon,
  initialRotationState,
  laggingProxies,
  materialForStage,
  planFor,
  rotationDue,
  startRotation,
  type RotationState,
} from '../../../src/ca/rotation.js';
import { identityStateHash, pemFingerprint, verifyChain } from '../../../src/identity/chain.js';
import { createCsrPem, generateWorkloadKey } from '../../../src/identity/csr.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('root rotation state machine (pure)', () => {
  it('walks add-root -> switch-issuer -> remove-old-root -> idle, one stage per full observation', () => {
    let s = initialRotationState(A, 0);
    expect(planFor(s)).toMatchObject({ bundle: [A], issuingRoot: A });
    s = startRotation(s, B, 1);
    expect(s.stage).toBe('add-root');
    expect(planFor(s)).toMatchObject({ bundle: [A, B], issuingRoot: A });

    const stages: string[] = [s.stage];
    for (let i = 0; i < 3; i++) {
      const expected = planFor(s).expectedHash;
      const r = advanceRotation(s, new Set([expected]), 10 + i);
      expect(r.advanced).toBe(true);
      s = r.state;
      stages.push(s.stage);
    }
    expect(stages).toEqual(['add-root', 'switch-issuer', 'remove-old-root', 'idle']);
    expect(s.currentRoot).toBe(B);
    expect(s.nextRoot).toBeUndefined();
    expect(s.completed).toBe(1);
    expect(planFor(s)).toMatchObject({ bundle: [B], issuingRoot: B });
  });

  it('each stage has its own expected hash', () => {
    const s1 = startRotation(initialRotationState(A, 0), B, 0);
    const s2 = { ...s1, stage: 'switch-issuer' as const };
    const s3 = { ...s1, stage: 'remove-old-root' as const };
    const hashes = [initialRotationState(A, 0), s1, s2, s3].map((s) => planFor(s).expectedHash);
    expect(new Set(hashes).size).toBe(4);
    expect(planFor(s1).expectedHash).toBe(identityStateHash([B, A], A)); // order of the bundle does not matter
  });

  it('does not move while any proxy reports an earlier stage, and names the laggards', () => {
    const idle = initialRotationState(A, 0);
    let s = startRotation(idle, B, 0);
    const behind = planFor(idle).expectedHash;
    const current = planFor(s).expectedHash;
    const r = advanceRotation(s, new Set([current, behind]), 5);
    expect(r.advanced).toBe(false);
    expect(r.lagging).toEqual([behind]);
    expect(r.state).toBe(s);
    expect(laggingProxies(s, new Map([['p1', current], ['p2', behind], ['p0', behind]]))).toEqual(['p0', 'p2']);
    // Only the stage's own hash counts; a proxy ahead (impossible in practice) also blocks.
    s = advanceRotation(s, new Set([current]), 6).state;
    expect(advanceRotation(s, new Set([planFor({ ...s, stage: 'remove-old-root' }).expectedHash]), 7).advanced).toBe(false);
  });

  it('advances with no proxies at all (empty set)', () => {
    const s = startRotation(initialRotationState(A, 0), B, 0);
    expect(advanceRotation(s, new Set(), 1).advanced).toBe(true);
    expect(advanceRotation(initialRotationState(A, 0), new Set(), 1).advanced).toBe(false);
  });

  it('refuses a second rotation, a rotation to the same root, and an abort after the switch', () => {
    const s = startRotation(initialRotationState(A, 0), B, 0);
    expect(() => startRotation(s, 'c'.repeat(64), 1)).toThrow(/already in progress/);
    expect(() => startRotation(initialRotationState(A, 0), A.toUpperCase(), 1)).toThrow(/is the current root/);
    expect(abortRotation(s, 2)).toMatchObject({ stage: 'idle', currentRoot: A });
    const switched = advanceRotation(s, new Set(), 3).state;
    expect(() => abortRotation(switched, 4)).toThrow(/cannot abort in stage switch-issuer/);
  });

  it('decides when to rotate (20% of life left) and when to warn (30 days)', () => {
    const nb = new Date('2030-01-01T00:00:00Z');
    const na = new Date('2040-01-01T00:00:00Z');
    expect(rotationDue(nb, na, new Date('2037-12-01T00:00:00Z'))).toBe(false);
    expect(rotationDue(nb, na, new Date('2038-01-03T00:00:00Z'))).toBe(true);
    expect(expiringSoon(na, new Date('2039-11-15T00:00:00Z'))).toBe(false);
    expect(expiringSoon(na, new Date('2039-12-05T00:00:00Z'))).toBe(true);
  });
});

describe('root rotation with real certificates: every pair of proxies keeps trusting each other', () => {
  let oldCa: CaMaterial;
  let newCa: CaMaterial;
  beforeAll(async () => {
    oldCa = await createSelfSignedCa({ now: T0, trustDomain: 'cluster.local' });
    newCa = await createSelfSignedCa({ now: T0, trustDomain: 'cluster.local' });
  });

  interface Proxy {
    name: string;
    chain: readonly string[];
    bundle: readonly string[];
  }

  const hashOf = (p: Proxy, now: Date): string =>
    identityStateHash(p.bundle.map(pemFingerprint), verifyChain(p.chain, p.bundle, now).rootFingerprint);

  /** The mTLS property: each proxy verifies every other's chain with its own bundle. */
  function assertMeshTrust(proxies: Proxy[], now: Date): void {
    for (const a of proxies) for (const b of proxies) expect(() => verifyChain(b.chain, a.bundle, now)).not.toThrow();
  }

  it('rotates with two proxies lagging one stage at every point, and mTLS never breaks', async () => {
    const now = new Date(T0.getTime() + 3600_000);
    const issuer = new Issuer(oldCa);
    const issue = async (name: string): Promise<Proxy> => {
      const out = await issuer.sign({ csr: await createCsrPem(await generateWorkloadKey()), identity: { namespace: 'ns', serviceAccount: name } }, now);
      return { name, chain: out.certChainPem, bundle: out.trustBundlePem };
    };
    const proxies = [await issue('a'), await issue('b'), await issue('c')];
    let s: RotationState = initialRotationState(fingerprint(oldCa.issuingRoot.toString('pem')), 0);
    assertMeshTrust(proxies, now);
    expect(new Set(proxies.map((p) => hashOf(p, now)))).toEqual(new Set([planFor(s).expectedHash]));

    s = startRotation(s, fingerprint(newCa.issuingRoot.toString('pem')), 1);
    const seen: string[] = [];
    for (let guard = 0; guard < 10 && s.stage !== 'idle'; guard++) {
      seen.push(s.stage);
      issuer.use(materialForStage(s, oldCa, newCa));
      // Proxies catch up one at a time; after each, the mesh must still trust itself, and
      // the machine must refuse to move on until the last one has caught up.
      for (const [i, p] of proxies.entries()) {
        const r = advanceRotation(s, new Set(proxies.map((x) => hashOf(x, now))), 2);
        expect(r.advanced).toBe(false);
        if (s.stage === 'switch-issuer') {
          proxies[i] = await issue(p.name); // re-issued under the new root, with the new bundle
        } else {
          proxies[i] = { ...p, bundle: issuer.trustBundle() }; // bundle update only
        }
        assertMeshTrust(proxies, now);
      }
      const r = advanceRotation(s, new Set(proxies.map((x) => hashOf(x, now))), 3);
      expect(r.advanced).toBe(true);
      s = r.state;
    }
    expect(seen).toEqual(['add-root', 'switch-issuer', 'remove-old-root']);
    expect(s.currentRoot).toBe(fingerprint(newCa.issuingRoot.toString('pem')));
    for (const p of proxies) {
      expect(p.bundle).toHaveLength(1);
      expect(verifyChain(p.chain, p.bundle, now).rootFingerprint).toBe(s.currentRoot);
      expect(() => verifyChain(p.chain, oldCa.trustBundle, now)).toThrow(/does not end at a root/);
    }
  });

  it('skipping a stage would break mTLS (why every proxy must observe each stage)', async () => {
    const now = new Date(T0.getTime() + 3600_000);
    const oldIssuer = new Issuer(oldCa);
    const newIssuer = new Issuer(newCa);
    const csr = async (): Promise<string> => createCsrPem(await generateWorkloadKey());
    const onOld = await oldIssuer.sign({ csr: await csr(), identity: { namespace: 'ns', serviceAccount: 'a' } }, now);
    const onNew = await newIssuer.sign({ csr: await csr(), identity: { namespace: 'ns', serviceAccount: 'b' } }, now);
    // A proxy still on the old bundle cannot verify a peer already issued under the new root.
    expect(() => verifyChain(onNew.certChainPem, onOld.trustBundlePem, now)).toThrow();
  });
});
