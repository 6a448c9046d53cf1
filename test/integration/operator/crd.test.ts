// The MeshConfig CRD on the real API server: schema defaults, and kubectl-apply-time
// rejection of bad specs with messages that name the field and say why.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';

jest.setTimeout(120000);
import { clusterClients } from '../../helpers/cluster.js';
import { ensureMeshConfigCrd, randSuffix, testRest } from './helpers.js';
import type { KubeRest } from '../../../src/kube/apply.js';

const G = { group: 'operator.weft.dev', version: 'v1alpha1', plural: 'meshconfigs' };

describe('MeshConfig CRD (real API server)', () => {
  let rest: KubeRest;
  const clients = clusterClients();
  const created: string[] = [];
  beforeAll(async () => {
    rest = testRest();
    await ensureMeshConfigCrd(rest);
  });
  afterAll(async () => {
    for (const name of created) await clients.custom.deleteClusterCustomObject({ ...G, name }).catch(() => undefined);
    rest.close();
  });

  async function createError(spec: Record<string, unknown>): Promise<string> {
    const name = `crd-bad-${randSuffix()}`;
    try {
      await clients.custom.createClusterCustomObject({ ...G, body: { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name }, spec }, dryRun: 'All' });
    } catch (e) {
      const body = (e as { body?: unknown }).body;
      const msg = typeof body === 'string' ? (JSON.parse(body) as { message: string }).message : String((body as { message?: string })?.message ?? e);
      return msg;
    }
    throw new Error(`spec was accepted: ${JSON.stringify(spec)}`);
  }

  it('fills schema defaults on create', async () => {
    const name = `crd-ok-${randSuffix()}`;
    created.push(name);
    const obj = (await clients.custom.createClusterCustomObject({ ...G, body: { apiVersion: 'operator.weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name }, spec: { version: '1.0.0', gateways: [{ name: 'ingress', type: 'ingress' }] } } })) as {
      spec: Record<string, Record<string, unknown>> & { gateways: Array<Record<string, unknown>> };
    };
    expect(obj.spec.namespace).toBe('weft-system');
    expect(obj.spec.security).toMatchObject({ trustDomain: 'cluster.local', mtlsMode: 'PERMISSIVE', workloadCertTTL: '24h' });
    expect(obj.spec.updateStrategy).toMatchObject({ type: 'InPlace', dataPlaneRollout: { mode: 'Manual', batchSize: 1 } });
    expect(obj.spec.gateways[0]).toMatchObject({ replicas: 1, serviceType: 'ClusterIP' });
  });

  it.each([
    [{ version: '1.0.0', updateStrategy: { type: 'Canary' } }, /spec\.updateStrategy\.type: Unsupported value: "Canary": supported values: "InPlace", "RevisionBased"/],
    [{ version: '1.0.0', security: { mtlsMode: 'DISABLE' } }, /spec\.security\.mtlsMode: Unsupported value: "DISABLE"/],
    [{ version: '1.0.0', security: { workloadCertTTL: '30s' } }, /spec\.security\.workloadCertTTL: Invalid value: "30s": TTL 30s is too short: must be at least 1m/],
    [{ version: '1.0.0', security: { workloadCertTTL: '48h', rootCertTTL: '24h' } }, /spec\.security: Invalid value: .*rootCertTTL must be longer than workloadCertTTL/],
    [{ version: '1.0.0', gateways: [{ name: 'gw', type: 'ingress' }, { name: 'gw', type: 'egress' }] }, /spec\.gateways\[1\]: Duplicate value: .*"name":"gw"/],
    [{ version: '1.0.0', gateways: [{ name: 'gw', type: 'sideways' }] }, /spec\.gateways\[0\]\.type: Unsupported value: "sideways"/],
    [{ version: '1.0.0', gateways: [{ name: 'gw', type: 'ingress', ports: [{ name: 'a', port: 80, nodePort: 30000 }] }] }, /spec\.gateways\[0\]: Invalid value: .*nodePort is only allowed when serviceType is NodePort or LoadBalancer/],
    [{ version: '1.0.0', namespace: 'kube-system' }, /spec\.namespace: Invalid value: "kube-system": spec\.namespace must be a namespace of the mesh's own/],
    [{ version: 'latest' }, /spec\.version: Invalid value: "latest": spec\.version in body should match/],
    [{ version: '1.0.0', proxy: { excludeOutboundCIDRs: ['10.0.0.0'] } }, /spec\.proxy\.excludeOutboundCIDRs\[0\]: Invalid value: "10\.0\.0\.0": must be a CIDR/],
    [{ version: '1.0.0', controlPlane: { replicas: -1 } }, /spec\.controlPlane\.replicas: Invalid value: -1: spec\.controlPlane\.replicas in body should be greater than or equal to 0/],
    [{}, /spec\.version: Required value/],
  ])('rejects %j', async (spec, re) => {
    const msg = await createError(spec);
    expect(msg).toMatch(re);
  });
});
