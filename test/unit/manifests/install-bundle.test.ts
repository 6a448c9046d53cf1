// `kubectl apply -f manifests/` is the user's install path and kubectl does not recurse, so
// manifests/weft.yaml bundles crds/ and operator/. This fails when the bundle is stale.
import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const dir = path.join(process.cwd(), 'manifests');
const yamlIn = (sub: string): string[] => readdirSync(path.join(dir, sub)).filter((f) => f.endsWith('.yaml')).sort().map((f) => `${sub}/${f}`);

describe('manifests/weft.yaml install bundle', () => {
  const bundle = readFileSync(path.join(dir, 'weft.yaml'), 'utf8');
  const sources = ['crds/meshconfig.yaml', ...yamlIn('crds/istio'), ...yamlIn('operator')];

  it.each(sources)('contains the current %s (regenerate with hack/gen-install-manifest.sh)', (src) => {
    const body = readFileSync(path.join(dir, src), 'utf8').trimEnd();
    expect(bundle).toContain(`# Source: manifests/${src}\n${body}\n`);
  });

  it('contains nothing but those sources', () => {
    expect(bundle.match(/^# Source: /gm)).toHaveLength(sources.length);
  });
});
