// What the operator concludes from the mesh's CA Secret, as pure functions of
// (Secret facts, previous status, now): the CertificatesExpiringSoon and RootRotation
// conditions, status.rootRotation mirrored from the driver's state annotation, whether to
// ask for a rotation (automatically or on demand), and which Events to emit.
// The rotation itself is the control plane's job (see src/ca/rotation-contract.ts).
import { X509Certificate } from 'node:crypto';
import { ROTATE_ROOT_ANNOTATION, type Condition, type RootRotationStatus } from '../api/meshconfig.js';
import { CA_SECRET_KEYS, PLUGGED_CA_SECRET, SELF_SIGNED_CA_SECRET } from '../ca/authority.js';
import { expiringSoon, rotationDue } from '../ca/rotation.js';
import {
  ROTATION_REQUEST_ANNOTATION, ROTATION_STATE_ANNOTATION, parseRotationStatus, type RotationStatus,
} from '../ca/rotation-contract.js';
import { errorMessage } from '../errors/errors.js';
import type { ConditionInput } from './status.js';

export const EXPIRY_WARN_DAYS = 30;
export const ROTATION_DUE_REMAINING = 0.2;
export const DEFAULT_STUCK_AFTER_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export interface CertFacts {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256, lowercase hex. */
  fingerprint: string;
}

export interface CaSecretFacts {
  namespace: string;
  name: string;
  /** weft-ca-secret is Weft's own (rotatable); cacerts is the user's. */
  source: 'self-signed' | 'plugged-in';
  root?: CertFacts;
  intermediate?: CertFacts;
  /** Why the certificates could not be read (then root/intermediate are absent). */
  readError?: string;
  /** rotation.weft.dev/request as found on the Secret. */
  request?: string;
  /** rotation.weft.dev/state as found on the Secret (unparsed). */
  stateText?: string;
}

export interface SecretInput {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

function certFacts(pem: string): CertFacts {
  const c = new X509Certificate(pem);
  return { subject: c.subject.replace(/\n/g, ', '), notBefore: c.validFromDate, notAfter: c.validToDate, fingerprint: c.fingerprint256.replace(/:/g, '').toLowerCase() };
}

function firstPem(text: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text)?.[0];
}

/** Reads root-cert.pem (first certificate = the current root) and ca-cert.pem from a CA Secret. Pure. */
export function caSecretFacts(s: SecretInput): CaSecretFacts {
  const name = s.metadata?.name ?? '';
  const ann = s.metadata?.annotations ?? {};
  const out: CaSecretFacts = {
    namespace: s.metadata?.namespace ?? '',
    name,
    source: name === PLUGGED_CA_SECRET ? 'plugged-in' : 'self-signed',
    ...(ann[ROTATION_REQUEST_ANNOTATION] !== undefined ? { request: ann[ROTATION_REQUEST_ANNOTATION] } : {}),
    ...(ann[ROTATION_STATE_ANNOTATION] !== undefined ? { stateText: ann[ROTATION_STATE_ANNOTATION] } : {}),
  };
  const read = (key: string): CertFacts => {
    const b64 = s.data?.[key];
    if (!b64) throw new Error(`${key} is missing`);
    const pem = firstPem(Buffer.from(b64, 'base64').toString('utf8'));
    if (!pem) throw new Error(`${key} holds no PEM certificate`);
    try {
      return certFacts(pem);
    } catch (e) {
      throw new Error(`${key} does not parse as X.509: ${errorMessage(e)}`, { cause: e });
    }
  };
  try {
    return { ...out, root: read(CA_SECRET_KEYS.rootCert), intermediate: read(CA_SECRET_KEYS.caCert) };
  } catch (e) {
    return { ...out, readError: `Secret ${out.namespace}/${name}: ${errorMessage(e)}` };
  }
}

/** The token the operator writes for an automatic rotation of this root. */
export function autoRequestToken(rootFingerprint: string): string {
  return `auto-${rootFingerprint.slice(0, 16)}`;
}

export interface CaEvent {
  type: 'Normal' | 'Warning';
  reason: 'CertificatesExpiringSoon' | 'RootRotationRequested' | 'RootRotationStage' | 'RootRotationCompleted' | 'RootRotationStuck';
  message: string;
}

