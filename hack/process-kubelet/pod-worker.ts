// One pod's lifecycle on the process kubelet: network namespace, volumes, init containers in
// order, native sidecars, app containers, probes, restarts with backoff, status reporting and
// graceful termination (apps first, then sidecars in reverse order).
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { V1Container, V1ContainerState, V1ContainerStatus, V1LifecycleHandler, V1Pod, V1PodCondition, V1Probe } from '@kubernetes/client-node';
import type { KubeRest } from '../../src/kube/apply.js';
import { isNotFound } from '../../src/kube/apply.js';
import { errorMessage } from '../../src/errors/errors.js';
import { containerArgv, resolveImage, type ImageContext, type ResolvedImage, type UnknownImage } from './images.js';
import { expandVars, resolveEnv, type RefLookup } from './env.js';
import type { Ipam } from './ipam.js';
import { createPodNetwork, deletePodNetwork, podNetNames, type NetConfig, type PodNetwork } from './netns.js';
import { PodVolumes, type VolumeDeps } from './volumes.js';
import { CREATED_PATHS_FILE, launch, signalGroup, type MountSpec } from './launch.js';
import { Prober, runProbe } from './probes.js';

export interface PodWorkerDeps {
  rest: KubeRest;
  logger: Logger;
  nodeName: string;
  nodeIP: string;
  ipam: Ipam;
  net: NetConfig;
  stateRoot: string;
  images: ImageContext;
  lookup: RefLookup;
  requestToken: VolumeDeps['requestToken'];
  /** Env every container starts with (PATH, KUBERNETES_SERVICE_HOST/PORT). */
  baseEnv: Record<string, string>;
  /** resolv.conf nameservers unless the pod's dnsConfig names its own. */
  nameservers: string[];
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Called when the worker has fully finished (pod deleted and resources gone). */
  onGone(uid: string): void;
}

type Kind = 'init' | 'sidecar' | 'app';

