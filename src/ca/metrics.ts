// Prometheus text exposition for the CA: certificates issued, rejections by reason, and
// seconds until the root and the intermediate expire. Pure: counters and `now` come in.
import type { CaMaterial } from './authority.js';
import type { CaStats } from './server.js';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function caMetricsText(stats: CaStats, material: CaMaterial, now: Date): string {
  const s = stats.snapshot();
  const secs = (d: Date): string => ((d.getTime() - now.getTime()) / 1000).toFixed(0);
  const lines = [
    '# HELP weft_ca_certs_issued_total Workload certificates issued.',
    '# TYPE weft_ca_certs_issued_total counter',
    `weft_ca_certs_issued_total ${s.issued}`,
    '# HELP weft_ca_rejections_total Certificate requests refused, by reason.',
    '# TYPE weft_ca_rejections_total counter',
    ...Object.entries(s.rejected).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `weft_ca_rejections_total{reason="${esc(reason)}"} ${n}`),
    '# HELP weft_ca_cert_expiry_seconds Seconds until the CA certificate expires.',
    '# TYPE weft_ca_cert_expiry_seconds gauge',
    `weft_ca_cert_expiry_seconds{cert="root"} ${secs(material.issuingRoot.notAfter)}`,
    `weft_ca_cert_expiry_seconds{cert="intermediate"} ${secs(material.signingCert.notAfter)}`,
  ];
  return `${lines.join('\n')}\n`;
}
