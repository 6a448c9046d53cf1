// Pure check logic for `weftctl check`: each function turns facts read from the cluster into
// a CheckResult (pass/warn/fail/skip with a hint). No I/O; `now` is a parameter.
import { X509Certificate } from 'node:crypto';
import { parseVersion, versionSkew, type MeshConfig } from '../../api/meshconfig.js';
import type { Paint } from '../io.js';
import { humanDuration } from '../output.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  category: string;
  name: string;
  status: CheckStatus;
  message: string;
  hint?: string;
}

export const MIN_KUBERNETES = Object.freeze({ major: 1, minor: 29 }); // native sidecars on by default
export const CERT_WARN_DAYS = 30;
const DAY_MS = 86_400_000;

function r(category: string, name: string, status: CheckStatus, message: string, hint?: string): CheckResult {
  return { category, name, status, message, ...(hint ? { hint } : {}) };
}

export function kubernetesVersionCheck(gitVersion: string | undefined, min = MIN_KUBERNETES): CheckResult {
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion ?? '');
  if (!m) return r('kubernetes', 'version', 'warn', `cannot parse the server version "${gitVersion ?? ''}"`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const ok = major > min.major || (major === min.major && minor >= min.minor);
  return ok
    ? r('kubernetes', 'version', 'pass', `Kubernetes ${gitVersion} is at least ${min.major}.${min.minor}`)
    : r('kubernetes', 'version', 'fail', `Kubernetes ${gitVersion} is older than ${min.major}.${min.minor}`, `upgrade the cluster to ${min.major}.${min.minor} or later (Weft relies on native sidecar containers)`);
}

export interface CrdFact {
  name: string;
  established: boolean;
}

export function crdsCheck(required: readonly string[], present: readonly CrdFact[]): CheckResult[] {
  return required.map((name) => {
    const f = present.find((p) => p.name === name);
    if (!f) return r('crds', name, 'fail', `CRD ${name} is not installed`, 'run `weftctl install` (or kubectl apply -f manifests/crds/)');
    if (!f.established) return r('crds', name, 'fail', `CRD ${name} exists but is not Established`, `kubectl describe crd ${name}`);
    return r('crds', name, 'pass', `CRD ${name} is installed`);
  });
}