interface Terminated {
  exitCode: number;
  signal?: string;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

interface ContainerRuntime {
  spec: V1Container;
  kind: Kind;
  image: ResolvedImage | UnknownImage;
  proc?: ChildProcess;
  pid?: number;
  containerID?: string;
  runningSince?: string;
  terminated?: Terminated;
  lastTerminated?: Terminated;
  waiting?: { reason: string; message?: string };
  restartCount: number;
  ready: boolean;
  started: boolean;
  probers: Prober[];
  exitWaiters: Array<(code: number) => void>;
  startWaiters: Array<() => void>;
  backoff?: NodeJS.Timeout;
  env: Record<string, string>;
  /** No more restarts: the container finished for good (or the pod is ending). */
  done: boolean;
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class PodWorker {
  pod: V1Pod;
  readonly uid: string;
  private readonly deps: PodWorkerDeps;
  private readonly log: Logger;
  private readonly containers: ContainerRuntime[] = [];
  private net: PodNetwork | undefined;
  private volumes: PodVolumes | undefined;
  private readonly podDir: string;
  private phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  private podReason: string | undefined;
  private podMessage: string | undefined;
  private readonly startTime = nowIso();
  private initialized = false;
  private sandboxReady = false;
  private terminating: Promise<void> | undefined;
  /** Sandbox setup in progress: termination waits for it so nothing is created after cleanup. */
  private sandbox: Promise<boolean> | undefined;
  private readonly conditionTimes = new Map<string, { status: string; time: string }>();
  private statusTimer: NodeJS.Timeout | undefined;
  private statusInFlight: Promise<void> | undefined;
  private statusDirty = false;
  private gone = false;

  constructor(pod: V1Pod, deps: PodWorkerDeps) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.deps = deps;
    this.log = deps.logger.child({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` });
    this.podDir = path.join(deps.stateRoot, 'pods', this.uid);
    for (const c of pod.spec?.initContainers ?? []) this.containers.push(this.newRuntime(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init'));
    for (const c of pod.spec?.containers ?? []) this.containers.push(this.newRuntime(c, 'app'));
  }

  get podIP(): string | undefined {
    return this.net?.ip;
  }

  get netns(): string {
    return podNetNames(this.uid).netns;
  }

  private newRuntime(spec: V1Container, kind: Kind): ContainerRuntime {
    return {
      spec,
      kind,
      image: resolveImage(spec.image ?? '', this.deps.images),
      restartCount: 0,
      ready: false,
      started: false,
      probers: [],
      exitWaiters: [],
      startWaiters: [],
      env: {},
      done: false,
      waiting: { reason: 'PodInitializing' },
    };
  }

  /** Latest pod object from the watch; starts termination when deletion is requested. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      void this.terminate(grace, true);
    }
  }

  start(): void {
    void this.run().catch((e: unknown) => this.log.error({ err: errorMessage(e) }, 'pod worker crashed'));
  }

  private async run(): Promise<void> {
    this.log.info({ uid: this.uid }, 'pod accepted');
    this.sandbox = this.setupSandbox();
    if (!(await this.sandbox)) return;
    await this.runContainers();
  }

  /** Network, pod /etc files and volumes; false (with the reason in status) on failure. */
  private async setupSandbox(): Promise<boolean> {
    try {
      const ip = this.deps.ipam.allocate(this.uid);
      fs.mkdirSync(path.join(this.podDir, 'logs'), { recursive: true, mode: 0o755 });
      const ns = this.pod.metadata?.namespace ?? 'default';
      const dnsConfig = this.pod.spec?.dnsConfig;
      this.net = await createPodNetwork(this.uid, ip, this.deps.net, {
        hostname: this.pod.spec?.hostname ?? this.pod.metadata?.name ?? 'pod',
        nameservers: dnsConfig?.nameservers?.length ? dnsConfig.nameservers : this.deps.nameservers,
        searches: [...(dnsConfig?.searches ?? []), `${ns}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'],
        options: (dnsConfig?.options ?? []).map((o) => (o.value ? `${o.name}:${o.value}` : o.name ?? '')).filter(Boolean).concat(dnsConfig?.options?.some((o) => o.name === 'ndots') ? [] : ['ndots:5']),
      });
      this.log.info({ ip, netns: this.net.netns }, 'pod sandbox ready');
    } catch (e) {
      this.podReason = 'SandboxSetupFailed';
      this.podMessage = errorMessage(e) + detailText(e);
      this.log.error({ err: this.podMessage }, 'pod sandbox setup failed');
      this.scheduleStatus();
      return false;
    }
    // Volumes may wait on objects that appear a little later (kube-root-ca.crt in a fresh
    // namespace, a Secret created after the pod): retry, as the kubelet does, until deleted.
    for (let attempt = 0; !this.terminating; attempt++) {
      try {
        this.volumes?.stop();
        this.volumes = new PodVolumes(this.pod, this.podDir, this.net.ip, this.deps.nodeIP, { lookup: this.deps.lookup, requestToken: this.deps.requestToken, logger: this.log });
        await this.volumes.setup();
        this.sandboxReady = true;
        if (this.podReason === 'FailedMount') {
          this.podReason = undefined;
          this.podMessage = undefined;
        }
        return true;
      } catch (e) {
        this.podReason = 'FailedMount';
        this.podMessage = errorMessage(e) + detailText(e);
        if (attempt === 0) this.log.warn({ err: this.podMessage }, 'pod volume setup failed; retrying');
        this.scheduleStatus();
        await new Promise((r) => setTimeout(r, Math.min(this.deps.backoffMaxMs, 1_000 * 2 ** Math.min(attempt, 4))));
      }
    }
    return false;
  }

