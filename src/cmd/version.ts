// The package version, read once from package.json next to dist/ (also inside the image).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function readPackageVersion(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(here, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'weft' && pkg.version) return pkg.version;
    } catch { /* try the next candidate */ }
  }
  return '0.0.0-unknown';
}
