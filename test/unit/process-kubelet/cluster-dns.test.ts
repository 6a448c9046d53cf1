import { describe, expect, it } from '@jest/globals';
import { nameTableFromSlices, type EndpointSliceLike } from '../../../hack/process-kubelet/cluster-dns.js';

const slice = (ns: string, svc: string | undefined, endpoints: EndpointSliceLike['endpoints'], addressType = 'IPv4'): EndpointSliceLike => ({
  metadata: { namespace: ns, labels: svc ? { 'kubernetes.io/service-name': svc } : {} }, addressType, endpoints,
});

describe('cluster DNS name table', () => {
  it('maps each service FQDN to its ready endpoint addresses, merged across slices', () => {
    const t = nameTableFromSlices([
      slice('weft-system', 'weft-controlplane', [{ addresses: ['10.88.0.9'], conditions: { ready: true } }, { addresses: ['10.88.0.7'] }]),
      slice('weft-system', 'weft-controlplane', [{ addresses: ['10.88.0.8'], conditions: { ready: false } }, { addresses: ['10.88.0.7'] }]),
      slice('app', 'reviews', []),
    ]);
    expect(t.table).toEqual({
      'weft-controlplane.weft-system.svc.cluster.local': { ips: ['10.88.0.7', '10.88.0.9'] },
      'reviews.app.svc.cluster.local': { ips: [] },
    });
  });

  it('skips slices without a service label or of another address family', () => {
    expect(nameTableFromSlices([slice('a', undefined, [{ addresses: ['10.88.0.2'] }]), slice('a', 's', [{ addresses: ['fd00::1'] }], 'IPv6')]).table).toEqual({});
  });
});
