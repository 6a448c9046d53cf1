// weftctl rotate-root: asks for a CA root rotation by setting the MeshConfig annotation
// weft.dev/rotate-root to a fresh token (the operator passes it to the control plane through
// the CA Secret), and with --wait follows status.rootRotation until the control plane reports
// the rotation done. Pure helpers (token, progress lines, outcome) are exported for unit tests.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import {
  MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION, ROTATE_ROOT_ANNOTATION, type MeshConfig, type RootRotationStatus,
} from '../../api/meshconfig.js';
import { examples, globalsOf, type App } from '../app.js';
import { CliError, EXIT, painter, type Paint } from '../io.js';
import { call, connect } from '../kube.js';
import { FIELD_MANAGER, getMeshConfig, parseTimeout, readMeshConfig } from './lifecycle.js';

/** A fresh request token: when, plus randomness so two requests in one second differ. */
export function newRotationToken(now: Date, random: string = randomBytes(3).toString('hex')): string {
  return `manual-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '').toLowerCase()}-${random}`;
}

function progressOf(r: RootRotationStatus | undefined): string {
  if (!r?.proxies) return '';
  const lag = r.lagging?.length ? `; lagging: ${r.lagging.slice(0, 5).join(', ')}${r.lagging.length > 5 ? ` (+${r.lagging.length - 5} more)` : ''}` : '';
  return `${r.proxies.current}/${r.proxies.total} proxies at this stage${lag}`;
}

/** What changed in status.rootRotation between two observations, as lines. Pure. */
export function rotationProgressLines(prev: MeshConfig | undefined, cur: MeshConfig, token: string, paint: Paint): string[] {
  const p = prev?.status?.rootRotation;
  const c = cur.status?.rootRotation;
  const lines: string[] = [];
  const seen = (r: RootRotationStatus | undefined): boolean => r?.pendingRequest === token || r?.request === token;
  if (seen(c) && !seen(p) && c?.request !== token) lines.push(`the operator passed request ${token} to the control plane; waiting for it to start`);
  if (c?.request === token && c.stage && c.stage !== 'idle') {
    if (p?.stage !== c.stage || p?.request !== token) lines.push(`stage ${paint('bold', c.stage)}: ${progressOf(c)}`);
    else if (progressOf(p) !== progressOf(c)) lines.push(`  ${progressOf(c)}`);
    if (c.stuck && !p?.stuck) lines.push(paint('yellow', `stuck: stage ${c.stage} has not moved since ${c.since ?? '?'}`));
  }
  if (c?.message !== p?.message && c?.message) lines.push(`message: ${c.message}`);
  return lines;
}

export type RotationOutcome = { state: 'done'; root?: string } | { state: 'failed'; reason: string } | { state: 'pending' };

/** Whether the rotation asked for with `token` is done, cannot happen, or is still going. Pure. */
export function rotationOutcome(mc: MeshConfig, token: string): RotationOutcome {
  const r = mc.status?.rootRotation;
  if (r?.request === token && r.stage === 'idle') return { state: 'done', ...(r.currentRoot ? { root: r.currentRoot } : {}) };
  const cond = mc.status?.conditions?.find((c) => c.type === 'RootRotation');
  if (cond?.reason === 'PluggedInCa') return { state: 'failed', reason: cond.message };
  return { state: 'pending' };
}

/** One line for a timeout: where the rotation stands. Pure. */
export function rotationStandsAt(mc: MeshConfig | undefined, token: string): string {
  const r = mc?.status?.rootRotation;
  if (!r || (r.request !== token && r.pendingRequest !== token)) return 'the operator has not passed the request on yet (is it running?)';
  if (r.request !== token) return 'the control plane has not started it (is its rotation driver running?)';
  return `stage ${r.stage ?? '?'} since ${r.since ?? '?'}, ${progressOf(r)}${r.stuck ? ', stuck' : ''}`;
}

interface RotateFlags {
  name?: string;
  wait?: boolean;
  timeout: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function registerRotateRoot(program: Command, app: App): void {
  program
    .command('rotate-root')
    .description(`Rotate the mesh CA root now: sets the MeshConfig annotation ${ROTATE_ROOT_ANNOTATION} to a fresh token; the control plane then adds the new root, switches the issuer and retires the old root, one stage at a time as every proxy catches up`)
    .option('--name <meshconfig>', 'MeshConfig whose CA to rotate (default: the only one)')
    .option('--wait', 'follow the rotation (stage, proxies at the stage, lagging proxies) until it completes or --timeout passes')
    .option('--timeout <duration>', 'how long --wait waits, e.g. 90s or 15m', '15m')
    .addHelpText('after', examples([
      'weftctl rotate-root',
      'weftctl rotate-root --wait --timeout 30m',
      'weftctl rotate-root --name default --wait',
      '# A plugged-in CA (Secret cacerts) is not rotated by Weft: replace cacerts instead.',
    ]))
    .action(async (flags: RotateFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const timeoutMs = parseTimeout(flags.timeout);
      const paint = painter(app.io.color);
      const cluster = connect(g);
      const mc = await readMeshConfig(cluster, flags.name);
      const name = mc.metadata.name;
      const plugged = mc.status?.conditions?.find((c) => c.type === 'RootRotation' && c.reason === 'PluggedInCa');
      if (plugged) throw new CliError(`cannot rotate the root of MeshConfig ${name}: ${plugged.message}`, EXIT.failure);
      const token = newRotationToken(app.now());
      await call(`annotate MeshConfig ${name}`, () => cluster.clients.custom.patchClusterCustomObject(
        { group: MESHCONFIG_GROUP, version: MESHCONFIG_VERSION, plural: MESHCONFIG_PLURAL, name, body: { metadata: { annotations: { [ROTATE_ROOT_ANNOTATION]: token } } }, fieldManager: FIELD_MANAGER },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ), cluster.server);
      app.io.err(`MeshConfig ${name}: requested root rotation ${token} (annotation ${ROTATE_ROOT_ANNOTATION})\n`);
      if (!flags.wait) {
        app.io.out(`root rotation ${token} requested; follow it with \`kubectl get meshconfig ${name} -o jsonpath='{.status.rootRotation}'\`\n`);
        return;
      }
      const deadline = Date.now() + timeoutMs;
      let prev: MeshConfig | undefined = mc;
      let last: MeshConfig | undefined;
      while (Date.now() < deadline) {
        const cur = await getMeshConfig(cluster, name).catch(() => undefined);
        if (cur) {
          last = cur;
          for (const l of rotationProgressLines(prev, cur, token, paint)) app.io.err(`  ${l}\n`);
          prev = cur;
          const o = rotationOutcome(cur, token);
          if (o.state === 'done') {
            app.io.err(`${paint('green', '✔')} root rotation ${token} completed\n`);
            app.io.out(`root rotated${o.root ? `: the root is now ${o.root.slice(0, 16)}…` : ''}\n`);
            return;
          }
          if (o.state === 'failed') throw new CliError(`root rotation ${token} cannot proceed: ${o.reason}`, EXIT.failure);
        }
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
      }
      throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for root rotation ${token}: ${rotationStandsAt(last, token)}; see \`kubectl describe meshconfig ${name}\``, EXIT.failure);
    });
}
