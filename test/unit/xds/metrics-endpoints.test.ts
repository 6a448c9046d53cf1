// /metrics on the control plane's debug server (with the CA's metrics attached) and the
// workload certificate gauge on the proxy admin's /stats/prometheus. Loopback only.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSelfSignedCa, type CaMaterial } from '../../../src/ca/authority.js';
import { caMetricsText } from '../../../src/ca/metrics.js';
import { CaStats } from '../../../src/ca/server.js';
import type { WorkloadCertificate } from '../../../src/identity/cert-agent.js';
import { workloadCertMetricsText } from '../../../src/identity/cert-agent.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createAdminHandler } from '../../../src/proxy/admin.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { startControlPlane, StaticModelSource, type ControlPlane } from '../../../src/xds/controlplane.js';
import { emptyModel } from '../../../src/xds/model.js';

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

describe('control plane /metrics', () => {
  let cp: ControlPlane;
  let ca: CaMaterial;
  const stats = new CaStats();
  let attached = false;

  beforeAll(async () => {
    ca = await createSelfSignedCa({ now: new Date(), trustDomain: 'cluster.local' });
    stats.issued = 3;
    cp = await startControlPlane({
      source: new StaticModelSource(emptyModel()), logger: silentLogger(), host: '127.0.0.1', xdsPort: 0, debugPort: 0, debounceMs: 10,
      metricsText: () => (attached ? caMetricsText(stats, ca, new Date()) : ''),
    });
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('serves Prometheus text with the control plane counters, and the CA metrics once attached', async () => {
    const before = await get(`http://${cp.debugAddress}/metrics`);
    expect(before.status).toBe(200);
    expect(before.type).toBe('text/plain; version=0.0.4');
    expect(before.body).toContain('# TYPE weft_xds_pushes_total counter\n');
    expect(before.body).toContain('weft_xds_connected_proxies 0\n');
    expect(before.body).not.toContain('weft_ca_');
    attached = true;
    const after = await get(`http://${cp.debugAddress}/metrics`);
    expect(after.body).toContain('weft_ca_certs_issued_total 3\n');
    expect(after.body).toMatch(/weft_ca_cert_expiry_seconds\{cert="root"\} \d+\n/);
    expect(after.body).toMatch(/weft_ca_cert_expiry_seconds\{cert="intermediate"\} \d+\n/);
  });
});

describe('proxy admin /stats/prometheus', () => {
  let srv: http.Server;
  let cert: WorkloadCertificate | undefined;
  beforeAll(async () => {
    const handler = createAdminHandler({
      proxy: new Proxy({ logger: silentLogger() }), logger: silentLogger(), drain: () => undefined,
      extraMetrics: () => workloadCertMetricsText(cert, Date.parse('2030-01-01T00:00:00Z')),
    });
    srv = http.createServer(handler);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('includes the workload certificate expiry gauge', async () => {
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/stats/prometheus`;
    expect((await get(url)).body).toContain('weft_workload_cert_expiry_seconds 0\n');
    cert = { notAfter: new Date('2030-01-01T01:00:00Z') } as WorkloadCertificate;
    expect((await get(url)).body).toContain('weft_workload_cert_expiry_seconds 3600\n');
  });
});
