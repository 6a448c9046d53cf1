// Root rotation as a pure state machine. Stages, each with the trust bundle proxies must
// hold and the root their certificates must chain to:
//
//   idle            bundle {old}       issuer old
//   add-root        bundle {old, new}  issuer old   (new root trusted everywhere first)
//   switch-issuer   bundle {old, new}  issuer new   (every workload re-issued under new)
//   remove-old-root bundle {new}       issuer new   (old root retired)
//   -> idle with new as the root
//
// A proxy reports identityStateHash(its bundle, the root its cert chains to). Moving on
// from a stage requires every reporting proxy to show that stage's hash: the set of
// observed hashes must be exactly {expected}. An empty set (no proxies) passes.
// No clock is read here: `now` is an argument, used only for bookkeeping.
import { WeftError } from '../errors/errors.js';
import { identityStateHash } from '../identity/chain.js';
import { fingerprint, withTrustBundle, type CaMaterial } from './authority.js';

export type RotationStage = 'idle' | 'add-root' | 'switch-issuer' | 'remove-old-root';

export interface RotationState {
  readonly stage: RotationStage;
  /** Fingerprint of the root in use before the rotation (the only root when idle). */
  readonly currentRoot: string;
  /** Fingerprint of the incoming root during a rotation. */
  readonly nextRoot?: string;
  /** ms since the epoch when this stage began. */
  readonly stageSince: number;
  /** Completed rotations, for status. */
  readonly completed: number;
}

export interface StagePlan {
  /** Root fingerprints the trust bundle holds in this stage. */
  readonly bundle: readonly string[];
  /** The root the CA signs under (through an intermediate) in this stage. */
  readonly issuingRoot: string;
  /** What every proxy must report before the next stage. */
  readonly expectedHash: string;
}

export interface AdvanceResult {
  readonly state: RotationState;
  readonly advanced: boolean;
  /** Observed hashes that are not the expected one (proxies still behind). */
  readonly lagging: readonly string[];
}

const NEXT: Record<Exclude<RotationStage, 'idle'>, RotationStage> = {
  'add-root': 'switch-issuer',
  'switch-issuer': 'remove-old-root',
  'remove-old-root': 'idle',
};

export function initialRotationState(rootFingerprint: string, now: number): RotationState {
  return { stage: 'idle', currentRoot: rootFingerprint.toLowerCase(), stageSince: now, completed: 0 };
}

export function planFor(s: RotationState): StagePlan {
  const old = s.currentRoot;
  const next = s.nextRoot;
  const need = (): string => {
    if (!next) throw new WeftError('WEFT_E_INTERNAL', `rotation stage ${s.stage} has no next root`);
    return next;
  };
  let bundle: string[];
  let issuingRoot: string;
  switch (s.stage) {
    case 'idle':
      bundle = [old];
      issuingRoot = old;
      break;
    case 'add-root':
      bundle = [old, need()];
      issuingRoot = old;
      break;
    case 'switch-issuer':
      bundle = [old, need()];
      issuingRoot = need();
      break;
    case 'remove-old-root':
      bundle = [need()];
      issuingRoot = need();
      break;
  }
  return { bundle, issuingRoot, expectedHash: identityStateHash(bundle, issuingRoot) };
}

/** Begins a rotation to `newRoot` (a fingerprint). Only from idle, and only to a different root. */
export function startRotation(s: RotationState, newRoot: string, now: number): RotationState {
  const fp = newRoot.toLowerCase();
  if (s.stage !== 'idle') {
    throw new WeftError('WEFT_E_CONFLICT', `a root rotation is already in progress (stage ${s.stage})`, { stage: s.stage });
  }
  if (fp === s.currentRoot) throw new WeftError('WEFT_E_INVALID_INPUT', 'the new root is the current root');
  return { ...s, stage: 'add-root', nextRoot: fp, stageSince: now };
}

/**
 * Moves one stage forward when every proxy has observed the current one. `observed` is the
 * set of distinct hashes the proxies report (see identityStateHash).
 */
export function advanceRotation(s: RotationState, observed: ReadonlySet<string>, now: number): AdvanceResult {
  if (s.stage === 'idle') return { state: s, advanced: false, lagging: [] };
  const { expectedHash } = planFor(s);
  const lagging = [...observed].filter((h) => h !== expectedHash).sort();
  if (lagging.length > 0) return { state: s, advanced: false, lagging };
  const stage = NEXT[s.stage];
  if (stage === 'idle') {
    const root = s.nextRoot!;
    return { state: { stage: 'idle', currentRoot: root, stageSince: now, completed: s.completed + 1 }, advanced: true, lagging: [] };
  }
  return { state: { ...s, stage, stageSince: now }, advanced: true, lagging: [] };
}

/** Abandons a rotation before any certificate was issued under the new root. */
export function abortRotation(s: RotationState, now: number): RotationState {
  if (s.stage === 'idle') return s;
  if (s.stage !== 'add-root') {
    throw new WeftError('WEFT_E_CONFLICT', `cannot abort in stage ${s.stage}: certificates are already issued under the new root`, { stage: s.stage });
  }
  return { stage: 'idle', currentRoot: s.currentRoot, stageSince: now, completed: s.completed };
}

/** Which proxies are behind, from per-proxy reports, for status and events. */
export function laggingProxies(s: RotationState, reports: ReadonlyMap<string, string>): string[] {
  const { expectedHash } = planFor(s);
  return [...reports].filter(([, h]) => h !== expectedHash).map(([p]) => p).sort();
}

/**
 * The CA material for a stage: the bundle and signer it prescribes, built from the old and
 * new CA material (each a root with its own intermediate).
 */
export function materialForStage(s: RotationState, oldCa: CaMaterial, newCa: CaMaterial | undefined): CaMaterial {
  const plan = planFor(s);
  const byFp = new Map<string, CaMaterial>([[fingerprint(oldCa.issuingRoot.toString('pem')), oldCa]]);
  if (newCa) byFp.set(fingerprint(newCa.issuingRoot.toString('pem')), newCa);
  const pick = (fp: string): CaMaterial => {
    const m = byFp.get(fp);
    if (!m) throw new WeftError('WEFT_E_INVALID_CONFIG', `no CA material for root ${fp.slice(0, 16)}… in stage ${s.stage}`, { root: fp, stage: s.stage });
    return m;
  };
  const signer = pick(plan.issuingRoot);
  const bundle = plan.bundle.map((fp) => pick(fp).issuingRoot.toString('pem') + '\n');
  return withTrustBundle(signer, bundle);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The operator rotates automatically when this fraction of the root's lifetime remains. */
export function rotationDue(notBefore: Date, notAfter: Date, now: Date, remainingFraction = 0.2): boolean {
  const life = notAfter.getTime() - notBefore.getTime();
  return notAfter.getTime() - now.getTime() <= life * remainingFraction;
}

/** For the CertificatesExpiringSoon condition: true within `days` of expiry. */
export function expiringSoon(notAfter: Date, now: Date, days = 30): boolean {
  return notAfter.getTime() - now.getTime() <= days * DAY_MS;
}
