// Shared test fixtures for the webhook unit tests: a realistic pod and AdmissionReview builders.
import type { V1Pod } from '@kubernetes/client-node';

export function samplePod(extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-5d8f7-', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '5d8f7' }, ...extra },
    spec: {
      serviceAccountName: 'web',
      containers: [{
        name: 'web',
        image: 'registry.test/web:1.4.2',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
        livenessProbe: { httpGet: { path: '/live', port: 8080 } },
        resources: { requests: { cpu: '100m', memory: '64Mi' } },
      }],
    },
  };
}

export function reviewBody(object: unknown, over: Record<string, unknown> = {}, kind = { group: '', version: 'v1', kind: 'Pod' }): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'b1f0c7d2-0000-4000-8000-000000000001',
      kind,
      resource: { group: kind.group, version: kind.version, resource: `${kind.kind.toLowerCase()}s` },
      namespace: 'shop',
      operation: 'CREATE',
      object,
      ...over,
    },
  });
}
