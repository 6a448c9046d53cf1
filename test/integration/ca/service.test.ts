// The CA as the control plane runs it: Secret created in the namespace, trust bundle
// published as a ConfigMap, gRPC over TLS; a cert agent that knows only the ConfigMap's
// roots and its token gets a certificate.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CA_TOKEN_AUDIENCE, TRUST_BUNDLE_CONFIGMAP, spiffeId } from '../../../src/api/sidecar.js';
import { silentLogger } from '../../../src/log/logger.js';
import { TRUST_BUNDLE_KEY } from '../../../src/ca/bundle.js';
import { runCaService, type CaService } from '../../../src/ca/service.js';
import { GrpcCaClient } from '../../../src/identity/ca-client.js';
import { CertAgent } from '../../../src/identity/cert-agent.js';
import { createTestNamespace, type TestNamespace } from '../../helpers/cluster.js';

describe('runCaService (real API server)', () => {
  let mesh: TestNamespace;
  let app: TestNamespace;
  let ca: CaService;

  beforeAll(async () => {
    mesh = await createTestNamespace('weft-ca-mesh');
    app = await createTestNamespace('weft-ca-app');
    ca = await runCaService({
      clients: mesh.clients,
      namespace: mesh.name,
      port: 0,
      logger: silentLogger(),
      tls: { dnsNames: [`weft-ca.${mesh.name}.svc`] },
      bundleNamespaces: async () => [app.name],
    });
  });

  afterAll(async () => {
    await ca?.close();
    await app?.cleanup();
    await mesh?.cleanup();
  });

  it('creates its Secret, publishes the bundle, and issues over TLS to an agent that trusts only the ConfigMap', async () => {
    const secret = await mesh.clients.core.readNamespacedSecret({ name: 'weft-ca-secret', namespace: mesh.name });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem', 'root-key.pem']);
    const cm = await app.clients.core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: app.name });
    const roots = cm.data?.[TRUST_BUNDLE_KEY] ?? '';
    expect(roots).toContain('BEGIN CERTIFICATE');

    await app.clients.core.createNamespacedServiceAccount({ namespace: app.name, body: { metadata: { name: 'web' } } });
    const tr = await app.clients.core.createNamespacedServiceAccountToken({
      name: 'web',
      namespace: app.name,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [CA_TOKEN_AUDIENCE], expirationSeconds: 600 } },
    });
    const client = new GrpcCaClient({ address: ca.server.address, token: async () => tr.status!.token!, rootCertPem: roots, serverName: `weft-ca.${mesh.name}.svc` });
    const agent = new CertAgent({ ca: client, namespace: app.name, serviceAccount: 'web', logger: silentLogger() });
    try {
      const cert = await agent.start();
      expect(cert.spiffeId).toBe(spiffeId('cluster.local', app.name, 'web'));
      expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(24 * 3600_000); // the default TTL
    } finally {
      agent.stop();
      client.close();
    }
    // A recheck with nothing changed reloads nothing and rewrites nothing.
    expect(await ca.recheck()).toBe(false);
  });
});
