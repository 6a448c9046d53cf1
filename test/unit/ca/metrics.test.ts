import { describe, expect, it } from '@jest/globals';
import { createSelfSignedCa } from '../../../src/ca/authority.js';
import { caMetricsText } from '../../../src/ca/metrics.js';
import { CaStats } from '../../../src/ca/server.js';
import { workloadCertMetricsText } from '../../../src/identity/cert-agent.js';

describe('CA metrics', () => {
  it('exposes issued, rejections by reason, and time to expiry of root and intermediate', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const ca = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
    const stats = new CaStats();
    stats.issued = 7;
    stats.reject('csr_signature');
    stats.reject('unauthenticated');
    stats.reject('csr_signature');
    const text = caMetricsText(stats, ca, now);
    expect(text).toContain('weft_ca_certs_issued_total 7\n');
    expect(text).toContain('weft_ca_rejections_total{reason="csr_signature"} 2\n');
    expect(text).toContain('weft_ca_rejections_total{reason="unauthenticated"} 1\n');
    expect(text).toContain(`weft_ca_cert_expiry_seconds{cert="root"} ${3650 * 86400}\n`);
    expect(text).toContain(`weft_ca_cert_expiry_seconds{cert="intermediate"} ${365 * 86400}\n`);
    expect(workloadCertMetricsText(undefined, 0)).toContain('weft_workload_cert_expiry_seconds 0\n');
  });
});
