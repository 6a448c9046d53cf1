// Golden tests for renderControlPlane: test/golden/render/<case>/input.yaml (a MeshConfig and
// a render context) -> <case>/expected.yaml. Regenerate with UPDATE_GOLDEN=1 and review the diff.
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { renderControlPlane, type RenderContext } from '../../../src/render/controlplane/render.js';
import type { MeshConfig } from '../../../src/api/meshconfig.js';
import { validateMeshConfig } from '../../../src/api/meshconfig.js';
import { repoRoot } from '../../helpers/paths.js';

const dir = path.join(repoRoot, 'test/golden/render');
const cases = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'input.yaml')));

describe('renderControlPlane golden', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(4));
  it.each(cases)('%s', (name) => {
    const input = YAML.parse(fs.readFileSync(path.join(dir, name, 'input.yaml'), 'utf8')) as { meshConfig: MeshConfig; context: RenderContext };
    expect(validateMeshConfig(input.meshConfig)).toEqual([]);
    const out = renderControlPlane(input.meshConfig, input.context);
    const text = out.map((o) => YAML.stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
    const file = path.join(dir, name, 'expected.yaml');
    if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) fs.writeFileSync(file, text);
    expect(text).toBe(fs.readFileSync(file, 'utf8'));
    // Determinism: a second render is byte-identical.
    expect(renderControlPlane(input.meshConfig, input.context)).toEqual(out);
  });
});
