// Runs inside a network namespace the capture test created: `proxy` (as UID 1337),
// `backend`, or `client`. Prints one JSON line with its result.
import http from 'node:http';
import { silentLogger } from '../../../src/log/logger.js';
import { Proxy } from '../../../src/proxy/proxy.js';
import { buildProxyConfig } from '../../../src/proxy/config/snapshot.js';
import { loadOrigDstAddon } from '../../../src/proxy/orig-dst.js';

const [role, ip, port] = [process.argv[2], process.argv[3] ?? '10.251.0.1', Number(process.argv[4] ?? '8080')];
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

if (role === 'backend') {
  http.createServer((req, res) => res.end(JSON.stringify({ headers: req.headers }))).listen(port, ip, () => console.log(JSON.stringify({ ready: true })));
} else if (role === 'proxy') {
  const p = new Proxy({ logger: silentLogger() });
  void p.apply(buildProxyConfig({
    listeners: [
      {
        name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, use_original_dst: { value: true },
        filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': TCP, cluster: 'blackhole' } }] }],
      },
      {
        name: `0.0.0.0_${port}`, address: { socket_address: { address: '0.0.0.0', port_value: port } }, bind_to_port: { value: false },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' }, request_headers_to_add: [{ header: { key: 'x-weft-captured', value: 'yes' } }] }] }] } } }] }],
      },
    ],
    clusters: [
      { name: 'app', type: 'STATIC', load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ip, port_value: port } } } }] }] } },
      { name: 'blackhole', type: 'STATIC', load_assignment: { cluster_name: 'blackhole', endpoints: [] } },
    ],
  })).then(() => console.log(JSON.stringify({ ready: true, addon: loadOrigDstAddon() !== undefined, uid: process.getuid?.() })));
} else if (role === 'client') {
  http.get({ host: ip, port, path: '/captured' }, (res) => {
    let body = '';
    res.on('data', (c) => { body += String(c); });
    res.on('end', () => { console.log(JSON.stringify({ status: res.statusCode, body })); process.exit(0); });
  }).on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(0); });
}
