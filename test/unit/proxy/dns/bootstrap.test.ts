import { describe, expect, it } from '@jest/globals';
import { bootstrapFromEnv } from '../../../../src/proxy/bootstrap.js';
import { isWeftError } from '../../../../src/errors/errors.js';

const env = { WEFT_POD_NAME: 'p', WEFT_POD_NAMESPACE: 'ns', WEFT_XDS_ADDRESS: 'cp:15010' };

describe('DNS proxy bootstrap', () => {
  it('is off unless WEFT_DNS_CAPTURE=true, and never for gateways', () => {
    expect(bootstrapFromEnv(env, 'sidecar').dns).toBeUndefined();
    expect(bootstrapFromEnv({ ...env, WEFT_DNS_CAPTURE: 'false' }, 'sidecar').dns).toBeUndefined();
    expect(bootstrapFromEnv({ ...env, WEFT_DNS_CAPTURE: 'true' }, 'router').dns).toBeUndefined();
  });

  it('listens on 127.0.0.1:15053 and reads /etc/resolv.conf by default', () => {
    expect(bootstrapFromEnv({ ...env, WEFT_DNS_CAPTURE: 'true' }, 'sidecar').dns).toEqual({
      host: '127.0.0.1', port: 15053, resolvConfPath: '/etc/resolv.conf', clusterDomain: 'cluster.local',
    });
  });

  it('takes explicit upstreams, resolv.conf path and cluster domain', () => {
    const b = bootstrapFromEnv({ ...env, WEFT_DNS_CAPTURE: 'true', WEFT_DNS_UPSTREAMS: '127.0.0.9:5353', WEFT_DNS_RESOLV_CONF: '/tmp/r', WEFT_CLUSTER_DOMAIN: 'corp.local' }, 'sidecar');
    expect(b.dns).toEqual({ host: '127.0.0.1', port: 15053, resolvConfPath: '/tmp/r', upstreams: [{ address: '127.0.0.9', port: 5353 }], clusterDomain: 'corp.local' });
  });

  it.each([
    ['a flag that is not true/false', { WEFT_DNS_CAPTURE: 'yes' }, 'expected true or false'],
    ['an upstream that is not an IP', { WEFT_DNS_CAPTURE: 'true', WEFT_DNS_UPSTREAMS: 'kube-dns:53' }, 'DNS upstream'],
  ])('rejects %s', (_what, extra, message) => {
    let err: unknown;
    try { bootstrapFromEnv({ ...env, ...extra }, 'sidecar'); } catch (e) { err = e; }
    expect(isWeftError(err, 'WEFT_E_INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(message);
  });
});
