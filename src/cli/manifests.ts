// Reading Kubernetes YAML: multi-document files, `-` for stdin, directories (*.yaml|*.yml|*.json),
// and kind: List. Parsing is pure (parseManifests); file access is in readManifestFiles.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CliError, EXIT } from './io.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface SourcedManifest {
  obj: Manifest;
  /** file:docIndex, for messages. */
  source: string;
}

/** Parses one YAML/JSON text (multi-doc) into objects. Throws CliError naming source and document on bad input. */
export function parseManifests(text: string, source: string): SourcedManifest[] {
  const out: SourcedManifest[] = [];
  const docs = parseAllDocuments(text);
  docs.forEach((doc, i) => {
    const where = `${source}#${i + 1}`;
    if (doc.errors.length > 0) throw new CliError(`${where}: invalid YAML: ${doc.errors[0]?.message ?? 'parse error'}`, EXIT.usage);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) return; // empty document (e.g. trailing ---)
    for (const o of expandList(v, where)) out.push({ obj: o, source: where });
  });
  return out;
}

function expandList(v: unknown, where: string): Manifest[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError(`${where}: a document must be a Kubernetes object (a mapping with apiVersion and kind)`, EXIT.usage);
  const o = v as Record<string, unknown>;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    return (Array.isArray(o.items) ? o.items : []).flatMap((it) => expandList(it, where));
  }
  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') throw new CliError(`${where}: missing apiVersion`, EXIT.usage);
  if (typeof o.kind !== 'string' || o.kind === '') throw new CliError(`${where}: missing kind`, EXIT.usage);
  const md = o.metadata;
  if (md !== undefined && (typeof md !== 'object' || md === null || Array.isArray(md))) throw new CliError(`${where}: metadata must be a mapping`, EXIT.usage);
  return [{ ...o, metadata: (md as Manifest['metadata']) ?? {} } as Manifest];
}

/** Reads files, directories (non-recursive, sorted) and `-` (stdin text given by the caller). */
export function readManifestFiles(paths: readonly string[], readStdin: () => string = () => readFileSync(0, 'utf8')): SourcedManifest[] {
  const out: SourcedManifest[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(...parseManifests(readStdin(), '<stdin>'));
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CliError(`${p}: no such file or directory`, EXIT.usage);
    }
    if (st.isDirectory()) {
      const files = readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
      for (const f of files) out.push(...parseManifests(readFileSync(path.join(p, f), 'utf8'), path.join(p, f)));
    } else {
      out.push(...parseManifests(readFileSync(p, 'utf8'), p));
    }
  }
  return out;
}
