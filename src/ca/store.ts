// Where the CA's material lives: Secrets in the mesh namespace. A user's `cacerts` Secret
// wins; otherwise Weft's own self-signed CA in `weft-ca-secret`, created on first start.
// Creation races between replicas are settled by the API server: the loser of the create
// (409) reads the winner's Secret.
import type { KubeClients } from '../kube/client.js';
import type { Logger } from '../log/logger.js';
import { WeftError, errorMessage } from '../errors/errors.js';
import {
  PLUGGED_CA_SECRET,
  SELF_SIGNED_CA_SECRET,
  caFromSecret,
  caToSecret,
  createSelfSignedCa,
  intermediateRenewalDue,
  renewIntermediate,
  type CaMaterial,
  type SecretLike,
  type SelfSignedOptions,
} from './authority.js';

export interface LoadCaOptions {
  namespace: string;
  trustDomain: string;
  now: Date;
  logger?: Logger;
  selfSigned?: Omit<SelfSignedOptions, 'now' | 'trustDomain'>;
  /** Override the Secret names (tests). */
  pluggedSecretName?: string;
  selfSignedSecretName?: string;
}

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown; statusCode?: unknown } | null)?.code ?? (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

export async function readSecret(clients: Pick<KubeClients, 'core'>, namespace: string, name: string): Promise<SecretLike | undefined> {
  try {
    return (await clients.core.readNamespacedSecret({ name, namespace })) as SecretLike;
  } catch (e) {
    if (httpCode(e) === 404) return undefined;
    throw new WeftError('WEFT_E_UNAVAILABLE', `cannot read Secret ${namespace}/${name}: ${errorMessage(e)}`, {}, { cause: e });
  }
}

export async function writeCaSecret(clients: Pick<KubeClients, 'core'>, m: CaMaterial, namespace: string, name: string): Promise<'created' | 'exists'> {
  const body = await caToSecret(m, name, namespace);
  try {
    await clients.core.createNamespacedSecret({ namespace, body: body as never }); // SecretLike is V1Secret's shape
    return 'created';
  } catch (e) {
    if (httpCode(e) === 409) return 'exists';
    throw new WeftError('WEFT_E_UNAVAILABLE', `cannot create Secret ${namespace}/${name}: ${errorMessage(e)}`, {}, { cause: e });
  }
}

/** The CA material to serve with, and where it came from. */
export async function loadOrCreateCa(clients: Pick<KubeClients, 'core'>, opts: LoadCaOptions): Promise<{ material: CaMaterial; secretName: string; created: boolean }> {
  const plugged = opts.pluggedSecretName ?? PLUGGED_CA_SECRET;
  const own = opts.selfSignedSecretName ?? SELF_SIGNED_CA_SECRET;
  const user = await readSecret(clients, opts.namespace, plugged);
  if (user) {
    opts.logger?.info({ secret: `${opts.namespace}/${plugged}` }, 'using plugged-in CA');
    return { material: await caFromSecret(user, opts.now), secretName: plugged, created: false };
  }
  const existing = await readSecret(clients, opts.namespace, own);
  if (existing) {
    const material = await caFromSecret(existing, opts.now);
    if (!intermediateRenewalDue(material, opts.now)) return { material, secretName: own, created: false };
    return { material: await renewStoredIntermediate(clients, opts, existing, material), secretName: own, created: false };
  }

  const fresh = await createSelfSignedCa({ now: opts.now, trustDomain: opts.trustDomain, ...opts.selfSigned });
  const outcome = await writeCaSecret(clients, fresh, opts.namespace, own);
  if (outcome === 'created') {
    opts.logger?.info({ secret: `${opts.namespace}/${own}`, notAfter: fresh.issuingRoot.notAfter.toISOString() }, 'created self-signed CA');
    return { material: fresh, secretName: own, created: true };
  }
  const winner = await readSecret(clients, opts.namespace, own);
  if (!winner) throw new WeftError('WEFT_E_UNAVAILABLE', `Secret ${opts.namespace}/${own} was created concurrently but cannot be read`);
  return { material: await caFromSecret(winner, opts.now), secretName: own, created: false };
}

/**
 * Replaces the intermediate in Weft's own Secret, with the read resourceVersion as a
 * precondition: if another replica renewed first (409), its Secret is read and used.
 */
async function renewStoredIntermediate(clients: Pick<KubeClients, 'core'>, opts: LoadCaOptions, secret: SecretLike, material: CaMaterial): Promise<CaMaterial> {
  const name = secret.metadata?.name ?? SELF_SIGNED_CA_SECRET;
  const renewed = await renewIntermediate(material, { now: opts.now, trustDomain: opts.trustDomain, ...opts.selfSigned });
  const body = await caToSecret(renewed, name, opts.namespace);
  // Keep what others keep on the Secret (rotation annotations, a rotation's next-* keys).
  const annotations = (secret.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
  body.metadata = { ...body.metadata, ...(annotations ? { annotations } : {}), resourceVersion: (secret.metadata as { resourceVersion?: string } | undefined)?.resourceVersion };
  body.data = { ...secret.data, ...body.data };
  try {
    await clients.core.replaceNamespacedSecret({ name, namespace: opts.namespace, body: body as never }); // SecretLike is V1Secret's shape
    opts.logger?.info({ secret: `${opts.namespace}/${name}`, notAfter: renewed.signingCert.notAfter.toISOString() }, 'renewed CA intermediate');
    return renewed;
  } catch (e) {
    if (httpCode(e) !== 409) throw new WeftError('WEFT_E_UNAVAILABLE', `cannot update Secret ${opts.namespace}/${name}: ${errorMessage(e)}`, {}, { cause: e });
    const winner = await readSecret(clients, opts.namespace, name);
    if (!winner) throw new WeftError('WEFT_E_UNAVAILABLE', `Secret ${opts.namespace}/${name} disappeared during intermediate renewal`);
    return caFromSecret(winner, opts.now);
  }
}
