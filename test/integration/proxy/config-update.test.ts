// A config push must reach connections that are already open. Filter chains are chosen per
// connection, so without re-resolution a keep-alive connection would keep the RBAC it was
// accepted with for as long as its client keeps it busy: a new AuthorizationPolicy would
// never apply to it (found by the mesh e2e, where sidecars keep upstream connections warm).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { Proxy } from '../../../src/proxy/proxy.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { cla, edsCluster, HCM_TYPE, routeConfig } from '../../unit/proxy/fixtures.js';
import { freePort, httpBackend, startProxy, type Backend } from './helpers.js';

const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const DENY_ADMIN = {
  name: 'envoy.filters.http.rbac.deny',
  typed_config: { '@type': RBAC_TYPE, rules: { action: 'DENY', policies: { admin: { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } } } },
};

function listener(port: number, filters: Record<string, unknown>[]): ListenerShape {
  return {
    name: 'in', address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM_TYPE, stat_prefix: 'in', rds: { route_config_name: 'r' }, http_filters: [...filters, ROUTER] } }] }],
  };
}

/** One keep-alive socket for every request, so the test proves the *same* connection sees the push. */
const oneSocket = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(port: number, path: string): Promise<{ status: number; socketPort: number | undefined }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, path, agent: oneSocket }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socketPort: r.socket?.localPort }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('config updates reach open keep-alive connections', () => {
  let backend: Backend;
  let proxy: Proxy;
  let port: number;
  const resources = (filters: Record<string, unknown>[]): Parameters<typeof buildProxyConfig>[0] => ({
    listeners: [listener(port, filters)],
    routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster: 'b' } }])],
    clusters: [edsCluster('b')], endpoints: [cla('b', [backend.port])],
  });

  beforeAll(async () => {
    backend = await httpBackend('b');
    port = await freePort();
    proxy = await startProxy(resources([]));
  });
  afterAll(async () => {
    oneSocket.destroy();
    await proxy?.close();
    await backend?.close();
  });

  it('a DENY policy pushed while the connection is open refuses its next request; removing it admits again', async () => {
    const first = await get(port, '/admin');
    expect(first.status).toBe(200);
    await proxy.apply(buildProxyConfig(resources([DENY_ADMIN])));
    const denied = await get(port, '/admin');
    expect(denied.status).toBe(403);
    expect(denied.socketPort).toBe(first.socketPort); // same connection, new policy
    expect((await get(port, '/other')).status).toBe(200);
    await proxy.apply(buildProxyConfig(resources([])));
    const again = await get(port, '/admin');
    expect(again.status).toBe(200);
    expect(again.socketPort).toBe(first.socketPort);
  });
});
