// Pod volumes, materialized under <podDir>/volumes/<name>: emptyDir, secret, configMap,
// downwardAPI, hostPath and projected (serviceAccountToken via the TokenRequest API with
// audience and expiry, refreshed at 80% of its lifetime; configMap; secret; downwardAPI).
// Containers see them through bind mounts in their own mount namespace (see launch.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { V1KeyToPath, V1Pod, V1Volume, V1DownwardAPIVolumeFile } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '../../src/errors/errors.js';
import { fieldRefValue, type RefLookup } from './env.js';

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface VolumeDeps {
  lookup: RefLookup;
  requestToken(namespace: string, serviceAccount: string, pod: { name: string; uid: string }, audience: string | undefined, expirationSeconds: number): Promise<IssuedToken>;
  logger: Logger;
  /** Floor on refresh delays, so a short-lived token cannot spin the loop. */
  minRefreshMs?: number;
}

function writeAtomic(file: string, data: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** Relative item paths must stay inside the volume directory. */
function safeJoin(dir: string, rel: string): string {
  const p = path.resolve(dir, rel);
  if (!p.startsWith(path.resolve(dir) + path.sep)) throw new WeftError('WEFT_E_INVALID_INPUT', 'volume item path escapes the volume', { path: rel });
  return p;
}

function writeItems(dir: string, data: Record<string, string>, items: V1KeyToPath[] | undefined, defaultMode: number, what: string): void {
  if (items && items.length > 0) {
    for (const it of items) {
      const v = data[it.key];
      if (v === undefined) throw new WeftError('WEFT_E_NOT_FOUND', 'volume item key not found', { source: what, key: it.key });
      writeAtomic(safeJoin(dir, it.path), v, it.mode ?? defaultMode);
    }
    return;
  }
  for (const [k, v] of Object.entries(data)) writeAtomic(safeJoin(dir, k), v, defaultMode);
}

export class PodVolumes {
  private readonly pod: V1Pod;
  private readonly root: string;
  private readonly deps: VolumeDeps;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly hostPaths = new Map<string, string>();
  private stopped = false;
  /** Counts token (re)writes, for status and tests. */
  tokenWrites = 0;

  constructor(pod: V1Pod, podDir: string, private readonly podIP: string, private readonly hostIP: string, deps: VolumeDeps) {
    this.pod = pod;
    this.root = path.join(podDir, 'volumes');
    this.deps = deps;
  }

  /** Where a volume lives on the host (the bind-mount source). */
  sourceOf(name: string): string {
    const p = this.hostPaths.get(name);
    if (!p) throw new WeftError('WEFT_E_NOT_FOUND', 'volumeMount refers to an unknown volume', { volume: name });
    return p;
  }

  async setup(): Promise<void> {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
    for (const v of this.pod.spec?.volumes ?? []) await this.setupOne(v);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async setupOne(v: V1Volume): Promise<void> {
    const ns = this.pod.metadata?.namespace ?? 'default';
    if (v.hostPath) {
      this.hostPaths.set(v.name, v.hostPath.path);
      return;
    }
    const dir = path.join(this.root, v.name);
    fs.mkdirSync(dir, { recursive: true });
    this.hostPaths.set(v.name, dir);
    if (v.emptyDir) {
      fs.chmodSync(dir, 0o777); // any runAsUser may write, as with a real emptyDir
      return;
    }
    fs.chmodSync(dir, 0o755);
    if (v.secret) {
      const data = await this.deps.lookup.secret(ns, v.secret.secretName ?? '');
      if (!data) {
        if (v.secret.optional) return;
        throw new WeftError('WEFT_E_NOT_FOUND', 'secret volume source not found', { volume: v.name, secret: v.secret.secretName });
      }
      writeItems(dir, data, v.secret.items, v.secret.defaultMode ?? 0o644, `secret/${v.secret.secretName}`);
      return;
    }
    if (v.configMap) {
      const data = await this.deps.lookup.configMap(ns, v.configMap.name ?? '');
      if (!data) {
        if (v.configMap.optional) return;
        throw new WeftError('WEFT_E_NOT_FOUND', 'configMap volume source not found', { volume: v.name, configMap: v.configMap.name });
      }
      writeItems(dir, data, v.configMap.items, v.configMap.defaultMode ?? 0o644, `configmap/${v.configMap.name}`);
      return;
    }
    if (v.downwardAPI) {
      this.writeDownward(dir, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644);
      return;
    }
    if (v.projected) {
      const mode = v.projected.defaultMode ?? 0o644;
      for (const src of v.projected.sources ?? []) {
        if (src.serviceAccountToken) {
          const t = src.serviceAccountToken;
          await this.writeToken(path.join(dir, t.path), t.audience, t.expirationSeconds ?? 3600, mode);
        } else if (src.configMap) {
          const data = await this.deps.lookup.configMap(ns, src.configMap.name ?? '');
          if (!data) {
            if (src.configMap.optional) continue;
            throw new WeftError('WEFT_E_NOT_FOUND', 'projected configMap not found', { volume: v.name, configMap: src.configMap.name });
          }
          writeItems(dir, data, src.configMap.items, mode, `configmap/${src.configMap.name}`);
        } else if (src.secret) {
          const data = await this.deps.lookup.secret(ns, src.secret.name ?? '');
          if (!data) {
            if (src.secret.optional) continue;
            throw new WeftError('WEFT_E_NOT_FOUND', 'projected secret not found', { volume: v.name, secret: src.secret.name });
          }
          writeItems(dir, data, src.secret.items, mode, `secret/${src.secret.name}`);
        } else if (src.downwardAPI) {
          this.writeDownward(dir, src.downwardAPI.items ?? [], mode);
        }
      }
      return;
    }
    throw new WeftError('WEFT_E_INVALID_INPUT', 'volume type not supported by the process kubelet', { volume: v.name });
  }

  private writeDownward(dir: string, items: V1DownwardAPIVolumeFile[], mode: number): void {
    for (const it of items) {
      const value = it.fieldRef ? fieldRefValue(this.pod, it.fieldRef.fieldPath, this.podIP, this.hostIP) : '0';
      writeAtomic(safeJoin(dir, it.path), value, it.mode ?? mode);
    }
  }

  /** Writes one projected token and schedules its refresh at 80% of its lifetime. */
  private async writeToken(file: string, audience: string | undefined, expirationSeconds: number, mode: number): Promise<void> {
    const md = this.pod.metadata ?? {};
    const sa = this.pod.spec?.serviceAccountName ?? 'default';
    const issued = await this.deps.requestToken(md.namespace ?? 'default', sa, { name: md.name ?? '', uid: md.uid ?? '' }, audience, expirationSeconds);
    writeAtomic(file, issued.token, mode);
    this.tokenWrites++;
    const lifetime = issued.expiresAt.getTime() - Date.now();
    const delay = Math.max(this.deps.minRefreshMs ?? 5_000, Math.floor(lifetime * 0.8));
    this.schedule(delay, async () => {
      try {
        await this.writeToken(file, audience, expirationSeconds, mode);
        this.deps.logger.debug({ file }, 'projected token refreshed');
      } catch (e) {
        this.deps.logger.warn({ file, err: errorMessage(e) }, 'projected token refresh failed; retrying');
        this.schedule(10_000, () => this.writeToken(file, audience, expirationSeconds, mode));
      }
    });
  }

  private schedule(ms: number, fn: () => Promise<void>): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn().catch((e: unknown) => this.deps.logger.warn({ err: errorMessage(e) }, 'volume refresh failed'));
    }, ms);
    t.unref();
    this.timers.add(t);
  }
}
