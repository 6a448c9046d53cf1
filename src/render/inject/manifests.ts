// Manual injection (`weftctl kube-inject -f deploy.yaml`): the same injectPod, applied to Pods
// and to the pod templates of workload kinds in a multi-document YAML stream. Pure.
import type { V1ObjectMeta, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import YAML from 'yaml';
import type { InjectionConfig } from '../../api/injection.js';
import { injectPod, InjectionError, type InjectionReport } from './inject.js';

export interface ManifestReport {
  kind: string;
  name: string;
  report: InjectionReport;
}

export interface ManifestInjection {
  /** The stream with pods and templates injected; other objects unchanged. */
  output: string;
  reports: ManifestReport[];
}

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Template { metadata?: V1ObjectMeta; spec?: V1PodSpec }

function templateOf(doc: Obj): Template | undefined {
  const spec = doc.spec;
  if (!isObj(spec)) return undefined;
  if (doc.kind === 'CronJob') {
    const jt = spec.jobTemplate;
    return isObj(jt) && isObj(jt.spec) && isObj(jt.spec.template) ? (jt.spec.template as Template) : undefined;
  }
  if (TEMPLATE_KINDS.has(String(doc.kind))) return isObj(spec.template) ? (spec.template as Template) : undefined;
  return undefined;
}

function injectObject(doc: unknown, cfg: InjectionConfig, reports: ManifestReport[]): unknown {
  if (!isObj(doc)) return doc;
  const kind = String(doc.kind ?? '');
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const name = String(meta.name ?? meta.generateName ?? '');
  const where = `${kind}/${name}`;
  const run = (pod: V1Pod): V1Pod => {
    try {
      const r = injectPod(pod, cfg);
      reports.push({ kind, name, report: r.report });
      return r.pod;
    } catch (e) {
      if (e instanceof InjectionError) throw new InjectionError(`${where}: ${e.message}`, { object: where });
      throw e;
    }
  };
  if (kind === 'List' && Array.isArray(doc.items)) return { ...doc, items: doc.items.map((i) => injectObject(i, cfg, reports)) };
  if (kind === 'Pod') return run(doc as V1Pod);
  const tpl = templateOf(doc);
  if (!tpl) return doc;
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  const asPod: V1Pod = { metadata: { ...(tpl.metadata ?? {}), ...(namespace && !tpl.metadata?.namespace ? { namespace } : {}) }, spec: tpl.spec! };
  const injected = run(asPod);
  if (namespace && !tpl.metadata?.namespace) delete injected.metadata!.namespace;
  const out = structuredClone(doc);
  const target = templateOf(out)!;
  target.metadata = injected.metadata;
  target.spec = injected.spec;
  return out;
}

/** Injects every Pod and workload pod template in `text`. Throws InjectionError naming the object. */
export function injectManifests(text: string, cfg: InjectionConfig): ManifestInjection {
  const docs = YAML.parseAllDocuments(text);
  const reports: ManifestReport[] = [];
  const outputs: string[] = [];
  for (const [i, d] of docs.entries()) {
    if (d.errors.length) throw new InjectionError(`YAML document ${i + 1}: ${d.errors[0]!.message}`);
    const value: unknown = d.toJS();
    if (value === null || value === undefined) continue;
    outputs.push(YAML.stringify(injectObject(value, cfg, reports), { lineWidth: 0 }));
  }
  return { output: outputs.join('---\n'), reports };
}
