// The process kubelet's pure parts: image table, IPAM, env/downward API, launcher script.
// No cluster traffic; lives with the kubelet's e2e tests because it owns this directory.
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { containerArgv, parseImage, resolveImage, type ImageContext, type ResolvedImage } from '../../../hack/process-kubelet/images.js';
import { Ipam, cidrContains, parseCidr } from '../../../hack/process-kubelet/ipam.js';
import { expandVars, fieldRefValue, formatMap, resolveEnv } from '../../../hack/process-kubelet/env.js';
import { launcherArgv, launcherScript, removeCreatedMountPoints } from '../../../hack/process-kubelet/launch.js';
import { hostsFile, podNetNames, resolvConf } from '../../../hack/process-kubelet/netns.js';
import { resolvePort } from '../../../hack/process-kubelet/probes.js';
import { isWeftError } from '../../../src/errors/errors.js';

const ctx: ImageContext = { repoRoot: '/repo', weftVersion: '0.1.0', versionCacheDir: '/cache', nodePath: '/bin/node', exists: (p) => p === '/cache/0.0.9/dist/src/cmd/weft.js' };

describe('image table', () => {
  it('parses registries, tags and digests', () => {
    expect(parseImage('ghcr.io/weft/weft:0.1.0')).toEqual({ repo: 'ghcr.io/weft/weft', name: 'weft', tag: '0.1.0' });
    expect(parseImage('localhost:5000/weft')).toEqual({ repo: 'localhost:5000/weft', name: 'weft', tag: 'latest' });
    expect(parseImage('weft-test/echo:1@sha256:abc')).toEqual({ repo: 'weft-test/echo', name: 'echo', tag: '1' });
  });

  it('maps the current weft version to the built dist entrypoint, with /opt/weft rewrites', () => {
    const img = resolveImage('ghcr.io/example/weft:0.1.0', ctx) as ResolvedImage;
    expect(img.ok).toBe(true);
    expect(containerArgv(img, undefined, undefined)).toEqual(['/bin/node', '/repo/dist/src/cmd/weft.js', '--help']);
    expect(containerArgv(img, undefined, ['proxy', 'sidecar'])).toEqual(['/bin/node', '/repo/dist/src/cmd/weft.js', 'proxy', 'sidecar']);
    expect(containerArgv(img, ['node', '/opt/weft/dist/src/cmd/weft.js'], ['operator'])).toEqual(['/bin/node', '/repo/dist/src/cmd/weft.js', 'operator']);
    expect(img.workingDir).toBe('/repo');
  });

  it('maps a previous version to its cached build, or fails clearly without one', () => {
    const old = resolveImage('weft/weft:0.0.9', ctx) as ResolvedImage;
    expect(old.entrypoint).toEqual(['/bin/node', '/cache/0.0.9/dist/src/cmd/weft.js']);
    const missing = resolveImage('weft/weft:0.0.1', ctx);
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.message).toContain("image weft/weft:0.0.1 is not in the process kubelet's image table");
  });

  it('maps sample apps to fixtures and rejects unknown images', () => {
    expect((resolveImage('weft-test/echo:1', ctx) as ResolvedImage).entrypoint).toEqual(['/bin/node', '/repo/dist/test/fixtures/apps/echo.js']);
    expect((resolveImage('registry.local/weft-test/tcp-echo:1', ctx) as ResolvedImage).entrypoint[1]).toBe('/repo/dist/test/fixtures/apps/tcp-echo.js');
    expect((resolveImage('weft-test/bookinfo-reviews:1', ctx) as ResolvedImage).entrypoint[1]).toBe('/repo/dist/test/fixtures/apps/bookinfo/reviews.js');
    expect((resolveImage('weft-test/bookinfo-productpage:1', ctx) as ResolvedImage).imageID).toBe('process-kubelet://weft-test/bookinfo-productpage@1');
    expect(resolveImage('nginx:1.27', ctx)).toEqual({ ok: false, image: 'nginx:1.27', reason: 'ErrImagePull', message: "image nginx:1.27 is not in the process kubelet's image table" });
  });
});

