// Runs inside a network namespace the capture tests created: `proxy` or `passthrough-proxy`
// (as UID 1337), `backend`, `tcp-backend`, `client` or `tcp-client`. Prints one JSON line
// with its result.
import http from 'node:http';
import net from 'node:net';
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
} else if (role === 'passthrough-proxy') {
  // Istio's sidecar shape with no service known: virtualOutbound's catch-all and the HTTP
  // listener's allow_any route both go to PassthroughCluster (ORIGINAL_DST).
  const p = new Proxy({ logger: silentLogger() });
  void p.apply(buildProxyConfig({
    listeners: [
      {
        name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, use_original_dst: { value: true },
        filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': TCP, cluster: 'PassthroughCluster' } }] }],
      },
      {
        // Inbound capture: whatever reaches this pod goes to the local app on [::1]:8081.
        name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } }, use_original_dst: { value: true },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, route_config: { name: 'in', virtual_hosts: [{ name: 'in', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'inbound-app' }, request_headers_to_add: [{ header: { key: 'x-weft-inbound', value: 'yes' } }] }] }] } } }] }],
      },
      {
        name: `0.0.0.0_${port}`, address: { socket_address: { address: '0.0.0.0', port_value: port } }, bind_to_port: { value: false },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, route_config: { name: 'r', virtual_hosts: [{ name: 'allow_any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' }, request_headers_to_add: [{ header: { key: 'x-weft-captured', value: 'yes' } }] }] }] } } }] }],
      },
    ],
    clusters: [
      { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 2 } },
      { name: 'inbound-app', type: 'STATIC', load_assignment: { cluster_name: 'inbound-app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '::1', port_value: 8081 } } } }] }] } },
    ],
  } as never)).then(() => console.log(JSON.stringify({ ready: true, addon: loadOrigDstAddon() !== undefined, uid: process.getuid?.() })));
} else if (role === 'tcp-backend') {
  net.createServer((s) => { s.write(`hello from ${ip}\n`); s.pipe(s); }).listen(port, ip, () => console.log(JSON.stringify({ ready: true })));
} else if (role === 'tcp-client') {
  // Server-first: read the greeting, send a line, read its echo, close.
  const s = net.connect({ host: ip, port });
  let got = '';
  const t = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', got })); process.exit(0); }, 5000);
  s.on('data', (c) => {
    got += String(c);
    if (got.endsWith('\n') && !got.includes('ping')) s.write('ping\n');
    else if (got.includes('ping\n')) { clearTimeout(t); console.log(JSON.stringify({ got })); s.destroy(); process.exit(0); }
  });
  s.on('error', (e) => { clearTimeout(t); console.log(JSON.stringify({ error: e.message, got })); process.exit(0); });
  s.on('close', () => { clearTimeout(t); console.log(JSON.stringify({ error: 'closed', got })); process.exit(0); });
} else if (role === 'client') {
  http.get({ host: ip, port, path: '/captured' }, (res) => {
    let body = '';
    res.on('data', (c) => { body += String(c); });
    res.on('end', () => { console.log(JSON.stringify({ status: res.statusCode, body })); process.exit(0); });
  }).on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(0); });
}
