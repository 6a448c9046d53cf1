// samples/ is what a user applies to try the mesh on the process kubelet: every file must
// parse, every image must be in the process kubelet's image table (with its fixture built into
// dist/), every pod must be able to land on the process node, and the Bookinfo routing files
// must only name subsets that exist and select a Deployment.
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { resolveImage, type ImageContext } from '../../../hack/process-kubelet/images.js';

const root = process.cwd();
const samplesDir = path.join(root, 'samples');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { nodeSelector?: Record<string, string>; tolerations?: Array<Record<string, string>>; containers: Array<{ name: string; image: string; ports?: Array<{ name?: string; containerPort: number }> }> };
}

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return e.name.endsWith('.yaml') ? [p] : [];
  });
}

/** All objects of one file; fails with the file and the parser's message on bad YAML. */
function load(file: string): Obj[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).flatMap((d) => {
    if (d.errors.length > 0) throw new Error(`${path.relative(root, file)}: ${d.errors[0]!.message}`);
    const o = d.toJS() as Obj | null;
    return o === null ? [] : [o];
  });
}

const files = yamlFiles(samplesDir).sort();
const all = files.map((f) => ({ file: path.relative(root, f), objs: load(f) }));
const objs = all.flatMap((a) => a.objs);
const deployments = objs.filter((o) => o.kind === 'Deployment');
const template = (d: Obj): PodTemplate => (d.spec as { template: PodTemplate }).template;
const ctx: ImageContext = { repoRoot: root, weftVersion: '0.0.0-unused', versionCacheDir: path.join(root, 'no-version-cache'), nodePath: process.execPath };

describe('samples/', () => {
  it('has the Bookinfo, gRPC echo and TCP echo samples', () => {
    expect(all.map((a) => a.file)).toEqual(expect.arrayContaining(['samples/bookinfo/bookinfo.yaml', 'samples/grpc-echo/grpc-echo.yaml', 'samples/tcp-echo/tcp-echo.yaml', 'samples/tcp-echo/tcp-echo-all-v1.yaml', 'samples/tcp-echo/tcp-echo-20-v2.yaml']));
  });

  it.each(all.map((a) => [a.file, a.objs] as const))('%s parses into named Kubernetes objects', (_file, list) => {
    expect(list.length).toBeGreaterThan(0);
    for (const o of list) expect([typeof o.apiVersion, typeof o.kind, typeof o.metadata?.name]).toEqual(['string', 'string', 'string']);
  });

  it.each(deployments.map((d) => [d.metadata.name, d] as const))('Deployment %s runs built fixtures on the process node', (_name, d) => {
    const t = template(d);
    expect(t.spec.nodeSelector).toEqual({ 'weft.dev/process-kubelet': 'true' });
    expect(t.spec.tolerations).toContainEqual({ key: 'weft.dev/process-kubelet', operator: 'Exists', effect: 'NoSchedule' });
    for (const c of t.spec.containers) {
      const img = resolveImage(c.image, ctx);
      if (!img.ok) throw new Error(img.message);
      const script = img.entrypoint[1] ?? '';
      expect({ image: c.image, script, built: fs.existsSync(script) }).toEqual({ image: c.image, script, built: true });
    }
  });

  it('every Service selects a Deployment and names its ports for protocol detection', () => {
    for (const s of objs.filter((o) => o.kind === 'Service')) {
      const spec = s.spec as { selector: Record<string, string>; ports: Array<{ name: string }> };
      const selected = deployments.filter((d) => Object.entries(spec.selector).every(([k, v]) => template(d).metadata.labels[k] === v));
      expect({ service: s.metadata.name, selects: selected.length > 0 }).toEqual({ service: s.metadata.name, selects: true });
      for (const p of spec.ports) expect(p.name).toMatch(/^(http|grpc|tcp)(-|$)/);
    }
    const portOf = (name: string): string | undefined => (objs.find((o) => o.kind === 'Service' && o.metadata.name === name)?.spec as { ports: Array<{ name: string }> }).ports[0]?.name;
    expect([portOf('productpage'), portOf('reviews'), portOf('grpc-echo'), portOf('tcp-echo')]).toEqual(['http', 'http', 'grpc', 'tcp']);
  });

  it('Bookinfo has Istio\'s Deployments with app and version labels', () => {
    const bookinfo = all.find((a) => a.file === 'samples/bookinfo/bookinfo.yaml')!.objs;
    const names = bookinfo.filter((o) => o.kind === 'Deployment').map((d) => `${d.metadata.name} ${template(d).metadata.labels.app}/${template(d).metadata.labels.version}`);
    expect(names).toEqual(['details-v1 details/v1', 'ratings-v1 ratings/v1', 'reviews-v1 reviews/v1', 'reviews-v2 reviews/v2', 'reviews-v3 reviews/v3', 'productpage-v1 productpage/v1']);
    expect(bookinfo.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name)).toEqual(['bookinfo-details', 'bookinfo-ratings', 'bookinfo-reviews', 'bookinfo-productpage']);
  });

  it('every VirtualService route goes to a DestinationRule subset that selects a Bookinfo Deployment', () => {
    const net = path.join(samplesDir, 'bookinfo', 'networking');
    const subsets = new Map<string, Record<string, string>>(); // "host/subset" -> labels
    for (const dr of load(path.join(net, 'destination-rule-all.yaml'))) {
      const spec = dr.spec as { host: string; subsets: Array<{ name: string; labels: Record<string, string> }> };
      for (const s of spec.subsets) subsets.set(`${spec.host}/${s.name}`, s.labels);
    }
    const vsFiles = ['virtual-service-all-v1.yaml', 'virtual-service-reviews-90-10.yaml', 'virtual-service-reviews-jason-v2-v3.yaml'];
    const routed: string[] = [];
    for (const f of vsFiles) {
      for (const vs of load(path.join(net, f))) {
        const http = (vs.spec as { http: Array<{ route: Array<{ destination: { host: string; subset: string } }> }> }).http;
        for (const d of http.flatMap((h) => h.route.map((r) => r.destination))) {
          const labels = subsets.get(`${d.host}/${d.subset}`);
          const runs = deployments.some((dep) => template(dep).metadata.labels.app === d.host && Object.entries(labels ?? { missing: 'subset' }).every(([k, v]) => template(dep).metadata.labels[k] === v));
          routed.push(`${f}: ${d.host}/${d.subset} ${runs ? 'runs' : 'has no Deployment'}`);
        }
      }
    }
    expect(routed.filter((r) => !r.endsWith(' runs'))).toEqual([]);
    expect(routed).toContain('virtual-service-reviews-jason-v2-v3.yaml: reviews/v2 runs');
  });
});
