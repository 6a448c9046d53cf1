// The control plane's root rotation driver. It turns the operator's request (an annotation
// on weft-ca-secret, see rotation-contract.ts) into the three stages of rotation.ts, and
// moves a stage on only when every connected proxy has ACKed that stage's ROOTCA trust
// bundle over SDS. A proxy ACKs ROOTCA only after it trusts the bundle and holds a
// certificate under the bundle's first (issuing) root, so an ACK of the stage's content is
// read as the stage's identityStateHash: that mapping is what feeds advanceRotation.
//
// Everything lives in the Secret (main keys: the current CA; next-* keys: the incoming one;
// the state annotation), so a restarted control plane resumes where the last one stopped.
// Every write carries the read resourceVersion; a conflict is retried on the next tick.
// The Secret is written first and the stage applied after, so memory is never ahead of it.
// One driver at a time: a single control plane replica is assumed.
import type { V1Secret } from '@kubernetes/client-node';
import { WeftError, errorMessage, isWeftError } from '../errors/errors.js';
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import {
  CA_SECRET_KEYS,
  PLUGGED_CA_SECRET,
  SELF_SIGNED_CA_SECRET,
  caFromSecret,
  caToSecret,
  createSelfSignedCa,
  fingerprint,
  type CaMaterial,
  type SecretLike,
  type SelfSignedOptions,
} from './authority.js';
import {
  MAX_LAGGING_LISTED,
  NEXT_CA_SECRET_KEYS,
  PLUGGED_CA_ROTATION_MESSAGE,
  ROTATION_REQUEST_ANNOTATION,
  ROTATION_STATE_ANNOTATION,
  encodeRotationStatus,
  parseRotationStatus,
  rotationStatusChanged,
  type RotationStatus,
} from './rotation-contract.js';
import { advanceRotation, initialRotationState, materialForStage, planFor, startRotation, type RotationState } from './rotation.js';

/** What the driver needs from the xDS server: per proxy, the ROOTCA version it ACKed. */
export interface RootCaView {
  rootCaSync(): {
    version: string | undefined;
    /** flavour: sidecar, gateway or proxyless (see src/xds/registry/node.ts). */
    proxies: ReadonlyArray<{ nodeId: string; flavour: string; subscribed: boolean; ackedVersion?: string }>;
  };
}

export interface ProxyObservation {
  total: number;
  current: number;
  /** Every proxy not yet current, sorted. */
  lagging: string[];
  /** Every connected proxy, sorted. */
  nodes: string[];
}

/**
 * A proxy is current when it ACKed the ROOTCA version served now. Weft's proxies (sidecar,
 * gateway) always count: one that does not subscribe is behind. A proxyless gRPC client
 * counts only if it subscribed to ROOTCA; otherwise it has no trust bundle Weft could
 * change and would hold every rotation forever. Pure.
 */
export function observeProxies(sync: ReturnType<RootCaView['rootCaSync']>): ProxyObservation {
  const ids = new Map<string, boolean>();
  for (const p of sync.proxies) {
    if (p.flavour === 'proxyless' && !p.subscribed) continue;
    const ok = sync.version !== undefined && p.subscribed && p.ackedVersion === sync.version;
    // A node with several streams is current only if every stream is.
    ids.set(p.nodeId, (ids.get(p.nodeId) ?? true) && ok);
  }
  const lagging = [...ids].filter(([, ok]) => !ok).map(([id]) => id).sort();
  return { total: ids.size, current: ids.size - lagging.length, lagging, nodes: [...ids.keys()].sort() };
}

/** Right after a stage change nobody has ACKed the new bundle yet. */
export function allBehind(p: ProxyObservation): ProxyObservation {
  return { ...p, current: 0, lagging: [...p.nodes] };
}

export function stateFromStatus(s: RotationStatus): RotationState {
  return {
    stage: s.stage,
    currentRoot: s.currentRoot,
    ...(s.nextRoot ? { nextRoot: s.nextRoot } : {}),
    stageSince: Date.parse(s.stageSince),
    completed: s.completed,
  };
}

