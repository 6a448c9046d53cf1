// Structural check of the pod fields injectPod reads. The API server hands webhooks typed
// pods, but kube-inject and raw HTTP callers can send anything: each malformed field gets an
// InjectionError with its path instead of a TypeError deep inside the renderer.
import type { V1Pod } from '@kubernetes/client-node';
import { InjectionError } from './overrides.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(v: unknown, path: string): void {
  if (v === undefined) return;
  if (!isObj(v)) throw new InjectionError(`${path} must be a map of strings`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw new InjectionError(`${path}["${k}"] must be a string`);
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new InjectionError(`${path} must be a list`);
  return v;
}

const PORT = (v: unknown): boolean => typeof v === 'number' || typeof v === 'string';

function probe(v: unknown, path: string): void {
  if (v === undefined) return;
  if (!isObj(v)) throw new InjectionError(`${path} must be an object`);
  for (const h of ['httpGet', 'tcpSocket', 'grpc', 'exec'] as const) {
    const x = v[h];
    if (x === undefined) continue;
    if (!isObj(x)) throw new InjectionError(`${path}.${h} must be an object`);
    if (h !== 'exec' && !PORT(x.port)) throw new InjectionError(`${path}.${h}.port must be a number or a port name`);
    if (h === 'grpc' && typeof x.port !== 'number') throw new InjectionError(`${path}.grpc.port must be a number`);
    if (h === 'httpGet') {
      for (const [i, hd] of list(x.httpHeaders, `${path}.httpGet.httpHeaders`).entries()) {
        if (!isObj(hd) || typeof hd.name !== 'string' || typeof hd.value !== 'string') {
          throw new InjectionError(`${path}.httpGet.httpHeaders[${i}] must have string name and value`);
        }
      }
    }
  }
}

function container(v: unknown, path: string): void {
  if (!isObj(v)) throw new InjectionError(`${path} must be an object`);
  if (typeof v.name !== 'string' || v.name === '') throw new InjectionError(`${path}.name must be a non-empty string`);
  for (const [i, p] of list(v.ports, `${path}.ports`).entries()) {
    if (!isObj(p) || typeof p.containerPort !== 'number') throw new InjectionError(`${path}.ports[${i}].containerPort must be a number`);
  }
  for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe']) probe(v[k], `${path}.${k}`);
}

/** Throws InjectionError naming the first malformed field injectPod depends on. */
export function checkPodShape(pod: V1Pod): void {
  const p = pod as unknown;
  if (!isObj(p)) throw new InjectionError('pod must be an object');
  if (p.metadata !== undefined && !isObj(p.metadata)) throw new InjectionError('metadata must be an object');
  const md = (p.metadata ?? {}) as Record<string, unknown>;
  stringMap(md.labels, 'metadata.labels');
  stringMap(md.annotations, 'metadata.annotations');
  list(md.ownerReferences, 'metadata.ownerReferences').forEach((o, i) => {
    if (!isObj(o)) throw new InjectionError(`metadata.ownerReferences[${i}] must be an object`);
  });
  if (!isObj(p.spec)) throw new InjectionError('spec must be an object');
  const spec = p.spec;
  const containers = list(spec.containers, 'spec.containers');
  if (containers.length === 0) throw new InjectionError('pod has no spec.containers');
  containers.forEach((c, i) => container(c, `spec.containers[${i}]`));
  list(spec.initContainers, 'spec.initContainers').forEach((c, i) => container(c, `spec.initContainers[${i}]`));
  list(spec.volumes, 'spec.volumes').forEach((v, i) => {
    if (!isObj(v) || typeof v.name !== 'string') throw new InjectionError(`spec.volumes[${i}].name must be a string`);
  });
}
