// Seeded generator of random and mutated AdmissionReview bodies, shared by the unit fuzz test
// and the HTTPS fuzz test.
import { reviewBody, samplePod } from './fixtures.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function fuzzCases(n: number, seed: number): string[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const randomValue = (depth = 0): unknown => {
    switch (Math.floor(rnd() * 9)) {
      case 0: return null;
      case 1: return Math.floor(rnd() * 1e6) - 5e5;
      case 2: return rnd() < 0.5;
      case 3: return pick(['', 'Pod', 'true', 'false', '../../etc', '\u0000', 'x'.repeat(300), '{"a":1}', 'CREATE', '8080', 'http']);
      case 4: return depth > 2 ? [] : [randomValue(depth + 1), randomValue(depth + 1)];
      case 5: return depth > 2 ? {} : { [pick(['name', 'port', 'kind', 'spec', 'containers'])]: randomValue(depth + 1) };
      case 6: return undefined;
      case 7: return -0.5;
      default: return 'sidecar.weft.dev/inject';
    }
  };
  const paths = (o: unknown, prefix: string[] = [], out: string[][] = []): string[][] => {
    if (o && typeof o === 'object') {
      for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
        out.push([...prefix, k]);
        paths(v, [...prefix, k], out);
      }
    }
    return out;
  };
  const annotated = samplePod({ annotations: { 'traffic.sidecar.weft.dev/excludeInboundPorts': '8080', 'sidecar.weft.dev/logLevel': 'debug' } });
  const bases = [reviewBody(samplePod()), reviewBody(annotated), reviewBody({ kind: 'VirtualService', spec: { hosts: ['a'] } }, {}, { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' })];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const base = pick(bases);
    const mode = rnd();
    if (mode < 0.1) {
      // Text-level damage: truncation or byte flips.
      const cut = Math.floor(rnd() * base.length);
      out.push(rnd() < 0.5 ? base.slice(0, cut) : base.slice(0, cut) + String.fromCharCode(Math.floor(rnd() * 128)) + base.slice(cut + 1));
      continue;
    }
    if (mode < 0.15) {
      out.push(JSON.stringify(randomValue()) ?? '');
      continue;
    }
    const doc = JSON.parse(base) as Record<string, unknown>;
    const all = paths(doc);
    const edits = 1 + Math.floor(rnd() * 4);
    for (let e = 0; e < edits; e++) {
      const p = pick(all);
      let parent: unknown = doc;
      for (const k of p.slice(0, -1)) parent = (parent as Record<string, unknown> | null)?.[k];
      if (!parent || typeof parent !== 'object') continue;
      const key = p[p.length - 1] as string;
      if (rnd() < 0.3) delete (parent as Record<string, unknown>)[key];
      else (parent as Record<string, unknown>)[key] = randomValue();
    }
    out.push(JSON.stringify(doc));
  }
  return out;
}

