// Golden tests for injectPod, after Istio's testdata/inject: each <case>.in.yaml (a pod, plus
// an optional <case>.config.yaml of InjectionConfig overrides) is injected and compared with
// <case>.out.yaml (the report, then the injected pod; or the error). A stale golden file fails.
// Regenerate with: WEFT_UPDATE_GOLDEN=1 node --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/golden/inject
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig, type InjectionConfig } from '../../../src/api/injection.js';
import { injectPod } from '../../../src/render/inject/inject.js';

const dir = path.join(process.cwd(), 'test/golden/inject/testdata');
const update = process.env.WEFT_UPDATE_GOLDEN === '1';
const GOLDEN_BASE_CONFIG: Partial<InjectionConfig> = { hub: 'registry.test/weft', version: '1.0.0' };

function render(name: string): string {
  const pod = YAML.parse(fs.readFileSync(path.join(dir, `${name}.in.yaml`), 'utf8')) as V1Pod;
  const cfgFile = path.join(dir, `${name}.config.yaml`);
  const overrides = fs.existsSync(cfgFile) ? (YAML.parse(fs.readFileSync(cfgFile, 'utf8')) as Partial<InjectionConfig>) : {};
  const cfg = defaultInjectionConfig({ ...GOLDEN_BASE_CONFIG, ...overrides });
  try {
    const { pod: out, report } = injectPod(pod, cfg);
    return `${YAML.stringify({ report }, { lineWidth: 0 })}---\n${YAML.stringify(out, { lineWidth: 0 })}`;
  } catch (e) {
    return YAML.stringify({ error: (e as Error).message }, { lineWidth: 0 });
  }
}

const cases = fs.readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.slice(0, -'.in.yaml'.length)).sort();

describe('injectPod golden files', () => {
  it('has at least 25 cases and no orphan files', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    const orphans = fs.readdirSync(dir)
      .filter((f) => f.endsWith('.out.yaml') || f.endsWith('.config.yaml'))
      .filter((f) => !cases.includes(f.replace(/\.(out|config)\.yaml$/, '')));
    expect(orphans).toEqual([]);
  });

  for (const name of cases) {
    it(name, () => {
      const got = render(name);
      const outFile = path.join(dir, `${name}.out.yaml`);
      if (update) fs.writeFileSync(outFile, got);
      expect(fs.existsSync(outFile)).toBe(true);
      // Comparing text, not parsed objects, so any drift (even order) marks the golden file stale.
      expect(got).toBe(fs.readFileSync(outFile, 'utf8'));
    });
  }
});