export function statusFor(
  s: RotationState,
  extra: { request: string | undefined; proxies: ProxyObservation; now: Date; message?: string },
): RotationStatus {
  const p = extra.proxies;
  let message = extra.message;
  if (message === undefined && s.stage !== 'idle' && p.lagging.length > 0) {
    message = `waiting for ${p.lagging.length} of ${p.total} proxies to ACK the ${s.stage} trust bundle`;
  }
  return {
    stage: s.stage,
    currentRoot: s.currentRoot,
    ...(s.nextRoot ? { nextRoot: s.nextRoot } : {}),
    stageSince: new Date(s.stageSince).toISOString(),
    completed: s.completed,
    ...(extra.request !== undefined ? { request: extra.request } : {}),
    proxies: { total: p.total, current: p.current, lagging: p.lagging.slice(0, MAX_LAGGING_LISTED) },
    updatedAt: extra.now.toISOString(),
    ...(message !== undefined ? { message } : {}),
  };
}

export interface DecisionInput {
  source: CaMaterial['source'];
  annotations: Readonly<Record<string, string>>;
  /** Fingerprint of the main keys' issuing root. */
  mainRoot: string;
  /** Fingerprint of the next-* keys' issuing root, when they are present. */
  nextRoot?: string;
  proxies: ProxyObservation;
  now: Date;
}

export type Decision =
  /** Nothing to do; `status` is written when it changed. */
  | { kind: 'steady'; state: RotationState; status: RotationStatus; write: boolean }
  /** Create the next CA and enter add-root. */
  | { kind: 'start'; state: RotationState; request: string }
  /** Move to `state` (to idle: finish, the next CA becomes the main one). */
  | { kind: 'advance'; from: RotationState; state: RotationState; status: RotationStatus }
  /** A plugged-in CA cannot rotate: record the request and why. */
  | { kind: 'refuse'; status: RotationStatus }
  /** The Secret's state cannot be trusted: do nothing. */
  | { kind: 'invalid'; error: WeftError };

/** One tick's decision from what the Secret and the xDS server say. Pure. */
export function decide(input: DecisionInput): Decision {
  const stateText = input.annotations[ROTATION_STATE_ANNOTATION];
  let prev: RotationStatus | undefined;
  if (stateText !== undefined) {
    try {
      prev = parseRotationStatus(stateText);
    } catch (e) {
      return { kind: 'invalid', error: isWeftError(e) ? e : new WeftError('WEFT_E_INVALID_INPUT', errorMessage(e)) };
    }
  }
  const requestText = input.annotations[ROTATION_REQUEST_ANNOTATION];
  const request = requestText !== undefined && requestText !== '' ? requestText : undefined;
  const fresh = request !== undefined && request !== prev?.request;

  if (input.source === 'plugged-in') {
    if (!fresh) {
      const state = initialRotationState(input.mainRoot, input.now.getTime());
      return { kind: 'steady', state, status: prev ?? statusFor(state, { request, proxies: input.proxies, now: input.now }), write: false };
    }
    const base = prev && prev.stage === 'idle' ? stateFromStatus(prev) : initialRotationState(input.mainRoot, input.now.getTime());
    const state = { ...base, currentRoot: input.mainRoot };
    return { kind: 'refuse', status: statusFor(state, { request, proxies: input.proxies, now: input.now, message: PLUGGED_CA_ROTATION_MESSAGE }) };
  }

  const state = prev ? stateFromStatus(prev) : initialRotationState(input.mainRoot, input.now.getTime());
  if (state.currentRoot !== input.mainRoot) {
    return { kind: 'invalid', error: new WeftError('WEFT_E_INVALID_CONFIG', `${ROTATION_STATE_ANNOTATION}: currentRoot does not match the root in the CA Secret's ${CA_SECRET_KEYS.rootCert}`, { currentRoot: state.currentRoot, secretRoot: input.mainRoot }) };
  }
  if (state.stage !== 'idle' && state.nextRoot !== input.nextRoot) {
    return { kind: 'invalid', error: new WeftError('WEFT_E_INVALID_CONFIG', `stage ${state.stage}: the CA Secret's ${NEXT_CA_SECRET_KEYS.rootCert} is missing or is not nextRoot`, { nextRoot: state.nextRoot, secretNextRoot: input.nextRoot ?? null }) };
  }
  if (state.stage === 'idle' && fresh) return { kind: 'start', state, request };
  if (state.stage !== 'idle') {
    const expected = planFor(state).expectedHash;
    // An ACK of this stage's ROOTCA is read as this stage's hash; anything else is "behind".
    const observed = new Set(input.proxies.lagging.map((id) => `behind:${id}`));
    if (input.proxies.current > 0) observed.add(expected);
    const r = advanceRotation(state, observed, input.now.getTime());
    if (r.advanced) {
      // The next stage's bundle is pushed after this write: nobody has ACKed it yet.
      return { kind: 'advance', from: state, state: r.state, status: statusFor(r.state, { request: prev?.request, proxies: allBehind(input.proxies), now: input.now }) };
    }
  }
  const status = statusFor(state, { request: prev?.request, proxies: input.proxies, now: input.now });
  return { kind: 'steady', state, status, write: rotationStatusChanged(prev, status) };
}

