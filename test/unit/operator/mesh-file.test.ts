import { describe, expect, it } from '@jest/globals';
import { parseMeshFile } from '../../../src/config/mesh-file.js';
import { renderControlPlane } from '../../../src/render/controlplane/render.js';
import type { MeshConfig } from '../../../src/api/meshconfig.js';

describe('parseMeshFile (the control plane reads what the operator renders)', () => {
  it('reads the rendered mesh.json of a MeshConfig', () => {
    const mc = {
      apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
      spec: { version: '0.1.0', security: { trustDomain: 'corp.example', workloadCertTTL: '2h', rootCertTTL: '87600h' } },
    } as MeshConfig;
    const cm = renderControlPlane(mc, { operatorVersion: '0.1.0' } as never).find((o) => o.kind === 'ConfigMap' && JSON.stringify(o).includes('mesh.json')) as { data: Record<string, string> } | undefined;
    expect(cm).toBeDefined();
    expect(parseMeshFile(cm!.data['mesh.json']!, 'mesh.json')).toEqual({ revision: expect.any(String), trustDomain: 'corp.example', workloadCertTtlMs: 2 * 3600_000, rootCertTtlMs: 87600 * 3600_000 });
  });

  it('ignores fields it does not use, so an older control plane runs with a newer operator', () => {
    expect(parseMeshFile('{"tracing":{"sampling":1},"newThing":true}', 'f')).toEqual({});
  });

  it.each([
    ['not JSON', '{', /f is not valid JSON/],
    ['an array', '[]', /must hold a JSON object/],
    ['a bad duration', '{"workloadCertTTL":"soon"}', /workloadCertTTL must be a duration/],
    ['a zero duration', '{"workloadCertTTL":"0s"}', /workloadCertTTL must be a duration/],
    ['a non-string trust domain', '{"trustDomain":7}', /trustDomain must be a non-empty string/],
  ])('refuses %s with a message naming the field', (_what, text, msg) => {
    expect(() => parseMeshFile(text, 'f')).toThrow(msg);
  });
});
