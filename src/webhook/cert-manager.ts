// Owns the webhook's serving certificate: keeps it in a Secret, rotates it before expiry,
// patches caBundle into the named webhook configurations, and hands new TLS material to the
// server. Rotation order gives zero failed admissions: a new CA is added to caBundle (next to
// the old one) and given time to reach the API server before the server switches to a leaf
// signed by it; a leaf-only rotation keeps the CA, so caBundle does not change at all.
import type { AdmissionregistrationV1Api, CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { errorMessage } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import {
  certInfo, createCA, issueServingCert, nextBundle, planRotation, renewalTime, splitPemBundle,
  type KeyAndCert, type RotationPlan, type StoredCerts,
} from './certs.js';

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

export interface CertManagerOptions {
  core: CoreV1Api;
  admissionReg: AdmissionregistrationV1Api;
  namespace: string;
  secretName: string;
  mutatingWebhookConfigurations: readonly string[];
  validatingWebhookConfigurations: readonly string[];
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  clock: Clock;
  logger: Logger;
  /** Called with new TLS material whenever the served certificate changes (and once at first load). */
  onCertificate: (tls: KeyAndCert, notAfter: Date) => void;
  caTtlMs?: number;
  certTtlMs?: number;
  renewBeforeFraction?: number;
  /** Wait after adding a new CA to caBundle before serving a leaf it signed. */
  propagationDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const DAY = 24 * 3600 * 1000;
const KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key', bundle: 'ca-bundle.crt' } as const;

export interface CertStatus {
  notAfter: Date;
  caNotAfter: Date;
  nextRenewal: Date;
  lastAction: RotationPlan['action'];
  rotations: number;
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === 404;
}
function isConflict(e: unknown): boolean {
  return (e as { code?: number }).code === 409;
}

export class WebhookCertManager {
  private readonly o: Required<Omit<CertManagerOptions, 'sleep'>> & { sleep: (ms: number) => Promise<void> };
  private served: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CertStatus> | undefined;
  private rotations = 0;
  private lastStatus: CertStatus | undefined;

  constructor(opts: CertManagerOptions) {
    this.o = {
      caTtlMs: 365 * DAY,
      certTtlMs: 30 * DAY,
      renewBeforeFraction: 1 / 3,
      propagationDelayMs: 2000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...opts,
    };
  }

  status(): CertStatus | undefined {
    return this.lastStatus;
  }

  /** Brings Secret, caBundle and served certificate in line. Safe to call concurrently (calls coalesce). */
  reconcile(force?: 'leaf' | 'ca'): Promise<CertStatus> {
    if (this.running) return this.running;
    this.running = this.doReconcile(force).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.o.core.readNamespacedSecret({ name: this.o.secretName, namespace: this.o.namespace });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private decode(secret: V1Secret | undefined): StoredCerts {
    const d = secret?.data ?? {};
    const get = (k: string): string | undefined => (d[k] ? Buffer.from(d[k], 'base64').toString('utf8') : undefined);
    const caCert = get(KEYS.caCert);
    const caKey = get(KEYS.caKey);
    const cert = get(KEYS.cert);
    const key = get(KEYS.key);
    const bundle = splitPemBundle(get(KEYS.bundle) ?? caCert ?? '');
    return {
      ...(caCert && caKey ? { ca: { certPem: caCert, keyPem: caKey } } : {}),
      ...(cert && key ? { leaf: { certPem: cert, keyPem: key } } : {}),
      bundle,
    };
  }

  private async writeSecret(existing: V1Secret | undefined, s: Required<Pick<StoredCerts, 'ca' | 'leaf'>> & StoredCerts): Promise<void> {
    const b64 = (x: string): string => Buffer.from(x).toString('base64');
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: this.o.secretName,
        namespace: this.o.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'weft-operator', 'app.kubernetes.io/component': 'webhook-cert' },
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: {
        [KEYS.caCert]: b64(s.ca.certPem),
        [KEYS.caKey]: b64(s.ca.keyPem),
        [KEYS.cert]: b64(s.leaf.certPem),
        [KEYS.key]: b64(s.leaf.keyPem),
        [KEYS.bundle]: b64(s.bundle.join('')),
      },
    };
    if (existing) await this.o.core.replaceNamespacedSecret({ name: this.o.secretName, namespace: this.o.namespace, body });
    else await this.o.core.createNamespacedSecret({ namespace: this.o.namespace, body });
  }

  /** Sets caBundle on every webhook of the named configurations; returns how many objects changed. */
  async patchCABundle(bundle: readonly string[]): Promise<number> {
    const caBundle = Buffer.from(bundle.join('')).toString('base64');
    let changed = 0;
    const api = this.o.admissionReg;
    for (const name of this.o.mutatingWebhookConfigurations) {
      changed += await this.updateConfig(name, caBundle,
        () => api.readMutatingWebhookConfiguration({ name }),
        (body) => api.replaceMutatingWebhookConfiguration({ name, body }));
    }
    for (const name of this.o.validatingWebhookConfigurations) {
      changed += await this.updateConfig(name, caBundle,
        () => api.readValidatingWebhookConfiguration({ name }),
        (body) => api.replaceValidatingWebhookConfiguration({ name, body }));
    }
    return changed;
  }

  private async updateConfig<T extends { webhooks?: { clientConfig: { caBundle?: string } }[] }>(
    name: string,
    caBundle: string,
    read: () => Promise<T>,
    replace: (body: T) => Promise<unknown>,
  ): Promise<number> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let obj: T;
      try {
        obj = await read();
      } catch (e) {
        if (isNotFound(e)) {
          this.o.logger.warn({ name }, 'webhook configuration not found; caBundle not patched');
          return 0;
        }
        throw e;
      }
      const hooks = obj.webhooks ?? [];
      if (hooks.every((h) => h.clientConfig.caBundle === caBundle)) return 0;
      for (const h of hooks) h.clientConfig.caBundle = caBundle;
      try {
        await replace(obj);
        this.o.logger.info({ name }, 'webhook caBundle patched');
        return 1;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
    throw new Error(`caBundle of ${name}: too many update conflicts`);
  }

  private async doReconcile(force?: 'leaf' | 'ca'): Promise<CertStatus> {
    const now = this.o.clock.now();
    let existing = await this.readSecret();
    let stored = this.decode(existing);
    let plan = planRotation(stored, now, this.o);
    if (force === 'ca' || (force === 'leaf' && plan.action === 'none')) plan = { action: force, reason: `forced ${force} rotation` };

    if (plan.action !== 'none') {
      this.o.logger.info({ action: plan.action, reason: plan.reason }, 'rotating webhook certificate');
      let ca = stored.ca;
      let bundle = stored.bundle;
      if (plan.action === 'ca' || !ca) {
        ca = await createCA(now, this.o.caTtlMs);
        const hadTrust = bundle.length > 0;
        bundle = nextBundle(ca.certPem, bundle, now);
        // Trust first, then switch: the API server must know the new CA before it sees a leaf from it.
        const changed = await this.patchCABundle(bundle);
        if (hadTrust && changed > 0 && this.served !== undefined) await this.o.sleep(this.o.propagationDelayMs);
      }
      const leaf = await issueServingCert(ca, now, this.o.certTtlMs, this.o.dnsNames, this.o.ipAddresses);
      const next = { ca, leaf, bundle };
      try {
        await this.writeSecret(existing, next);
        stored = next;
        this.rotations++;
      } catch (e) {
        if (!isConflict(e)) throw e;
        // Another replica rotated first: adopt what it stored.
        this.o.logger.info({ err: errorMessage(e) }, 'webhook cert secret changed concurrently; adopting it');
        existing = await this.readSecret();
        stored = this.decode(existing);
      }
    }
    if (!stored.ca || !stored.leaf) throw new Error('webhook certificate secret is incomplete after reconcile');
    await this.patchCABundle(stored.bundle.length ? stored.bundle : [stored.ca.certPem]);
    const leafInfo = certInfo(stored.leaf.certPem)!;
    if (this.served !== stored.leaf.certPem) {
      this.served = stored.leaf.certPem;
      this.o.onCertificate(stored.leaf, leafInfo.notAfter);
    }
    const caInfo = certInfo(stored.ca.certPem)!;
    const leafRenew = renewalTime(stored.leaf.certPem, this.o.renewBeforeFraction)!;
    const caRenew = renewalTime(stored.ca.certPem, this.o.renewBeforeFraction)!;
    this.lastStatus = {
      notAfter: leafInfo.notAfter,
      caNotAfter: caInfo.notAfter,
      nextRenewal: leafRenew < caRenew ? leafRenew : caRenew,
      lastAction: plan.action,
      rotations: this.rotations,
    };
    return this.lastStatus;
  }

  /** Re-checks every `intervalMs` (real timers; the clock decides what is due). */
  start(intervalMs = 60_000): void {
    if (this.timer) return;
    const tick = (): void => {
      this.reconcile().catch((e: unknown) => { this.o.logger.error({ err: errorMessage(e) }, 'webhook cert reconcile failed'); })
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, intervalMs).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
