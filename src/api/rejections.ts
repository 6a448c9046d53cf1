// The rejection report: what the control plane writes about proxies that NACKed their config
// (ConfigMap weft-xds-rejections in the mesh namespace) and the operator reads for the
// ConfigRejected condition on MeshConfig. Shared contract, so it lives in api/.
import { errorMessage, invalidInput } from '../errors/errors.js';

export const REJECTIONS_CONFIGMAP = 'weft-xds-rejections';
export const REJECTIONS_KEY = 'rejections.json';
/** Entries kept in the ConfigMap; the count says how many there were in all. */
export const MAX_REPORTED = 50;

export interface Rejection {
  /** xDS node id. */
  node: string;
  pod?: string;
  namespace?: string;
  /** CDS | EDS | LDS | RDS | SDS */
  type: string;
  version: string;
  message: string;
  /** RFC 3339 time of the NACK. */
  at: string;
}

export interface RejectionReport {
  /** Proxies currently rejecting at least one type. */
  proxies: number;
  /** All current rejections (entries may be truncated to MAX_REPORTED). */
  count: number;
  rejections: Rejection[];
}

/** Parses the ConfigMap payload (the operator's side); malformed → a WeftError naming the problem. */
export function parseRejectionReport(text: string): RejectionReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`${REJECTIONS_CONFIGMAP}/${REJECTIONS_KEY} is not JSON: ${errorMessage(e)}`);
  }
  const o = v as Partial<RejectionReport> | null;
  if (!o || typeof o !== 'object' || typeof o.proxies !== 'number' || typeof o.count !== 'number' || !Array.isArray(o.rejections)) {
    throw invalidInput(`${REJECTIONS_CONFIGMAP}/${REJECTIONS_KEY} must be {proxies: number, count: number, rejections: []}`);
  }
  for (const [i, r] of o.rejections.entries()) {
    const x = r as Partial<Rejection> | null;
    if (!x || typeof x.node !== 'string' || typeof x.type !== 'string' || typeof x.message !== 'string') {
      throw invalidInput(`${REJECTIONS_CONFIGMAP}/${REJECTIONS_KEY}: rejections[${i}] needs string node, type and message`);
    }
  }
  return o as RejectionReport;
}

/** One line for a condition message: how many, and the first rejection in full. */
export function describeRejections(r: RejectionReport): string {
  if (r.count === 0) return 'every connected proxy accepted its configuration';
  const first = r.rejections[0]!;
  const who = first.pod ? `${first.namespace}/${first.pod}` : first.node;
  return `${r.proxies} prox${r.proxies === 1 ? 'y' : 'ies'} rejected configuration (${r.count} rejection${r.count === 1 ? '' : 's'}); first: ${who} ${first.type} version ${first.version}: ${first.message}`;
}
