// Policies bound with targetRef(s) belong to Gateway API gateways / waypoints. Before their
// CRDs kept the field, the API server pruned it and the policy silently became namespace-wide;
// now the field is kept and such a policy selects no sidecar.
import { describe, expect, it } from '@jest/globals';
import { policiesFor } from '../../../src/xds/translate/rbac.js';
import { mtlsMode } from '../../../src/xds/translate/listeners.js';
import { emptyModel, type MeshModel, type ProxyContext } from '../../../src/xds/model.js';
import type { AuthorizationPolicy, PeerAuthentication } from '../../../src/api/istio/types.js';

const proxy: ProxyContext = { flavour: 'sidecar', namespace: 'shop', labels: { app: 'web' }, serviceAccount: 'web' } as ProxyContext;
const gatewayRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' };

function model(aps: AuthorizationPolicy[], pas: PeerAuthentication[] = []): MeshModel {
  return { ...emptyModel(), rootNamespace: 'weft-system', authorizationPolicies: aps, peerAuthentications: pas } as MeshModel;
}
const ap = (name: string, spec: AuthorizationPolicy['spec']): AuthorizationPolicy =>
  ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'shop' }, spec }) as AuthorizationPolicy;
const pa = (name: string, spec: PeerAuthentication['spec']): PeerAuthentication =>
  ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: 'shop' }, spec }) as PeerAuthentication;

describe('targetRef-bound policies', () => {
  it('an AuthorizationPolicy with targetRef or targetRefs selects no sidecar; a plain one still does', () => {
    const m = model([
      ap('gw-only', { targetRef: gatewayRef, action: 'DENY', rules: [{}] }),
      ap('gw-list', { targetRefs: [gatewayRef], action: 'DENY', rules: [{}] }),
      ap('ns-wide', { action: 'ALLOW', rules: [{}] }),
    ]);
    expect(policiesFor(m, proxy).map((p) => p.metadata.name)).toEqual(['ns-wide']);
  });

  it('a PeerAuthentication with targetRef does not set the namespace mode', () => {
    expect(mtlsMode(model([], [pa('gw', { targetRef: gatewayRef, mtls: { mode: 'STRICT' } })]), proxy, 8080)).toBe('PERMISSIVE');
    expect(mtlsMode(model([], [pa('ns', { mtls: { mode: 'STRICT' } })]), proxy, 8080)).toBe('STRICT');
  });
});
