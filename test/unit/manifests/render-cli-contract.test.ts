// What the operator renders must run: every argument it gives Weft's own image must be a flag
// the `weft` binary knows, and the control plane's readiness probe must hit a path it serves.
// (A rendered `--mesh-config` the binary did not know, or `proxy router` when the command is
// `proxy gateway`, would crash-loop every install; only real pods would have shown it.)
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Command } from 'commander';
import { registerControlPlaneCommand } from '../../../src/cmd/controlplane.js';
import { registerOperatorCommand } from '../../../src/cmd/operator.js';
import { registerProxyCommands } from '../../../src/proxy/command.js';
import { renderControlPlane, type RenderContext } from '../../../src/render/controlplane/render.js';
import type { MeshConfig } from '../../../src/api/meshconfig.js';
import { repoRoot } from '../../helpers/paths.js';

interface Container { name: string; image: string; args?: string[]; command?: string[]; readinessProbe?: { httpGet?: { path?: string } } }

function weftProgram(): Command {
  const program = new Command('weft').exitOverride();
  registerOperatorCommand(program);
  registerControlPlaneCommand(program);
  registerProxyCommands(program);
  return program;
}

/** The subcommand an argv selects and what it leaves unparsed; throws when a command is unknown. */
function parse(argv: string[]): { command: string; unknown: string[] } {
  let cmd = weftProgram();
  let rest = [...argv];
  const names: string[] = [];
  while (rest.length > 0 && !rest[0]!.startsWith('-') && cmd.commands.length > 0) {
    const next = cmd.commands.find((c) => c.name() === rest[0] || c.aliases().includes(rest[0]!));
    if (!next) throw new Error(`weft has no command "${[...names, rest[0]].join(' ')}"`);
    names.push(rest[0]!);
    cmd = next;
    rest = rest.slice(1);
  }
  const { unknown } = cmd.parseOptions(rest);
  return { command: names.join(' '), unknown };
}

function weftContainers(objs: unknown[]): Array<{ owner: string; c: Container }> {
  const out: Array<{ owner: string; c: Container }> = [];
  for (const o of objs as Array<{ kind: string; metadata: { name: string }; spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } }>) {
    if (o.kind !== 'Deployment') continue;
    const spec = o.spec?.template?.spec;
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) if (/\/weft:/.test(c.image)) out.push({ owner: o.metadata.name, c });
  }
  return out;
}

const dir = path.join(repoRoot, 'test/golden/render');
const cases = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'input.yaml')));

describe('rendered manifests vs the weft binary', () => {
  it.each(cases)('%s: every weft container runs a known command with known flags', (name) => {
    const input = YAML.parse(fs.readFileSync(path.join(dir, name, 'input.yaml'), 'utf8')) as { meshConfig: MeshConfig; context: RenderContext };
    const containers = weftContainers(renderControlPlane(input.meshConfig, input.context));
    expect(containers.length).toBeGreaterThan(0);
    for (const { owner, c } of containers) {
      const r = parse(c.args ?? []);
      expect({ owner, container: c.name, command: r.command, unknown: r.unknown }).toEqual({ owner, container: c.name, command: r.command, unknown: [] });
      expect(r.command).not.toBe('');
    }
  });

  it('the control plane readiness probe is a path its debug server answers', async () => {
    const input = YAML.parse(fs.readFileSync(path.join(dir, 'minimal', 'input.yaml'), 'utf8')) as { meshConfig: MeshConfig; context: RenderContext };
    const cp = weftContainers(renderControlPlane(input.meshConfig, input.context)).find((x) => (x.c.args ?? [])[0] === 'controlplane');
    expect(cp?.c.readinessProbe?.httpGet?.path).toBe('/ready');
  });

  it('the checker itself refuses an unknown command and an unknown flag', () => {
    expect(() => parse(['proxy', 'teleport'])).toThrow(/no command "proxy teleport"/);
    expect(parse(['controlplane', '--no-such-flag']).unknown).toEqual(['--no-such-flag']);
  });
});

describe('the CA serving certificate names what proxies dial', () => {
  it.each(cases)('%s: the rendered caAddress host is among the control plane CA names', async (name) => {
    const { caServingNames } = await import('../../../src/cmd/controlplane.js');
    const input = YAML.parse(fs.readFileSync(path.join(dir, name, 'input.yaml'), 'utf8')) as { meshConfig: MeshConfig; context: RenderContext };
    const objs = renderControlPlane(input.meshConfig, input.context) as Array<{ kind: string; data?: Record<string, string>; spec?: { template?: { spec?: { containers?: Container[] } } } }>;
    const cps = weftContainers(objs).filter((x) => (x.c.args ?? [])[0] === 'controlplane');
    const injection = objs.filter((o) => o.kind === 'ConfigMap').flatMap((o) => Object.values(o.data ?? {})).map((t) => /"caAddress":"([^"]+)"/.exec(t)?.[1]).filter((x): x is string => !!x);
    expect(injection.length).toBeGreaterThan(0);
    const names = cps.flatMap(({ c }) => {
      const rev = (c.args ?? []).find((a) => a.startsWith('--revision='))?.slice('--revision='.length) ?? 'default';
      const ns = input.meshConfig.spec.namespace ?? 'weft-system';
      return caServingNames(rev, ns);
    });
    for (const addr of injection) expect(names).toContain(addr.replace(/:\d+$/, ''));
  });
});

describe('the install manifests vs the weft binary', () => {
  it('the operator Deployment in manifests/ runs a known command with known flags', () => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'manifests/weft.yaml'), 'utf8')).map((d) => d.toJS() as unknown);
    const containers = weftContainers(docs);
    expect(containers.map((x) => x.owner)).toContain('weft-operator');
    for (const { owner, c } of containers) {
      const r = parse(c.args ?? []);
      expect({ owner, command: r.command, unknown: r.unknown }).toEqual({ owner, command: 'operator', unknown: [] });
    }
  });
});