  private async runContainers(): Promise<void> {
    if (this.terminating) return;
    // Unknown images: the container waits with ErrImagePull and the pod does not start.
    let badImage = false;
    for (const c of this.containers) {
      if (!c.image.ok) {
        c.waiting = { reason: c.image.reason, message: c.image.message };
        badImage = true;
      }
    }
    if (badImage) {
      this.podReason = 'ErrImagePull';
      this.podMessage = this.containers.map((c) => c.image).filter((i): i is UnknownImage => !i.ok).map((i) => i.message).join('; ');
      this.scheduleStatus();
      return;
    }
    this.scheduleStatus();
    for (const c of this.containers.filter((x) => x.kind !== 'app')) {
      if (this.terminating) return;
      if (c.kind === 'sidecar') {
        await this.startContainer(c);
        await this.waitStarted(c);
        continue;
      }
      for (;;) {
        const code = await this.runToCompletion(c);
        if (this.terminating) return;
        if (code === 0) break;
        if ((this.pod.spec?.restartPolicy ?? 'Always') === 'Never') {
          this.phase = 'Failed';
          this.podReason = 'InitContainerFailed';
          this.podMessage = `init container ${c.spec.name} exited with code ${code}`;
          c.done = true;
          await this.stopContainers(this.containers.filter((x) => x.kind === 'sidecar').reverse(), 5_000);
          this.scheduleStatus();
          return;
        }
        await this.backoffWait(c);
        if (this.terminating) return;
      }
    }
    this.initialized = true;
    this.phase = 'Running';
    for (const c of this.containers.filter((x) => x.kind === 'app')) await this.startContainer(c);
    this.scheduleStatus();
  }

  private async runToCompletion(c: ContainerRuntime): Promise<number> {
    const exited = new Promise<number>((resolve) => c.exitWaiters.push(resolve));
    await this.startContainer(c);
    return await exited;
  }

  private async waitStarted(c: ContainerRuntime): Promise<void> {
    if (c.started || c.done) return;
    await new Promise<void>((resolve) => c.startWaiters.push(resolve));
  }