describe('ipam', () => {
  it('allocates from .2 upward, skips reserved, is idempotent per owner and reuses released', () => {
    const ipam = new Ipam('10.88.0.0/24', ['10.88.0.2']);
    expect(ipam.allocate('a')).toBe('10.88.0.3');
    expect(ipam.allocate('a')).toBe('10.88.0.3');
    expect(ipam.allocate('b')).toBe('10.88.0.4');
    ipam.release('a');
    expect(ipam.inUse()).toBe(1);
    const seen = new Set<string>();
    for (let i = 0; i < 251; i++) seen.add(ipam.allocate(`x${i}`));
    expect(seen.size).toBe(251);
    expect([...seen].every((ip) => cidrContains('10.88.0.0/24', ip) && !ip.endsWith('.255') && !ip.endsWith('.0') && !ip.endsWith('.1'))).toBe(true);
    expect(() => ipam.allocate('overflow')).toThrow('pod CIDR exhausted');
  });

  it('rejects bad CIDRs with a specific error', () => {
    expect(() => parseCidr('10.88.0.0')).toThrow('unsupported pod CIDR');
    expect(() => parseCidr('10.88.0.300/24')).toThrow('not an IPv4 address');
  });
});

describe('env and downward API', () => {
  const pod: V1Pod = { metadata: { name: 'p', namespace: 'n', uid: 'u', labels: { b: '2', a: '1' } }, spec: { nodeName: 'weft-proc-0', serviceAccountName: 'sa', containers: [] } };

  it('reads fieldRefs', () => {
    expect(fieldRefValue(pod, 'metadata.name', '10.88.1.2', '10.89.0.20')).toBe('p');
    expect(fieldRefValue(pod, 'status.podIP', '10.88.1.2', '10.89.0.20')).toBe('10.88.1.2');
    expect(fieldRefValue(pod, 'spec.serviceAccountName', '', '')).toBe('sa');
    expect(fieldRefValue(pod, "metadata.labels['b']", '', '')).toBe('2');
    expect(formatMap(pod.metadata?.labels)).toBe('a="1"\nb="2"');
    expect(() => fieldRefValue(pod, 'spec.bogus', '', '')).toThrow('unsupported downward API fieldPath');
  });

  it('expands $(VAR) and $$', () => {
    expect(expandVars('$(A)-$(B)-$$(A)-$(MISSING)', { A: 'x', B: 'y' })).toBe('x-y-$(A)-$(MISSING)');
  });

  it('resolves env from values, fieldRefs, secrets, configMaps and envFrom; missing refs are specific errors', async () => {
    const lookup = {
      secret: async (_ns: string, name: string) => (name === 's' ? { pw: 'hunter2' } : undefined),
      configMap: async (_ns: string, name: string) => (name === 'c' ? { mode: 'fast', LEVEL: 'debug' } : undefined),
    };
    const env = await resolveEnv(
      {
        name: 'x',
        envFrom: [{ configMapRef: { name: 'c' }, prefix: 'CM_' }],
        env: [
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'c', key: 'mode' } } },
          { name: 'GREETING', value: 'hi $(NAME)' },
          { name: 'OPT', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
        ],
      },
      { pod, podIP: '10.88.1.2', hostIP: '10.89.0.20', lookup, base: { PATH: '/bin' } },
    );
    expect(env).toEqual({ PATH: '/bin', CM_mode: 'fast', CM_LEVEL: 'debug', NAME: 'p', PW: 'hunter2', MODE: 'fast', GREETING: 'hi p' });
    const err = await resolveEnv({ name: 'x', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, { pod, podIP: '', hostIP: '', lookup, base: {} }).catch((e: unknown) => e);
    expect(isWeftError(err, 'WEFT_E_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toBe('env reference not found');
  });
});

describe('launcher', () => {
  it('bind-mounts volumes (parents first, read-only remounts), changes dir, drops privileges and execs', () => {
    const script = launcherScript({
      mounts: [
        { source: '/s/tok', target: '/var/run/secrets/tokens', readOnly: true, isFile: false },
        { source: '/s/data', target: '/data', readOnly: false, isFile: false },
        { source: '/s/cfg/app.yaml', target: "/etc/it's/app.yaml", readOnly: false, isFile: true },
      ],
      workingDir: '/work',
      runAsUser: 1337,
      recordFile: '/st/rec',
    });
    const lines = script.split('\n');
    expect(lines[0]).toBe('set -e');
    const at = (needle: string): number => lines.findIndex((l) => l === needle);
    // Parents first: /data before the nested token mount; missing mount points are created and recorded.
    expect(at("mount --bind '/s/data' '/data'")).toBeLessThan(at("mount --bind '/s/tok' '/var/run/secrets/tokens'"));
    expect(lines).toContain(`P='/var/run/secrets/tokens'; [ -e "$P" ] || { mkdir "$P" 2>/dev/null && echo "$P" >> '/st/rec' || [ -d "$P" ]; }`);
    expect(lines).toContain(`P='/etc/it'\\''s/app.yaml'; [ -e "$P" ] || { : > "$P" && echo "$P" >> '/st/rec'; }`);
    expect(at("mount -o remount,bind,ro '/var/run/secrets/tokens'")).toBe(at("mount --bind '/s/tok' '/var/run/secrets/tokens'") + 1);
    expect(lines.slice(-2)).toEqual(["cd '/work'", 'exec setpriv --reuid=1337 --regid=1337 --clear-groups -- "$@"']);
    expect(launcherScript({ mounts: [], workingDir: '/' }).split('\n')).toEqual(['set -e', "cd '/'", 'exec "$@"']);
    const argv = launcherArgv({ netns: 'wpk-x', mounts: [], workingDir: '/', argv: ['node', 'a.js'], env: {} });
    expect(argv.slice(0, 8)).toEqual(['netns', 'exec', 'wpk-x', 'unshare', '--mount', '--propagation', 'private', '--']);
    expect(argv.slice(-2)).toEqual(['node', 'a.js']);
  });

  it('removes only the recorded, still-empty mount points, deepest first', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-rec-'));
    try {
      fs.mkdirSync(path.join(root, 'a/b/c'), { recursive: true });
      fs.mkdirSync(path.join(root, 'kept'));
      fs.writeFileSync(path.join(root, 'kept/file'), 'x');
      fs.writeFileSync(path.join(root, 'empty'), '');
      const rec = path.join(root, 'rec');
      fs.writeFileSync(rec, ['a', 'a/b', 'a/b/c', 'kept', 'empty', 'a/b'].map((p) => path.join(root, p)).join('\n') + '\n');
      expect(removeCreatedMountPoints(rec)).toBe(4);
      expect(fs.readdirSync(root).sort()).toEqual(['kept']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('derives bounded interface names and pod /etc files', () => {
    const n = podNetNames('6c200daa-78aa-4bbb-8ccc-123456789012');
    expect(n).toEqual({ netns: 'wpk-6c200daa78', hostVeth: 'wpkv6c200daa78', peer: 'wpkp6c200daa78' });
    expect(n.hostVeth.length).toBeLessThanOrEqual(15);
    expect(resolvConf({ hostname: 'h', nameservers: ['127.0.0.1'], searches: ['ns.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] })).toBe(
      'nameserver 127.0.0.1\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n',
    );
    expect(hostsFile('10.88.1.2', 'web-0')).toContain('10.88.1.2\tweb-0');
    expect(resolvePort('http', [{ name: 'http', containerPort: 8080 }])).toBe(8080);
    expect(resolvePort('9090', [])).toBe(9090);
  });
});
