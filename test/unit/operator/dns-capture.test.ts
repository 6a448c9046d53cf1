import { describe, expect, it } from '@jest/globals';
import { renderControlPlane } from '../../../src/render/controlplane/render.js';
import { validateMeshConfig, type MeshConfig } from '../../../src/api/meshconfig.js';

const mc = (proxy: Record<string, unknown>): MeshConfig => ({
  apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, spec: { version: '0.1.0', proxy },
}) as MeshConfig;

function injectionJson(m: MeshConfig): string {
  const texts = renderControlPlane(m, { operatorVersion: '0.1.0' } as never)
    .filter((o) => o.kind === 'ConfigMap')
    .flatMap((o) => Object.values((o as { data?: Record<string, string> }).data ?? {}));
  const t = texts.find((x) => x.includes('"captureDns"'));
  if (!t) throw new Error('no injection config rendered');
  return t;
}

describe('spec.proxy.dnsCapture', () => {
  it('is off by default and switches the injector to DNS capture when set', () => {
    expect(injectionJson(mc({}))).toContain('"captureDns":false');
    expect(injectionJson(mc({ dnsCapture: true }))).toContain('"captureDns":true');
  });
  it('must be a boolean', () => {
    expect(validateMeshConfig(mc({ dnsCapture: 'yes' })).map((i) => i.path)).toContain('spec.proxy.dnsCapture');
  });
});