  private async backoffWait(c: ContainerRuntime): Promise<void> {
    const delay = Math.min(this.deps.backoffMaxMs, this.deps.backoffBaseMs * 2 ** Math.max(0, c.restartCount - 1));
    c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})` };
    this.scheduleStatus();
    await new Promise<void>((resolve) => {
      c.backoff = setTimeout(resolve, delay);
    });
    c.backoff = undefined;
  }

  private runAs(c: V1Container): { runAsUser?: number; runAsGroup?: number } {
    const psc = this.pod.spec?.securityContext;
    const csc = c.securityContext;
    const u = csc?.runAsUser ?? psc?.runAsUser;
    const g = csc?.runAsGroup ?? psc?.runAsGroup;
    return { ...(u !== undefined ? { runAsUser: u } : {}), ...(g !== undefined ? { runAsGroup: g } : {}) };
  }

  private async startContainer(c: ContainerRuntime): Promise<void> {
    if (!c.image.ok || !this.net || !this.volumes) return;
    const img = c.image;
    try {
      c.env = await resolveEnv(c.spec, {
        pod: this.pod,
        podIP: this.net.ip,
        hostIP: this.deps.nodeIP,
        lookup: this.deps.lookup,
        base: { ...this.deps.baseEnv, HOSTNAME: this.pod.spec?.hostname ?? this.pod.metadata?.name ?? '' },
      });
    } catch (e) {
      c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(e) + detailText(e) };
      this.scheduleStatus();
      // Retry later: the referenced secret/configMap may appear.
      await new Promise((r) => setTimeout(r, Math.min(this.deps.backoffMaxMs, 5_000)));
      if (!this.terminating) await this.startContainer(c);
      return;
    }
    const argv = containerArgv(img, c.spec.command?.map((a) => expandVars(a, c.env)), c.spec.args?.map((a) => expandVars(a, c.env)));
    const mounts: MountSpec[] = [];
    try {
      for (const m of c.spec.volumeMounts ?? []) {
        const src = path.join(this.volumes.sourceOf(m.name), m.subPath ?? '');
        const isFile = fs.existsSync(src) && !fs.statSync(src).isDirectory();
        if (!fs.existsSync(src)) fs.mkdirSync(src, { recursive: true, mode: 0o777 });
        mounts.push({ source: src, target: m.mountPath, readOnly: m.readOnly ?? false, isFile });
      }
    } catch (e) {
      c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(e) + detailText(e) };
      c.done = true;
      this.scheduleStatus();
      c.exitWaiters.splice(0).forEach((w) => w(1));
      return;
    }
    if (this.terminating) return; // deletion began while env/mounts were resolved
    const logFile = path.join(this.podDir, 'logs', `${c.spec.name}.log`);
    fs.appendFileSync(logFile, `--- process kubelet: start #${c.restartCount} ${new Date().toISOString()} argv=${JSON.stringify(argv)}\n`);
    const proc = launch({ netns: this.net.netns, recordFile: path.join(this.deps.stateRoot, CREATED_PATHS_FILE), mounts, workingDir: c.spec.workingDir ?? img.workingDir, ...this.runAs(c.spec), argv, env: c.env }, logFile);
    c.proc = proc;
    c.pid = proc.pid;
    c.containerID = `process://${this.uid.slice(0, 8)}-${c.spec.name}-${c.restartCount}-${proc.pid ?? 0}`;
    c.runningSince = nowIso();
    c.waiting = undefined;
    c.terminated = undefined;
    c.ready = false;
    c.started = false;
    const startedAt = c.runningSince;
    const containerID = c.containerID;
    proc.on('error', (e) => this.log.error({ container: c.spec.name, err: e.message }, 'container spawn failed'));
    proc.on('exit', (code, signal) => this.onExit(c, proc, code, signal, startedAt, containerID));
    // Probes and hooks act on the container's namespaces: wait until the launcher has exec'd
    // the command (before that, the PID is still `ip`/`unshare` in the host's mount namespace).
    await waitForExec(proc.pid, argv, 5_000);
    if (c.proc !== proc) return;
    this.log.info({ container: c.spec.name, kind: c.kind, pid: proc.pid, restart: c.restartCount }, 'container started');
    this.startProbes(c);
    this.scheduleStatus();
    const postStart = c.spec.lifecycle?.postStart;
    if (postStart) {
      // Like the kubelet: the next container waits for postStart; a failure kills this one.
      const r = await this.runHook(c, postStart, 30_000);
      if (!r.ok && c.proc === proc) {
        this.log.warn({ container: c.spec.name, err: r.message }, 'postStart hook failed; killing container');
        signalGroup(c.pid, 'SIGKILL');
      }
    }
  }

  /** Runs a lifecycle handler (exec / httpGet / tcpSocket / sleep) against a container. */
  private async runHook(c: ContainerRuntime, h: V1LifecycleHandler, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
    if (h.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, h.sleep!.seconds * 1000)));
      return { ok: true, message: '' };
    }
    const probe: V1Probe = { ...(h.exec ? { exec: h.exec } : {}), ...(h.httpGet ? { httpGet: h.httpGet } : {}), ...(h.tcpSocket ? { tcpSocket: h.tcpSocket } : {}), timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)) };
    return await runProbe(probe, { podIP: this.net?.ip ?? '', netns: this.net?.netns ?? '', pid: c.pid, ports: c.spec.ports ?? [], env: c.env });
  }

  private startProbes(c: ContainerRuntime): void {
    const target = (): { podIP: string; netns: string; pid: number | undefined; ports: NonNullable<V1Container['ports']>; env: Record<string, string> } => ({
      podIP: this.net?.ip ?? '',
      netns: this.net?.netns ?? '',
      pid: c.pid,
      ports: c.spec.ports ?? [],
      env: c.env,
    });
    const startRest = (): void => {
      c.started = true;
      c.startWaiters.splice(0).forEach((w) => w());
      const rp = c.spec.readinessProbe;
      if (c.kind !== 'init') {
        if (rp) this.addProber(c, rp, target, (ok) => this.setReady(c, ok));
        else this.setReady(c, true);
      }
      const lp = c.spec.livenessProbe;
      if (lp && c.kind !== 'init') {
        this.addProber(c, lp, target, (ok, msg) => {
          if (!ok) this.restartUnhealthy(c, `Liveness probe failed: ${msg}`);
        });
      }
      this.scheduleStatus();
    };
    const sp = c.spec.startupProbe;
    if (sp && c.kind !== 'init') {
      this.addProber(c, sp, target, (ok, msg) => {
        if (ok) {
          c.probers.forEach((p) => p.stop());
          c.probers = [];
          startRest();
        } else this.restartUnhealthy(c, `Startup probe failed: ${msg}`);
      });
    } else startRest();
  }

  private addProber(c: ContainerRuntime, probe: V1Probe, target: () => { podIP: string; netns: string; pid: number | undefined; ports: NonNullable<V1Container['ports']>; env: Record<string, string> }, cb: (ok: boolean, msg: string) => void): void {
    const p = new Prober(probe, target, cb);
    c.probers.push(p);
    p.start();
  }

  private setReady(c: ContainerRuntime, ok: boolean): void {
    if (c.ready === ok) return;
    c.ready = ok;
    this.log.info({ container: c.spec.name, ready: ok }, 'container readiness changed');
    this.scheduleStatus();
  }

  private restartUnhealthy(c: ContainerRuntime, message: string): void {
    this.log.info({ container: c.spec.name, message }, 'container unhealthy; killing it');
    signalGroup(c.pid, 'SIGTERM');
    const pid = c.pid;
    setTimeout(() => {
      if (c.pid === pid) signalGroup(pid, 'SIGKILL');
    }, (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000).unref();
  }

  private onExit(c: ContainerRuntime, proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null, startedAt: string, containerID: string): void {
    if (c.proc !== proc) return;
    c.probers.forEach((p) => p.stop());
    c.probers = [];
    const exitCode = code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 1);
    const term: Terminated = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: nowIso(),
      containerID,
      ...(signal ? { signal } : {}),
    };
    c.proc = undefined;
    c.pid = undefined;
    c.ready = false;
    c.lastTerminated = c.terminated ?? c.lastTerminated;
    c.terminated = term;
    c.runningSince = undefined;
    this.log.info({ container: c.spec.name, exitCode, signal }, 'container exited');
    c.exitWaiters.splice(0).forEach((w) => w(exitCode));
    c.startWaiters.splice(0).forEach((w) => w());
    this.scheduleStatus();
    if (this.terminating || c.done) return;
    if (c.kind === 'init') {
      if (exitCode === 0) c.done = true;
      else c.restartCount++;
      return; // run() drives init containers
    }
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const restart = c.kind === 'sidecar' || policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart && this.phase !== 'Succeeded' && this.phase !== 'Failed') {
      c.restartCount++;
      void this.backoffWait(c).then(() => {
        if (!this.terminating && !c.done) {
          c.lastTerminated = c.terminated;
          c.terminated = undefined;
          return this.startContainer(c);
        }
        return undefined;
      });
      return;
    }
    c.done = true;
    const apps = this.containers.filter((x) => x.kind === 'app');
    if (apps.every((a) => a.done)) void this.finishPod(apps);
  }

  /** All app containers finished for good: stop sidecars, settle the phase. */
  private async finishPod(apps: ContainerRuntime[]): Promise<void> {
    await this.stopContainers(this.containers.filter((x) => x.kind === 'sidecar').reverse(), (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
    this.phase = apps.every((a) => a.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    this.scheduleStatus();
  }

  /** SIGTERM the given containers together, SIGKILL whatever is left at the deadline. */
  private async stopContainers(list: ContainerRuntime[], graceMs: number): Promise<void> {
    const live = list.filter((c) => c.proc);
    for (const c of list) {
      c.done = true;
      if (c.backoff) clearTimeout(c.backoff);
      c.probers.forEach((p) => p.stop());
      c.probers = [];
    }
    if (live.length === 0) return;
    const hookDeadline = Date.now() + Math.max(0, graceMs);
    await Promise.all(
      live.map(async (c) => {
        const preStop = c.spec.lifecycle?.preStop;
        if (preStop && c.proc) {
          const r = await this.runHook(c, preStop, Math.max(1_000, hookDeadline - Date.now()));
          if (!r.ok) this.log.warn({ container: c.spec.name, err: r.message }, 'preStop hook failed');
        }
      }),
    );
    graceMs = Math.max(0, hookDeadline - Date.now());
    const exits = live.map((c) => new Promise<void>((resolve) => (c.proc ? c.exitWaiters.push(() => resolve()) : resolve())));
    for (const c of live) signalGroup(c.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, graceMs));
    });
    const r = await Promise.race([Promise.all(exits).then(() => 'exited' as const), deadline]);
    if (timer) clearTimeout(timer);
    if (r === 'timeout') {
      for (const c of live) if (c.proc) signalGroup(c.pid, 'SIGKILL');
      await Promise.race([Promise.all(exits), new Promise((res) => setTimeout(res, 2_000))]);
    }
  }

  /**
   * Stops the pod: apps first (SIGTERM, grace, SIGKILL), then sidecars in reverse order, then
   * the sandbox. With deleteObject, finalizes the API object (delete with grace 0).
   */
  terminate(graceSeconds: number, deleteObject: boolean): Promise<void> {
    this.terminating ??= this.doTerminate(graceSeconds, deleteObject);
    return this.terminating;
  }

  private async doTerminate(graceSeconds: number, deleteObject: boolean): Promise<void> {
    const deadline = Date.now() + graceSeconds * 1000;
    this.log.info({ graceSeconds }, 'terminating pod');
    await this.sandbox?.catch(() => false);
    for (const c of this.containers) if (c.backoff) clearTimeout(c.backoff);
    await this.stopContainers(this.containers.filter((c) => c.kind !== 'sidecar'), deadline - Date.now());
    await this.stopContainers(this.containers.filter((c) => c.kind === 'sidecar').reverse(), Math.max(2_000, deadline - Date.now()));
    this.volumes?.stop();
    const names = podNetNames(this.uid);
    await deletePodNetwork(names.netns, names.hostVeth);
    this.deps.ipam.release(this.uid);
    fs.rmSync(this.podDir, { recursive: true, force: true });
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.gone = true;
    await this.statusInFlight?.catch(() => undefined);
    if (deleteObject) {
      const md = this.pod.metadata ?? {};
      await this.deps.rest
        .request('DELETE', `/api/v1/namespaces/${md.namespace}/pods/${md.name}`, {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        })
        .catch((e: unknown) => {
          if (!isNotFound(e)) this.log.warn({ err: errorMessage(e) }, 'final pod delete failed');
        });
    }
    this.log.info('pod terminated and cleaned up');
    this.deps.onGone(this.uid);
  }

  // ---- status ----

  private scheduleStatus(): void {
    if (this.gone || this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      void this.flushStatus();
    }, 50);
  }

  private async flushStatus(): Promise<void> {
    if (this.statusInFlight) {
      this.statusDirty = true;
      return;
    }
    this.statusInFlight = this.writeStatus().finally(() => {
      this.statusInFlight = undefined;
      if (this.statusDirty) {
        this.statusDirty = false;
        this.scheduleStatus();
      }
    });
    await this.statusInFlight;
  }

  private async writeStatus(): Promise<void> {
    if (this.gone) return;
    const md = this.pod.metadata ?? {};
    try {
      await this.deps.rest.request('PATCH', `/api/v1/namespaces/${md.namespace}/pods/${md.name}/status`, {
        body: { status: this.buildStatus() },
        contentType: 'application/merge-patch+json',
      });
    } catch (e) {
      if (isNotFound(e)) return;
      this.log.warn({ err: errorMessage(e) }, 'pod status update failed; will retry');
      setTimeout(() => this.scheduleStatus(), 1_000).unref();
    }
  }

  private condition(type: string, ok: boolean, reason?: string): V1PodCondition {
    const status = ok ? 'True' : 'False';
    const prev = this.conditionTimes.get(type);
    if (!prev || prev.status !== status) this.conditionTimes.set(type, { status, time: nowIso() });
    const time = this.conditionTimes.get(type)?.time ?? nowIso();
    return { type, status, lastTransitionTime: time as unknown as Date, ...(reason && !ok ? { reason } : {}) } as V1PodCondition;
  }

  /** The pod status as the API expects it (timestamps as RFC3339 strings). */
  buildStatus(): Record<string, unknown> {
    const apps = this.containers.filter((c) => c.kind === 'app');
    const inits = this.containers.filter((c) => c.kind !== 'app');
    const containersReady = apps.length > 0 && apps.every((c) => c.ready) && this.phase === 'Running';
    const initsDone = this.initialized || inits.every((c) => (c.kind === 'init' ? c.done && c.terminated?.exitCode === 0 : c.started));
    const scheduled = (this.pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
    const conditions: unknown[] = [
      this.condition('PodReadyToStartContainers', this.sandboxReady),
      this.condition('Initialized', initsDone, 'ContainersNotInitialized'),
      this.condition('ContainersReady', containersReady, 'ContainersNotReady'),
      this.condition('Ready', containersReady, 'ContainersNotReady'),
      ...(scheduled ? [scheduled] : []),
    ];
    const ip = this.net?.ip;
    return {
      phase: this.phase,
      conditions,
      hostIP: this.deps.nodeIP,
      hostIPs: [{ ip: this.deps.nodeIP }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: this.startTime,
      reason: this.podReason ?? null,
      message: this.podMessage ?? null,
      initContainerStatuses: inits.map((c) => this.containerStatus(c)),
      containerStatuses: apps.map((c) => this.containerStatus(c)),
    };
  }

  private containerStatus(c: ContainerRuntime): V1ContainerStatus {
    const toTerm = (t: Terminated): V1ContainerState => ({
      terminated: { exitCode: t.exitCode, reason: t.reason, startedAt: t.startedAt, finishedAt: t.finishedAt, containerID: t.containerID, ...(t.signal ? { message: `killed by ${t.signal}` } : {}) } as unknown as NonNullable<V1ContainerState['terminated']>,
    });
    let state: V1ContainerState;
    if (c.waiting) state = { waiting: { reason: c.waiting.reason, ...(c.waiting.message ? { message: c.waiting.message } : {}) } };
    else if (c.runningSince) state = { running: { startedAt: c.runningSince as unknown as Date } };
    else if (c.terminated) state = toTerm(c.terminated);
    else state = { waiting: { reason: 'PodInitializing' } };
    const last = c.waiting || c.runningSince ? c.terminated ?? c.lastTerminated : c.lastTerminated;
    return {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: c.image.ok ? c.image.imageID : '',
      ...(c.containerID ? { containerID: c.containerID } : {}),
      ready: c.ready,
      started: c.started && !!c.runningSince,
      restartCount: c.restartCount,
      state,
      lastState: last ? toTerm(last) : {},
    };
  }
}

/**
 * Polls /proc/<pid>/cmdline until the launcher chain (ip -> unshare -> sh -> setpriv) has
 * exec'd the container's command (bounded in time). Matches the argv exactly, or anything
 * that is no longer a launcher step (the app may rewrite its process title).
 */
async function waitForExec(pid: number | undefined, argv: string[], timeoutMs: number): Promise<boolean> {
  if (!pid) return false;
  const want = argv.join('\0') + '\0';
  const launcherSteps = ['ip\0netns\0exec\0', 'unshare\0', '/bin/sh\0-c\0set -e\n', 'setpriv\0'];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline === want || (cmdline !== '' && !launcherSteps.some((p) => cmdline.startsWith(p)))) return true;
    } catch {
      return false; // exited
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 };
  return table[sig];
}

function detailText(e: unknown): string {
  const d = (e as { details?: Record<string, unknown> }).details;
  return d && Object.keys(d).length > 0 ? ` ${JSON.stringify(d)}` : '';
}