export interface CaAssessInput {
  /** The CA Secret in use (cacerts if present, else weft-ca-secret); undefined when neither exists. */
  facts?: CaSecretFacts;
  /** The mesh namespace (for messages when there is no Secret). */
  namespace: string;
  /** The Secret lookup failed (e.g. forbidden). */
  lookupError?: string;
  /** The MeshConfig's weft.dev/rotate-root annotation. */
  rotateRootToken?: string;
  previousConditions?: readonly Condition[];
  previous?: RootRotationStatus;
  nowMs: number;
  stuckAfterMs?: number;
}

export interface CaAssessment {
  conditions: ConditionInput[];
  rootRotation?: RootRotationStatus;
  /** Write rotation.weft.dev/request = token on the Secret. */
  writeRequest?: { token: string; why: 'auto' | 'on-demand' };
  events: CaEvent[];
  /** A rotation is running or requested (or the state is unreadable): re-check soon. */
  active: boolean;
}

function iso(d: Date | number): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function daysLeft(notAfter: Date, nowMs: number): number {
  return Math.floor((notAfter.getTime() - nowMs) / DAY_MS);
}

function whenText(notAfter: Date, nowMs: number): string {
  const d = daysLeft(notAfter, nowMs);
  return notAfter.getTime() <= nowMs ? `expired at ${iso(notAfter)}` : `expires at ${iso(notAfter)} (${d} day${d === 1 ? '' : 's'} left)`;
}

/** CertificatesExpiringSoon from the Secret's root and intermediate. Pure. */
export function expiryCondition(input: Pick<CaAssessInput, 'facts' | 'namespace' | 'lookupError' | 'nowMs'>): ConditionInput {
  const type = 'CertificatesExpiringSoon';
  const { facts, nowMs } = input;
  if (input.lookupError) return { type, status: 'Unknown', reason: 'CaUnreadable', message: input.lookupError };
  if (!facts) {
    return { type, status: 'Unknown', reason: 'CaNotFound', message: `CA not created yet: no Secret ${PLUGGED_CA_SECRET} or ${SELF_SIGNED_CA_SECRET} in namespace ${input.namespace} (the control plane creates ${SELF_SIGNED_CA_SECRET} when it first starts)` };
  }
  if (facts.readError || !facts.root || !facts.intermediate) return { type, status: 'Unknown', reason: 'CaUnreadable', message: facts.readError ?? 'CA certificates unreadable' };
  const now = new Date(nowMs);
  const plugged = facts.source === 'plugged-in';
  const where = `Secret ${facts.namespace}/${facts.name}`;
  const problems: string[] = [];
  if (expiringSoon(facts.root.notAfter, now, EXPIRY_WARN_DAYS)) {
    problems.push(`the root certificate (${where} ${CA_SECRET_KEYS.rootCert}, ${facts.root.subject}) ${whenText(facts.root.notAfter, nowMs)}; ${plugged
      ? `Weft cannot rotate a plugged-in root: put a new root into ${PLUGGED_CA_SECRET} (keep the old one in ${CA_SECRET_KEYS.rootCert} until every workload has renewed)`
      : 'Weft rotates its self-signed root automatically (see status.rootRotation); to start now run `weftctl rotate-root`'}`);
  }
  if (expiringSoon(facts.intermediate.notAfter, now, EXPIRY_WARN_DAYS)) {
    problems.push(`the intermediate certificate (${where} ${CA_SECRET_KEYS.caCert}, ${facts.intermediate.subject}) ${whenText(facts.intermediate.notAfter, nowMs)}; ${plugged
      ? `replace ${CA_SECRET_KEYS.caCert}, ${CA_SECRET_KEYS.caKey} and ${CA_SECRET_KEYS.certChain} in ${PLUGGED_CA_SECRET} with a renewed intermediate`
      : 'the control plane renews it when a third of its lifetime remains: check the control plane CA logs, or restart it to renew now'}`);
  }
  if (problems.length > 0) return { type, status: 'True', reason: 'ExpiringSoon', message: problems.join('; ') };
  if (plugged && rotationDue(facts.root.notBefore, facts.root.notAfter, now, ROTATION_DUE_REMAINING)) {
    return {
      type, status: 'True', reason: 'PluggedRootRotationDue',
      message: `the root certificate (${where} ${CA_SECRET_KEYS.rootCert}, ${facts.root.subject}) has less than ${ROTATION_DUE_REMAINING * 100}% of its lifetime left and ${whenText(facts.root.notAfter, nowMs)}; Weft cannot rotate a plugged-in root: plan a new root in ${PLUGGED_CA_SECRET}`,
    };
  }
  return { type, status: 'False', reason: 'NotExpiring', message: `root ${whenText(facts.root.notAfter, nowMs)}, intermediate ${whenText(facts.intermediate.notAfter, nowMs)}` };
}

