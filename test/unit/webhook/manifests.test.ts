import { describe, expect, it } from '@jest/globals';
import YAML from 'yaml';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { injectManifests } from '../../../src/render/inject/manifests.js';

const cfg = defaultInjectionConfig({ version: '1.0.0' });
const stream = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: web:1 }]
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 80 }] }
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly }
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        metadata: { labels: { sidecar.weft.dev/inject: "false" } }
        spec:
          restartPolicy: Never
          containers: [{ name: job, image: job:1 }]
---
apiVersion: v1
kind: Pod
metadata: { name: solo }
spec:
  containers: [{ name: solo, image: solo:1 }]
`;

describe('injectManifests (kube-inject)', () => {
  it('injects pod templates and pods, leaves other objects alone, and reports each', () => {
    const { output, reports } = injectManifests(stream, cfg);
    const docs = YAML.parseAllDocuments(output).map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads arbitrary manifests
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'Service', 'CronJob', 'Pod']);
    expect(docs[0]!.spec.template.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['weft-init', 'weft-proxy']);
    expect(docs[0]!.spec.template.metadata.namespace).toBeUndefined();
    expect(docs[1]).toEqual(YAML.parseAllDocuments(stream)[1]!.toJS());
    expect(docs[2]!.spec.jobTemplate.spec.template.spec.initContainers).toBeUndefined();
    expect(docs[3]!.metadata.annotations['sidecar.weft.dev/status']).toContain('"version":"1.0.0"');
    expect(reports.map((r) => [r.kind, r.name, r.report.reason])).toEqual([
      ['Deployment', 'web', 'Injected'], ['CronJob', 'nightly', 'OptedOut'], ['Pod', 'solo', 'Injected'],
    ]);
  });

  it('is idempotent', () => {
    const once = injectManifests(stream, cfg).output;
    expect(injectManifests(once, cfg).output).toBe(once);
  });

  it('names the object when injection fails, and reports broken YAML', () => {
    const bad = 'kind: Pod\nmetadata: { name: p, annotations: { sidecar.weft.dev/logLevel: chatty } }\nspec: { containers: [{ name: a, image: a }] }\n';
    expect(() => injectManifests(bad, cfg)).toThrow('Pod/p: annotation sidecar.weft.dev/logLevel: "chatty" is not a log level');
    expect(() => injectManifests('kind: Pod\n  bad: [', cfg)).toThrow('YAML document 1');
  });
});
