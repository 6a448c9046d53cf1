// The control plane's real ADS server (src/xds) in a process of its own, so a test can SIGKILL it:
//   node ads-child.js <port|0> '<json AdsChildSpec>'   -> prints "PORT <n>" once it listens
// It serves one snapshot to one node: an HTTP listener on loopback whose route goes to `cluster`,
// with clusters a and b (EDS) pointing at the given backend ports.
import * as grpc from '@grpc/grpc-js';
import type { EnvoyResource } from '../../../src/envoy/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { AdsServer } from '../../../src/xds/server.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import { makeSnapshot } from '../../../src/xds/snapshot.js';
import { cla, edsCluster, httpListener, routeConfig } from '../../unit/proxy/fixtures.js';

export interface AdsChildSpec { node: string; label: string; listenPort: number; cluster: 'a' | 'b'; backends: { a: number; b: number } }

const [portArg, specArg] = process.argv.slice(2);
const spec = JSON.parse(specArg ?? '{}') as AdsChildSpec;
const cache = new SnapshotCache();
cache.setSnapshot(spec.node, makeSnapshot(spec.label, {
  listeners: [httpListener('l', spec.listenPort, 'r') as EnvoyResource],
  routes: [routeConfig('r', [{ match: { prefix: '/' }, route: { cluster: spec.cluster } }]) as EnvoyResource],
  clusters: [edsCluster('a') as EnvoyResource, edsCluster('b') as EnvoyResource],
  endpoints: [cla('a', [spec.backends.a]) as EnvoyResource, cla('b', [spec.backends.b]) as EnvoyResource],
}));
const server = new grpc.Server();
new AdsServer({ cache, logger: silentLogger() }).register(server);
server.bindAsync(`127.0.0.1:${Number(portArg ?? 0)}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) { console.error(err.message); process.exit(1); }
  console.log(`PORT ${port}`);
});