export interface CertFacts {
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/** Parses every certificate in a PEM bundle. Throws on bad input. */
export function parsePemBundle(pem: string): CertFacts[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate found');
  return blocks.map((b) => {
    const c = new X509Certificate(b);
    return { subject: c.subject.replace(/\n/g, ','), notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
  });
}

/** Validity window of one certificate (bundle) against now: fail if expired/not yet valid, warn under 30 days. */
export function certificateCheck(category: string, name: string, pem: string | undefined, now: Date, warnDays = CERT_WARN_DAYS): CheckResult {
  if (!pem) return r(category, name, 'fail', `${name}: no certificate`, 'the issuer (operator/CA) has not written it yet; check its logs');
  let certs: CertFacts[];
  try {
    certs = parsePemBundle(pem);
  } catch (e) {
    return r(category, name, 'fail', `${name}: not a valid PEM certificate (${(e as Error).message})`, 'replace it with a PEM-encoded X.509 certificate');
  }
  let worst: CheckResult | undefined;
  for (const c of certs) {
    const left = c.notAfter.getTime() - now.getTime();
    if (now < c.notBefore) return r(category, name, 'fail', `${name}: ${c.subject} is not valid until ${c.notBefore.toISOString()}`, 'check the clocks of the issuer and this machine');
    if (left <= 0) return r(category, name, 'fail', `${name}: ${c.subject} expired ${c.notAfter.toISOString()}`, 'rotate it: restart the operator, or delete the secret so it is re-issued');
    if (left < warnDays * DAY_MS) {
      worst = r(category, name, 'warn', `${name}: ${c.subject} expires in ${humanDuration(left)} (${c.notAfter.toISOString()})`, `rotate before it expires; warnings start ${warnDays} days ahead`);
    }
  }
  const soonest = Math.min(...certs.map((c) => c.notAfter.getTime()));
  return worst ?? r(category, name, 'pass', `${name}: valid, expires in ${humanDuration(soonest - now.getTime())}`);
}

/** caBundle of one webhook: present, decodes from base64, parses, in its validity window. */
export function caBundleCheck(webhook: string, caBundleB64: string | undefined, now: Date): CheckResult {
  if (!caBundleB64) return r('webhooks', `${webhook} caBundle`, 'fail', `${webhook}: caBundle is empty, so the API server cannot verify the webhook`, 'the operator fills it in; check that the operator is running');
  const pem = Buffer.from(caBundleB64, 'base64').toString('utf8');
  const res = certificateCheck('webhooks', `${webhook} caBundle`, pem, now);
  return res.status === 'fail' && !pem.includes('BEGIN CERTIFICATE')
    ? { ...res, message: `${webhook}: caBundle is not a base64 PEM certificate`, hint: 'set clientConfig.caBundle to the base64 of the serving CA PEM (the operator does this)' }
    : res;
}

export interface WebhookProbe {
  webhook: string;
  /** undefined = not probed (reason in `skipped`). */
  error?: string;
  skipped?: string;
  url?: string;
}

export function webhookReachabilityCheck(p: WebhookProbe): CheckResult {
  const name = `${p.webhook} reachable`;
  if (p.skipped) return r('webhooks', name, 'skip', `${p.webhook}: ${p.skipped}`);
  if (p.error) {
    const tls = /certificate|self.signed|verify|SSL|TLS|altname/i.test(p.error);
    return r('webhooks', name, 'fail', `${p.webhook}: ${p.url ?? ''} ${tls ? 'TLS verification failed' : 'is not reachable'}: ${p.error}`,
      tls ? 'the caBundle does not match the serving certificate: let the operator re-sync it, or restart the operator' : 'is the operator (webhook server) running and listening on that address?');
  }
  return r('webhooks', name, 'pass', `${p.webhook}: ${p.url ?? ''} answers TLS verified by its caBundle`);
}

export interface ProxyVersionFact {
  pod: string;
  version: string;
}

export function versionSkewCheck(controlPlane: string | undefined, proxies: readonly ProxyVersionFact[], maxSkew: number): CheckResult {
  if (!controlPlane) return r('data-plane', 'version skew', 'skip', 'no control plane version known (no MeshConfig)');
  if (proxies.length === 0) return r('data-plane', 'version skew', 'pass', `no proxies yet; control plane ${controlPlane}`);
  const bad = proxies.filter((p) => {
    const s = versionSkew(p.version, controlPlane);
    return !Number.isFinite(s) || s > maxSkew;
  });
  const behind = proxies.filter((p) => p.version !== controlPlane && parseVersion(p.version) !== undefined);
  if (bad.length > 0) {
    return r('data-plane', 'version skew', 'fail',
      `${bad.length} proxy(ies) are more than ${maxSkew} minor version(s) from control plane ${controlPlane}: ${list(bad.map((b) => `${b.pod}@${b.version}`))}`,
      'restart those workloads (kubectl rollout restart) so they get the current proxy');
  }
  if (behind.length > 0) {
    return r('data-plane', 'version skew', 'warn', `${behind.length} of ${proxies.length} proxies run another version than control plane ${controlPlane} (within the allowed skew of ${maxSkew})`,
      'restart the workloads to pick up the current proxy when convenient');
  }
  return r('data-plane', 'version skew', 'pass', `all ${proxies.length} proxies run ${controlPlane}`);
}

export function uninjectedPodsCheck(pods: readonly string[]): CheckResult {
  if (pods.length === 0) return r('data-plane', 'injection', 'pass', 'every pod in injection-enabled namespaces has a sidecar');
  return r('data-plane', 'injection', 'warn', `${pods.length} pod(s) in injection-enabled namespaces have no sidecar: ${list([...pods])}`,
    'they were created before injection was enabled or while the webhook was down: kubectl rollout restart their workloads');
}

/** PENDING: sent moments ago and not ACKed yet (within the grace), so not a warning. */
export type SyncState = 'SYNCED' | 'STALE' | 'NACK' | 'NOT SENT' | 'PENDING';

export interface ProxySync {
  proxy: string;
  version?: string;
  /** Per xDS type (CDS, LDS, EDS, RDS, SDS): state. */
  types: Record<string, SyncState>;
  error?: string;
}

const typesIn = (s: ProxySync, state: SyncState): string[] => Object.entries(s.types).filter(([, v]) => v === state).map(([k]) => k);

export function proxySyncCheck(source: string, syncs: readonly ProxySync[] | undefined): CheckResult {
  if (syncs === undefined) return r('data-plane', 'config sync', 'skip', `proxy sync status not available (${source})`);
  const nacked = syncs.filter((s) => typesIn(s, 'NACK').length > 0);
  const stale = syncs.filter((s) => typesIn(s, 'STALE').length > 0);
  const pending = syncs.filter((s) => typesIn(s, 'PENDING').length > 0);
  if (nacked.length > 0) {
    return r('data-plane', 'config sync', 'fail', `${nacked.length} proxy(ies) rejected (NACKed) config: ${list(nacked.map((n) => `${n.proxy} [${typesIn(n, 'NACK').join(',')}]${n.error ? ` (${n.error})` : ''}`))}`,
      'run `weftctl proxy-status` and `weftctl analyze` to find the bad config');
  }
  if (stale.length > 0) {
    return r('data-plane', 'config sync', 'warn', `${stale.length} proxy(ies) have not ACKed the latest config: ${list(stale.map((s) => `${s.proxy} [${typesIn(s, 'STALE').join(',')}]`))}`,
      'they may be overloaded or disconnected; check `weftctl proxy-status`');
  }
  return r('data-plane', 'config sync', 'pass', `${syncs.length} proxies ACKed the latest config${pending.length ? ` (${pending.length} still receiving a new push)` : ''}`);
}

function list(xs: string[], max = 5): string {
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`;
}

const ICON: Record<CheckStatus, { icon: string; color: 'green' | 'yellow' | 'red' | 'gray' }> = {
  pass: { icon: '√', color: 'green' },
  warn: { icon: '‼', color: 'yellow' },
  fail: { icon: '×', color: 'red' },
  skip: { icon: '-', color: 'gray' },
};

/** linkerd-check-style report grouped by category. Pure. */
/** The MeshConfig's own CA verdicts: expiring certificates and a stuck or unreadable root rotation warn (never fail). Pure. */
export function meshCaChecks(mc: MeshConfig): CheckResult[] {
  const out: CheckResult[] = [];
  const name = mc.metadata.name;
  const expiring = mc.status?.conditions?.find((c) => c.type === 'CertificatesExpiringSoon');
  if (expiring?.status === 'True') out.push(r('certificates', 'ca expiry', 'warn', `MeshConfig ${name}: ${expiring.message}`, `kubectl describe meshconfig ${name}`));
  else if (expiring?.status === 'False') out.push(r('certificates', 'ca expiry', 'pass', `MeshConfig ${name}: CA certificates are not expiring soon`));
  const rot = mc.status?.rootRotation;
  const rotCond = mc.status?.conditions?.find((c) => c.type === 'RootRotation');
  if (rotCond?.reason === 'RotationStateInvalid') {
    out.push(r('certificates', 'root rotation', 'warn', `MeshConfig ${name}: ${rotCond.message}`, 'see the control plane logs (its rotation driver writes that annotation)'));
  } else if (rot?.stuck) {
    const lag = rot.lagging?.length ? `; lagging: ${rot.lagging.join(', ')}` : '';
    out.push(r('certificates', 'root rotation', 'warn',
      `MeshConfig ${name}: root rotation stuck in stage ${rot.stage ?? '?'} since ${rot.since ?? '?'} (${rot.proxies?.current ?? 0}/${rot.proxies?.total ?? 0} proxies at this stage${lag})`,
      'the lagging proxies have not taken the new trust bundle or certificate: see `weftctl proxy-status` and their logs, or restart them'));
  } else if (rot?.stage && rot.stage !== 'idle') {
    out.push(r('certificates', 'root rotation', 'pass', `MeshConfig ${name}: root rotation in stage ${rot.stage} (${rot.proxies?.current ?? 0}/${rot.proxies?.total ?? 0} proxies at this stage)`));
  }
  return out;
}

export function formatChecks(results: readonly CheckResult[], paint: Paint): string {
  const out: string[] = [];
  const cats = [...new Set(results.map((x) => x.category))];
  for (const cat of cats) {
    out.push(cat, '-'.repeat(cat.length));
    for (const x of results.filter((y) => y.category === cat)) {
      const i = ICON[x.status];
      out.push(`${paint(i.color, i.icon)} ${x.message}`);
      if (x.hint && (x.status === 'warn' || x.status === 'fail')) out.push(`    hint: ${x.hint}`);
    }
    out.push('');
  }
  const c = summarize(results);
  out.push(c.fail > 0
    ? paint('red', `Status check results are × (${c.fail} failed, ${c.warn} warnings, ${c.pass} passed)`)
    : paint('green', `Status check results are √ (${c.warn} warnings, ${c.pass} passed${c.skip ? `, ${c.skip} skipped` : ''})`));
  return out.join('\n') + '\n';
}

export function summarize(results: readonly CheckResult[]): Record<CheckStatus, number> {
  const c: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const x of results) c[x.status]++;
  return c;
}
