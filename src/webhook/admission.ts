// AdmissionReview v1 I/O, without HTTP: parse an untrusted body into a request, and build
// responses. Every malformed input maps to a BadReview with a specific message (HTTP 400);
// nothing here throws anything else.
import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** The fields of AdmissionRequest the webhook reads. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponse;
}

/** A body that is not a usable AdmissionReview v1: answered with HTTP 400 and this message. */
export class BadReview extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadReview';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the raw body. Throws BadReview naming exactly what is wrong. */
export function parseAdmissionReview(body: Buffer | string): AdmissionRequest {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') throw new BadReview('empty body: expected an AdmissionReview JSON object');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BadReview(`body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new BadReview('body must be a JSON object (an AdmissionReview)');
  if (doc.apiVersion !== ADMISSION_API_VERSION || doc.kind !== ADMISSION_KIND) {
    throw new BadReview(`expected apiVersion ${ADMISSION_API_VERSION} and kind ${ADMISSION_KIND}, got apiVersion ${JSON.stringify(doc.apiVersion)} and kind ${JSON.stringify(doc.kind)}`);
  }
  const req = doc.request;
  if (!isObject(req)) throw new BadReview('AdmissionReview has no request object');
  if (typeof req.uid !== 'string' || req.uid === '') throw new BadReview('request.uid is missing or not a string');
  const kind = req.kind;
  if (!isObject(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof (kind.group ?? '') !== 'string') {
    throw new BadReview('request.kind must be an object with string group, version and kind');
  }
  if (typeof req.operation !== 'string') throw new BadReview('request.operation is missing or not a string');
  if (req.namespace !== undefined && typeof req.namespace !== 'string') throw new BadReview('request.namespace must be a string');
  return {
    uid: req.uid,
    kind: { group: (kind.group as string | undefined) ?? '', version: kind.version, kind: kind.kind },
    ...(isObject(req.resource) ? { resource: req.resource as unknown as AdmissionRequest['resource'] } : {}),
    ...(typeof req.subResource === 'string' ? { subResource: req.subResource } : {}),
    ...(typeof req.name === 'string' ? { name: req.name } : {}),
    ...(typeof req.namespace === 'string' ? { namespace: req.namespace } : {}),
    operation: req.operation,
    object: req.object ?? undefined,
    oldObject: req.oldObject ?? undefined,
    dryRun: req.dryRun === true,
  };
}

export function review(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

export function allow(uid: string, extra: Partial<AdmissionResponse> = {}): AdmissionReview {
  return review({ uid, allowed: true, ...extra });
}

export function deny(uid: string, message: string, code = 400, extra: Partial<AdmissionResponse> = {}): AdmissionReview {
  return review({ uid, allowed: false, status: { code, message, reason: code === 400 ? 'BadRequest' : 'Forbidden' }, ...extra });
}

/** Checks that request.object is a core/v1 Pod. Returns a deny message, or undefined when it is. */
export function notAPod(req: AdmissionRequest): string | undefined {
  const k = req.kind;
  if (k.group !== '' || k.version !== 'v1' || k.kind !== 'Pod') {
    return `the inject webhook handles only core/v1 Pod, got ${k.group ? `${k.group}/` : ''}${k.version} ${k.kind}`;
  }
  const o = req.object;
  if (!isObject(o)) return 'request.object is missing or not an object';
  if (o.kind !== undefined && o.kind !== 'Pod') return `request.object.kind is ${JSON.stringify(o.kind)}, expected "Pod"`;
  if (!isObject(o.spec)) return 'request.object.spec is missing or not an object';
  if (!Array.isArray(o.spec.containers)) return 'request.object.spec.containers is missing or not a list';
  if (o.metadata !== undefined && !isObject(o.metadata)) return 'request.object.metadata must be an object';
  return undefined;
}

/** Base64 JSONPatch that turns `before` into `after` (fast-json-patch compare). */
export function podPatch(before: V1Pod, after: V1Pod): { patch: string; ops: number } {
  const ops = jsonpatch.compare(before as object, after as object);
  return { patch: Buffer.from(JSON.stringify(ops)).toString('base64'), ops: ops.length };
}