/** The request to write on the Secret, if any: on demand first, else automatic. Pure. */
export function rotationRequest(
  facts: CaSecretFacts | undefined,
  state: RotationStatus | undefined,
  stateValid: boolean,
  rotateRootToken: string | undefined,
  nowMs: number,
): { token: string; why: 'auto' | 'on-demand' } | undefined {
  if (!facts || facts.source !== 'self-signed') return undefined;
  const token = rotateRootToken?.trim();
  if (token && token !== state?.request && token !== facts.request) return { token, why: 'on-demand' };
  if (!stateValid || !facts.root || (state?.stage ?? 'idle') !== 'idle') return undefined;
  if (!rotationDue(facts.root.notBefore, facts.root.notAfter, new Date(nowMs), ROTATION_DUE_REMAINING)) return undefined;
  // Never overwrite a request the driver has not acted on yet; never ask twice for one root.
  const pending = facts.request !== undefined && facts.request !== state?.request;
  const auto = autoRequestToken(facts.root.fingerprint);
  if (pending || auto === facts.request || auto === state?.request) return undefined;
  return { token: auto, why: 'auto' };
}

/** Stuck: a stage other than idle unchanged for longer than the threshold while proxies lag. Pure. */
export function rotationStuck(state: RotationStatus, nowMs: number, stuckAfterMs = DEFAULT_STUCK_AFTER_MS): boolean {
  if (state.stage === 'idle') return false;
  const lagging = state.proxies.lagging.length > 0 || state.proxies.current < state.proxies.total;
  return lagging && nowMs - Date.parse(state.stageSince) > stuckAfterMs;
}

