import { describe, expect, it } from '@jest/globals';
import { renderControlPlane } from '../../../src/render/controlplane/render.js';
import { validateMeshConfig, type MeshConfig } from '../../../src/api/meshconfig.js';

const PROC_NODE = { key: 'weft.dev/process-kubelet', operator: 'Exists', effect: 'NoSchedule' };
const mc = (spec: Record<string, unknown>): MeshConfig => ({
  apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, spec: { version: '0.1.0', ...spec },
}) as MeshConfig;

function podSpecs(m: MeshConfig): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const o of renderControlPlane(m, { operatorVersion: '0.1.0' } as never)) {
    if (o.kind !== 'Deployment') continue;
    out[o.metadata.name] = (o as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec;
  }
  return out;
}

describe('spec.controlPlane / spec.gateways[] nodeSelector and tolerations', () => {
  it('are left out of the pod specs by default', () => {
    for (const s of Object.values(podSpecs(mc({ gateways: [{ name: 'ingress', type: 'ingress' }] })))) {
      expect(s).not.toHaveProperty('nodeSelector');
      expect(s).not.toHaveProperty('tolerations');
    }
  });

  it('reach the control plane and each gateway Deployment', () => {
    const specs = podSpecs(mc({
      controlPlane: { nodeSelector: { 'kubernetes.io/hostname': 'weft-proc-0' }, tolerations: [PROC_NODE] },
      gateways: [{ name: 'ingress', type: 'ingress', tolerations: [{ key: 'dedicated', value: 'edge', effect: 'NoExecute', tolerationSeconds: 30 }] }, { name: 'egress', type: 'egress' }],
    }));
    expect(specs['weft-controlplane-mesh']).toMatchObject({ nodeSelector: { 'kubernetes.io/hostname': 'weft-proc-0' }, tolerations: [PROC_NODE] });
    expect(specs['weft-ingress']).toMatchObject({ tolerations: [{ key: 'dedicated', value: 'edge', effect: 'NoExecute', tolerationSeconds: 30 }] });
    expect(specs['weft-ingress']).not.toHaveProperty('nodeSelector');
    expect(specs['weft-egress']).not.toHaveProperty('tolerations');
  });

  it('are validated with the API server rules, naming the field', () => {
    const issues = (spec: Record<string, unknown>): string[] => validateMeshConfig(mc(spec)).map((i) => `${i.path}: ${i.message}`);
    expect(issues({ controlPlane: { tolerations: [PROC_NODE], nodeSelector: { a: 'b' } } })).toEqual([]);
    expect(issues({ controlPlane: { tolerations: [{ key: 'k', operator: 'Exists', value: 'v' }] } })).toEqual(['spec.controlPlane.tolerations[0].value: must be empty when operator is Exists']);
    expect(issues({ controlPlane: { tolerations: [{ value: 'v' }] } })).toEqual(['spec.controlPlane.tolerations[0].key: is required unless operator is Exists']);
    expect(issues({ controlPlane: { tolerations: [{ key: 'k', effect: 'NoSchedule', tolerationSeconds: 5 }] } })).toEqual(['spec.controlPlane.tolerations[0].tolerationSeconds: is only allowed when effect is NoExecute']);
    expect(issues({ controlPlane: { tolerations: [{ key: 'k', effect: 'Sometimes' }] } })[0]).toMatch(/^spec.controlPlane.tolerations\[0\].effect: unsupported value "Sometimes"/);
    expect(issues({ gateways: [{ name: 'in', type: 'ingress', nodeSelector: { 'bad key!': 'x' } }] })).toEqual(['spec.gateways[0].nodeSelector: invalid label key "bad key!"']);
    expect(issues({ gateways: [{ name: 'in', type: 'ingress', tolerations: [{ key: 'k', colour: 'red' }] }] })[0]).toMatch(/^spec.gateways\[0\].tolerations\[0\].colour: unknown field/);
  });
});
