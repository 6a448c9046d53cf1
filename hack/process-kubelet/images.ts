// The process kubelet's "image registry": a small table that maps container images to local
// commands. There is no container runtime here, so an image is just an entrypoint + default
// args, plus path rewrites for paths that exist inside the real image (e.g. /opt/weft/...).
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './repo-root.js';

export interface ImageContext {
  /** Repository root (the directory holding package.json and dist/). */
  repoRoot: string;
  /** package.json version: any image named weft with this tag runs the current build. */
  weftVersion: string;
  /** Where builds of previous versions live: <dir>/<version>/dist/src/cmd/weft.js. */
  versionCacheDir: string;
  /** Absolute path of the node binary to use for `node` entrypoints. */
  nodePath: string;
  /** Existence check, injectable for tests. */
  exists?: (p: string) => boolean;
}

export interface ResolvedImage {
  ok: true;
  image: string;
  /** Docker ENTRYPOINT equivalent. */
  entrypoint: string[];
  /** Docker CMD equivalent. */
  cmd: string[];
  /** Prefix rewrites applied to every argv element: in-image path -> local path. */
  pathRewrites: Array<[string, string]>;
  /** A stable id for containerStatuses[].imageID. */
  imageID: string;
  /** Docker WORKDIR equivalent. */
  workingDir: string;
}

export interface UnknownImage {
  ok: false;
  image: string;
  reason: 'ErrImagePull';
  message: string;
}

/**
 * $WEFT_VERSION_CACHE, else <cluster dir>/versions. Not under $HOME: /root is mode 700, and
 * Weft's pods run as UID 1337, which must be able to read the build it runs.
 */
export function defaultVersionCacheDir(): string {
  return process.env.WEFT_VERSION_CACHE ?? path.join(process.env.WEFT_CLUSTER_DIR ?? path.join(REPO_ROOT, '.cluster'), 'versions');
}

/** Splits "registry/ns/name:tag" into the repository path and the tag ("latest" if none). */
export function parseImage(image: string): { repo: string; name: string; tag: string } {
  const noDigest = image.split('@')[0] ?? image;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const hasTag = colon > lastSlash;
  const repo = hasTag ? noDigest.slice(0, colon) : noDigest;
  const tag = hasTag ? noDigest.slice(colon + 1) : 'latest';
  const name = repo.slice(repo.lastIndexOf('/') + 1);
  return { repo, name, tag };
}

/** Sample-app images: repository suffix -> fixture script under dist/test/fixtures/apps. */
export const FIXTURE_IMAGES: Readonly<Record<string, string>> = Object.freeze({
  'weft-test/echo': 'echo.js',
  'weft-test/tcp-echo': 'tcp-echo.js',
  'weft-test/grpc-echo': 'grpc-echo.js',
  // Bookinfo: one image per service, as in Istio's sample; reviews picks v1|v2|v3 from SERVICE_VERSION.
  'weft-test/bookinfo-productpage': 'bookinfo/productpage.js',
  'weft-test/bookinfo-details': 'bookinfo/details.js',
  'weft-test/bookinfo-reviews': 'bookinfo/reviews.js',
  'weft-test/bookinfo-ratings': 'bookinfo/ratings.js',
});

/** Images whose entrypoint is the host's shell: handy for init containers in tests. */
export const SHELL_IMAGES: readonly string[] = Object.freeze(['weft-test/shell', 'busybox', 'library/busybox']);

function unknown(image: string, detail = ''): UnknownImage {
  return { ok: false, image, reason: 'ErrImagePull', message: `image ${image} is not in the process kubelet's image table${detail}` };
}

function matchesRepo(repo: string, wanted: string): boolean {
  return repo === wanted || repo.endsWith(`/${wanted}`);
}

export function resolveImage(image: string, ctx: ImageContext): ResolvedImage | UnknownImage {
  const exists = ctx.exists ?? ((p: string): boolean => fs.existsSync(p));
  const { repo, name, tag } = parseImage(image);
  const node = ctx.nodePath;
  if (name === 'weft') {
    // Weft's one image: ENTRYPOINT ["node", "/opt/weft/dist/src/cmd/weft.js"], CMD ["--help"].
    let root: string;
    if (tag === ctx.weftVersion || tag === `v${ctx.weftVersion}`) root = ctx.repoRoot;
    else {
      root = path.join(ctx.versionCacheDir, tag.replace(/^v/, ''));
      if (!exists(path.join(root, 'dist', 'src', 'cmd', 'weft.js'))) {
        return unknown(image, ` (no build of weft ${tag} in ${ctx.versionCacheDir}; see docs/process-kubelet.md)`);
      }
    }
    return {
      ok: true,
      image,
      entrypoint: [node, path.join(root, 'dist/src/cmd/weft.js')],
      cmd: ['--help'],
      pathRewrites: [['/opt/weft/', `${root}/`]],
      imageID: `process-kubelet://weft@${tag}`,
      workingDir: root,
    };
  }
  for (const [fixtureRepo, script] of Object.entries(FIXTURE_IMAGES)) {
    if (matchesRepo(repo, fixtureRepo)) {
      return {
        ok: true,
        image,
        entrypoint: [node, path.join(ctx.repoRoot, 'dist/test/fixtures/apps', script)],
        cmd: [],
        pathRewrites: [],
        imageID: `process-kubelet://${fixtureRepo}@${tag}`,
        workingDir: '/',
      };
    }
  }
  for (const shellRepo of SHELL_IMAGES) {
    if (matchesRepo(repo, shellRepo)) {
      return { ok: true, image, entrypoint: [], cmd: ['/bin/sh'], pathRewrites: [], imageID: `process-kubelet://${shellRepo}@${tag}`, workingDir: '/' };
    }
  }
  return unknown(image);
}

/**
 * Kubernetes' command/args rules over the image's ENTRYPOINT/CMD, then the image's path
 * rewrites, and `node` mapped to the kubelet's own node binary.
 */
export function containerArgv(img: ResolvedImage, command: string[] | undefined, args: string[] | undefined): string[] {
  let argv: string[];
  if (command && command.length > 0) argv = [...command, ...(args ?? [])];
  else if (args && args.length > 0) argv = [...img.entrypoint, ...args];
  else argv = [...img.entrypoint, ...img.cmd];
  return argv.map((a, i) => {
    if (i === 0 && a === 'node') return img.entrypoint[0] && path.basename(img.entrypoint[0]) === 'node' ? img.entrypoint[0] : a;
    for (const [from, to] of img.pathRewrites) if (a.startsWith(from)) return to + a.slice(from.length);
    return a;
  });
}