// ---- effects ----------------------------------------------------------------------------

export interface RotationDriverOptions {
  clients: Pick<KubeClients, 'core'>;
  namespace: string;
  trustDomain: string;
  logger: Logger;
  proxies: RootCaView;
  /** Serves a stage's CA material: issuer, CA serving certificate, ROOTCA, bundle ConfigMaps. */
  apply: (material: CaMaterial) => Promise<void>;
  clock?: () => Date;
  selfSigned?: Omit<SelfSignedOptions, 'now' | 'trustDomain'>;
  secretName?: string;
  pluggedSecretName?: string;
}

export type TickOutcome = Decision['kind'] | 'no-secret' | 'conflict' | 'applied' | 'error';

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown; statusCode?: unknown } | null)?.code ?? (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

/** The next-* keys read back as a CA Secret of their own. */
function nextCaSecret(s: V1Secret): SecretLike | undefined {
  const data = s.data ?? {};
  if (!data[NEXT_CA_SECRET_KEYS.rootCert]) return undefined;
  const mapped: Record<string, string> = {};
  for (const [k, main] of Object.entries(CA_SECRET_KEYS)) {
    const v = data[NEXT_CA_SECRET_KEYS[k as keyof typeof NEXT_CA_SECRET_KEYS]];
    if (v !== undefined) mapped[main] = v;
  }
  return { metadata: { name: `${s.metadata?.name ?? ''} (next-*)`, namespace: s.metadata?.namespace ?? '' }, data: mapped };
}

export class RotationDriver {
  private readonly clock: () => Date;
  private readonly secretName: string;
  private readonly pluggedName: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<TickOutcome> | undefined;
  /** The stage whose material is being served: `${stage}:${currentRoot}:${nextRoot}`. */
  private applied: string | undefined;
  /** The last tick's problem, for logs and tests. */
  lastError: WeftError | undefined;

  constructor(private readonly opts: RotationDriverOptions) {
    this.clock = opts.clock ?? ((): Date => new Date());
    this.secretName = opts.secretName ?? SELF_SIGNED_CA_SECRET;
    this.pluggedName = opts.pluggedSecretName ?? PLUGGED_CA_SECRET;
  }

  /** True while the driver serves rotation material (the CA's periodic reload must not). */
  get rotating(): boolean {
    return this.applied !== undefined && !this.applied.startsWith('idle:');
  }

  /** Marks the material the CA service loaded at start as served (idle at `root`). */
  servingIdle(root: string): void {
    this.applied ??= `idle:${root}:`;
  }

  /**
   * At start-up: when the Secret records a rotation in progress, serve that stage's material
   * and resolve true. Anything else (idle, plugged-in, unusable state) is left to the ticks.
   */
  async resume(): Promise<boolean> {
    if (await this.read(this.pluggedName)) return false;
    const view = await this.readSelfSigned(this.clock());
    if (!view) return false;
    const d = decide(view.input);
    const state = d.kind === 'steady' ? d.state : d.kind === 'advance' ? d.from : undefined;
    if (!state || state.stage === 'idle') return false;
    this.opts.logger.info({ stage: state.stage, currentRoot: state.currentRoot.slice(0, 16), nextRoot: state.nextRoot?.slice(0, 16) }, 'resuming the root rotation recorded in the CA Secret');
    await this.serve(state, view.main, view.next);
    return true;
  }

  /** weft-ca-secret with its main and next-* material, and the decision input for it. */
  private async readSelfSigned(now: Date): Promise<{ secret: V1Secret; main: CaMaterial; next: CaMaterial | undefined; input: DecisionInput } | undefined> {
    const secret = await this.read(this.secretName);
    if (!secret) return undefined; // the CA service creates it
    const main = await caFromSecret(secret as SecretLike, now);
    const nextSecret = nextCaSecret(secret);
    let next: CaMaterial | undefined;
    try {
      next = nextSecret ? await caFromSecret(nextSecret, now) : undefined;
    } catch (e) {
      throw new WeftError('WEFT_E_INVALID_CONFIG', `${this.secretName}: the incoming CA in the next-* keys is unusable: ${errorMessage(e)}`, { secret: `${this.opts.namespace}/${this.secretName}` }, { cause: e });
    }
    const input: DecisionInput = {
      source: main.source, annotations: secret.metadata?.annotations ?? {}, mainRoot: fingerprint(main.issuingRoot.toString('pem')),
      ...(next ? { nextRoot: fingerprint(next.issuingRoot.toString('pem')) } : {}), proxies: observeProxies(this.opts.proxies.rootCaSync()), now,
    };
    return { secret, main, next, input };
  }

  start(tickMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
  }

  /** Stops ticking and waits for a tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; ticks never overlap. */
  tick(): Promise<TickOutcome> {
    this.running ??= this.tickOnce()
      .catch((e: unknown): TickOutcome => {
        const err = isWeftError(e) ? e : new WeftError('WEFT_E_UNAVAILABLE', errorMessage(e));
        if (err.code === 'WEFT_E_INVALID_CONFIG') return this.invalid(err);
        this.lastError = err;
        this.opts.logger.warn({ err: this.lastError.message }, 'root rotation tick failed; retrying next tick');
        return 'error';
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async read(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.opts.clients.core.readNamespacedSecret({ name, namespace: this.opts.namespace });
    } catch (e) {
      if (httpCode(e) === 404) return undefined;
      throw new WeftError('WEFT_E_UNAVAILABLE', `cannot read Secret ${this.opts.namespace}/${name}: ${errorMessage(e)}`, {}, { cause: e });
    }
  }

  /** Replaces the Secret with the read resourceVersion as precondition; false on 409. */
  private async replace(body: V1Secret): Promise<boolean> {
    const name = body.metadata?.name ?? '';
    try {
      await this.opts.clients.core.replaceNamespacedSecret({ name, namespace: this.opts.namespace, body });
      return true;
    } catch (e) {
      if (httpCode(e) === 409) {
        this.opts.logger.info({ secret: `${this.opts.namespace}/${name}` }, 'CA Secret changed under the rotation driver; re-reading next tick');
        return false;
      }
      throw new WeftError('WEFT_E_UNAVAILABLE', `cannot update Secret ${this.opts.namespace}/${name}: ${errorMessage(e)}`, {}, { cause: e });
    }
  }

  private withStatus(s: V1Secret, status: RotationStatus, data?: Record<string, string>): V1Secret {
    return {
      ...s,
      metadata: { ...s.metadata, annotations: { ...s.metadata?.annotations, [ROTATION_STATE_ANNOTATION]: encodeRotationStatus(status) } },
      ...(data ? { data } : {}),
    };
  }

  private async tickOnce(): Promise<TickOutcome> {
    const now = this.clock();
    const log = this.opts.logger;
    const proxies = observeProxies(this.opts.proxies.rootCaSync());
    const plugged = await this.read(this.pluggedName);
    if (plugged) {
      // cacerts wins (see store.ts): a request on either Secret gets the same answer.
      let outcome: TickOutcome = 'steady';
      const mainRoot = await this.mainRoot(plugged);
      for (const s of [plugged, await this.read(this.secretName)]) {
        if (!s) continue;
        const d = decide({ source: 'plugged-in', annotations: s.metadata?.annotations ?? {}, mainRoot, proxies, now });
        if (d.kind === 'invalid') return this.invalid(d.error);
        if (d.kind !== 'refuse') continue;
        log.warn({ secret: s.metadata?.name, request: d.status.request }, PLUGGED_CA_ROTATION_MESSAGE);
        outcome = (await this.replace(this.withStatus(s, d.status))) ? 'refuse' : 'conflict';
      }
      return outcome;
    }

    const view = await this.readSelfSigned(now);
    if (!view) return 'no-secret';
    const { secret, main, next } = view;
    const d = decide(view.input);
    if (d.kind !== 'invalid') this.lastError = undefined;
    switch (d.kind) {
      case 'invalid':
        return this.invalid(d.error);
      case 'refuse': {
        log.warn({ secret: this.secretName, request: d.status.request }, PLUGGED_CA_ROTATION_MESSAGE);
        return (await this.replace(this.withStatus(secret, d.status))) ? 'refuse' : 'conflict';
      }
      case 'steady': {
        // After a restart mid-rotation (or a failed apply) serve the stage the Secret records.
        if (this.applied !== stageKey(d.state)) {
          await this.serve(d.state, main, next);
          return 'applied';
        }
        if (d.write && !(await this.replace(this.withStatus(secret, d.status)))) return 'conflict';
        return 'steady';
      }
      case 'start': {
        const incoming = await createSelfSignedCa({ now, trustDomain: this.opts.trustDomain, ...this.opts.selfSigned });
        const state = startRotation(d.state, fingerprint(incoming.issuingRoot.toString('pem')), now.getTime());
        const status = statusFor(state, { request: d.request, proxies: allBehind(view.input.proxies), now });
        const nextData = (await caToSecret(incoming, this.secretName, this.opts.namespace)).data ?? {};
        const data = { ...secret.data };
        for (const [k, main] of Object.entries(CA_SECRET_KEYS)) {
          const v = nextData[main];
          if (v !== undefined) data[NEXT_CA_SECRET_KEYS[k as keyof typeof NEXT_CA_SECRET_KEYS]] = v;
        }
        if (!(await this.replace(this.withStatus(secret, status, data)))) return 'conflict';
        log.info({ request: d.request, currentRoot: state.currentRoot.slice(0, 16), nextRoot: state.nextRoot?.slice(0, 16) }, 'root rotation started: add-root');
        await this.serve(state, main, incoming);
        return 'start';
      }
      case 'advance': {
        if (this.applied !== stageKey(d.from)) {
          // ACKs count only for the content this process serves.
          await this.serve(d.from, main, next);
          return 'applied';
        }
        if (d.state.stage === 'idle') return this.finish(secret, d.status, next!);
        if (!(await this.replace(this.withStatus(secret, d.status)))) return 'conflict';
        log.info({ from: d.from.stage, to: d.state.stage }, 'root rotation stage advanced');
        await this.serve(d.state, main, next);
        return 'advance';
      }
    }
  }

  private async mainRoot(s: V1Secret): Promise<string> {
    return fingerprint((await caFromSecret(s as SecretLike, this.clock())).issuingRoot.toString('pem'));
  }

  private invalid(error: WeftError): TickOutcome {
    const repeat = this.lastError?.message === error.message;
    this.lastError = error;
    // Once per distinct problem, not every tick.
    if (!repeat) this.opts.logger.error({ err: error.message, code: error.code, ...error.details }, 'root rotation state is unusable; the driver does nothing until it is fixed');
    return 'invalid';
  }

  private async serve(state: RotationState, main: CaMaterial, next: CaMaterial | undefined): Promise<void> {
    await this.opts.apply(materialForStage(state, main, next));
    this.applied = stageKey(state);
  }

  /** Back to idle: the next CA becomes the main keys, next-* keys go, completed + 1. */
  private async finish(secret: V1Secret, status: RotationStatus, next: CaMaterial): Promise<TickOutcome> {
    const body = await caToSecret(next, this.secretName, this.opts.namespace);
    const data: Record<string, string> = {};
    const nextKeys = new Set<string>(Object.values(NEXT_CA_SECRET_KEYS));
    for (const [k, v] of Object.entries(secret.data ?? {})) if (!nextKeys.has(k)) data[k] = v;
    Object.assign(data, body.data);
    if (!next.rootKey) delete data[CA_SECRET_KEYS.rootKey];
    const updated = this.withStatus({ ...secret, metadata: { ...secret.metadata, labels: { ...secret.metadata?.labels, ...body.metadata?.labels } } }, status, data);
    if (!(await this.replace(updated))) return 'conflict';
    this.opts.logger.info({ root: status.currentRoot.slice(0, 16), completed: status.completed }, 'root rotation complete');
    const state = stateFromStatus(status);
    await this.opts.apply(next);
    this.applied = stageKey(state);
    return 'advance';
  }
}

function stageKey(s: RotationState): string {
  return `${s.stage}:${s.currentRoot}:${s.nextRoot ?? ''}`;
}
