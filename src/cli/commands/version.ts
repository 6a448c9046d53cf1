// weftctl version: client version, and with a cluster the Kubernetes, mesh and control
// plane versions. --client skips the cluster.
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { MESHCONFIG_GROUP, MESHCONFIG_PLURAL, MESHCONFIG_VERSION, type MeshConfig } from '../../api/meshconfig.js';
import { examples, globalsOf, type App } from '../app.js';
import { call, connect, listCustom } from '../kube.js';
import { parseOutputFormat, renderData } from '../output.js';

export interface VersionInfo {
  client: string;
  kubernetes?: string;
  mesh?: { name: string; desired: string; running?: string; activeRevision?: string }[];
}

export function formatVersion(v: VersionInfo): string {
  const lines = [`client version: ${v.client}`];
  if (v.kubernetes !== undefined) lines.push(`kubernetes version: ${v.kubernetes}`);
  if (v.mesh !== undefined) {
    if (v.mesh.length === 0) lines.push('mesh: not installed (no MeshConfig)');
    for (const m of v.mesh) lines.push(`mesh ${m.name}: version ${m.running ?? '(not yet reconciled)'}, desired ${m.desired}${m.activeRevision ? `, active revision ${m.activeRevision}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export function registerVersion(program: Command, app: App): void {
  program
    .command('version')
    .description('Print the weftctl version and, with a cluster, the Kubernetes and mesh versions')
    .option('--client', 'client version only (no cluster)')
    .addHelpText('after', examples(['weftctl version', 'weftctl version --client', 'weftctl version -o json']))
    .action(async (flags: { client?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const format = parseOutputFormat(g.output);
      const info: VersionInfo = { client: app.version };
      if (!flags.client) {
        const cluster = connect(g);
        const ver = await call('read server version', () => cluster.clients.config.makeApiClient(k8s.VersionApi).getCode(), cluster.server);
        info.kubernetes = ver.gitVersion;
        const mcs = (await listCustom(cluster, MESHCONFIG_GROUP, MESHCONFIG_VERSION, MESHCONFIG_PLURAL)) as unknown as MeshConfig[];
        info.mesh = mcs.map((m) => ({
          name: m.metadata.name, desired: m.spec?.version ?? '', ...(m.status?.version ? { running: m.status.version } : {}),
          ...(m.status?.activeRevision ? { activeRevision: m.status.activeRevision } : {}),
        }));
      }
      app.io.out(format === 'json' || format === 'yaml' ? renderData(info, format) : formatVersion(info));
    });
}
