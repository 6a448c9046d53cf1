// Pure translation: model + proxy context -> the Envoy resources of one node.
import type { MeshModel, ProxyContext } from '../model.js';
import type { SnapshotInput } from '../snapshot.js';
import { buildClusters } from './clusters.js';
import { buildEndpoints } from './endpoints.js';
import { buildListeners } from './listeners.js';
import { buildNameTable } from './nametable.js';
import { buildRoutes } from './routes.js';

export { buildClusters } from './clusters.js';
export { buildEndpoints } from './endpoints.js';
export { buildListeners } from './listeners.js';
export { buildRoutes } from './routes.js';
export { buildNameTable } from './nametable.js';
export { buildRbacFilters } from './rbac.js';
export { buildJwtFilters, buildJwksClusters } from './jwt.js';

export function buildResources(model: MeshModel, proxy: ProxyContext): SnapshotInput {
  return {
    clusters: buildClusters(model, proxy),
    endpoints: buildEndpoints(model, proxy),
    listeners: buildListeners(model, proxy),
    routes: buildRoutes(model, proxy),
    // Only sidecars run the DNS proxy; the server sends NDS only to those that subscribe.
    ...(proxy.flavour === 'sidecar' ? { nameTables: [buildNameTable(model, proxy)] } : {}),
  };
}