/** "add-root" -> "AddRoot": condition reasons are CamelCase. */
export function stageReason(stage: string): string {
  return stage.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** Everything the operator concludes from the CA Secret at `nowMs`. Pure. */
export function assessCa(input: CaAssessInput): CaAssessment {
  const { facts, nowMs, previous } = input;
  const events: CaEvent[] = [];
  const expiry = expiryCondition(input);
  const prevExpiry = input.previousConditions?.find((c) => c.type === 'CertificatesExpiringSoon');
  if (expiry.status === 'True' && prevExpiry?.status !== 'True') events.push({ type: 'Warning', reason: 'CertificatesExpiringSoon', message: expiry.message });

  const type = 'RootRotation';
  if (input.lookupError || !facts) {
    const cond: ConditionInput = input.lookupError
      ? { type, status: 'Unknown', reason: 'CaUnreadable', message: input.lookupError }
      : { type, status: 'Unknown', reason: 'CaNotFound', message: 'CA not created yet' };
    return { conditions: [expiry, cond], events, active: false };
  }
  if (facts.source === 'plugged-in') {
    const ignored = input.rotateRootToken ? `; the ${ROTATE_ROOT_ANNOTATION} annotation is ignored` : '';
    return {
      conditions: [expiry, { type, status: 'False', reason: 'PluggedInCa', message: `the CA comes from Secret ${facts.namespace}/${facts.name}: Weft does not rotate a plugged-in root, replace that Secret instead${ignored}` }],
      events,
      active: false,
    };
  }

  let state: RotationStatus | undefined;
  let stateError: string | undefined;
  if (facts.stateText !== undefined) {
    try {
      state = parseRotationStatus(facts.stateText);
    } catch (e) {
      stateError = `cannot read annotation ${ROTATION_STATE_ANNOTATION} on Secret ${facts.namespace}/${facts.name}: ${errorMessage(e)}; the control plane's rotation driver writes it, so check its logs`;
    }
  }
  const writeRequest = rotationRequest(facts, state, stateError === undefined, input.rotateRootToken, nowMs);
  if (writeRequest) {
    events.push({
      type: 'Normal', reason: 'RootRotationRequested',
      message: writeRequest.why === 'auto'
        ? `root ${facts.root?.fingerprint.slice(0, 16) ?? ''} has less than ${ROTATION_DUE_REMAINING * 100}% of its lifetime left (${facts.root ? whenText(facts.root.notAfter, nowMs) : ''}): requested rotation ${writeRequest.token}`
        : `rotation ${writeRequest.token} requested through the ${ROTATE_ROOT_ANNOTATION} annotation`,
    });
  }
  const request = writeRequest?.token ?? facts.request;
  const pendingRequest = request !== undefined && request !== state?.request ? request : undefined;
  const pendingPart = pendingRequest !== undefined ? { pendingRequest } : {};

  if (stateError) {
    return {
      conditions: [expiry, { type, status: 'Unknown', reason: 'RotationStateInvalid', message: stateError }],
      rootRotation: { ...pendingPart, message: stateError },
      ...(writeRequest ? { writeRequest } : {}),
      events,
      active: true,
    };
  }
  if (!state) {
    return {
      conditions: [expiry, pendingRequest !== undefined
        ? { type, status: 'False', reason: 'Requested', message: `rotation ${pendingRequest} requested; waiting for the control plane to start it` }
        : { type, status: 'False', reason: 'Idle', message: 'no rotation has run yet' }],
      ...(pendingRequest !== undefined ? { rootRotation: { pendingRequest } } : {}),
      ...(writeRequest ? { writeRequest } : {}),
      events,
      active: pendingRequest !== undefined,
    };
  }

  const stuck = rotationStuck(state, nowMs, input.stuckAfterMs);
  const rootRotation: RootRotationStatus = {
    stage: state.stage,
    since: state.stageSince,
    ...(state.request !== undefined ? { request: state.request } : {}),
    ...pendingPart,
    completed: state.completed,
    currentRoot: state.currentRoot,
    ...(state.nextRoot !== undefined ? { nextRoot: state.nextRoot } : {}),
    proxies: { total: state.proxies.total, current: state.proxies.current },
    lagging: [...state.proxies.lagging],
    stuck,
    ...(state.message !== undefined ? { message: state.message } : {}),
  };
  const progress = `${state.proxies.current}/${state.proxies.total} proxies at this stage${state.proxies.lagging.length ? `; lagging: ${state.proxies.lagging.join(', ')}` : ''}`;
  let cond: ConditionInput;
  if (state.stage !== 'idle') {
    cond = { type, status: 'True', reason: stageReason(state.stage), message: `stage ${state.stage} since ${state.stageSince}: ${progress}${stuck ? `; stuck: the stage has not moved since ${state.stageSince}` : ''}` };
  } else if (pendingRequest !== undefined) {
    cond = { type, status: 'False', reason: 'Requested', message: `rotation ${pendingRequest} requested; waiting for the control plane to start it` };
  } else {
    cond = { type, status: 'False', reason: 'Idle', message: `no rotation in progress; ${state.completed} completed` };
  }

  if (state.stage !== 'idle' && state.stage !== previous?.stage) {
    events.push({ type: 'Normal', reason: 'RootRotationStage', message: `root rotation${state.request ? ` ${state.request}` : ''}: stage ${state.stage} (${progress})` });
  }
  const prevCompleted = previous?.completed;
  const wasRunning = (previous?.stage !== undefined && previous.stage !== 'idle') || previous?.pendingRequest !== undefined;
  if (state.stage === 'idle' && (prevCompleted !== undefined ? state.completed > prevCompleted : wasRunning && state.completed > 0)) {
    events.push({ type: 'Normal', reason: 'RootRotationCompleted', message: `root rotation${state.request ? ` ${state.request}` : ''} completed: the root is now ${state.currentRoot.slice(0, 16)}; ${state.completed} completed in total` });
  }
  if (stuck && !previous?.stuck) {
    events.push({ type: 'Warning', reason: 'RootRotationStuck', message: `root rotation stage ${state.stage} has not moved since ${state.stageSince}: ${progress}` });
  }
  return { conditions: [expiry, cond], rootRotation, ...(writeRequest ? { writeRequest } : {}), events, active: state.stage !== 'idle' || pendingRequest !== undefined };
}
