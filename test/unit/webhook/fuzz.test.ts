// 10,000 random and mutated AdmissionReviews through /inject and /validate handlers:
// no crash, and every answer is a well-formed AdmissionReview or a BadReview (HTTP 400).
import { describe, expect, it } from '@jest/globals';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import type { ValidationIssue } from '../../../src/api/validation.js';
import { silentLogger } from '../../../src/log/logger.js';
import { BadReview, type AdmissionReview } from '../../../src/webhook/admission.js';
import { WebhookServer } from '../../../src/webhook/server.js';
import { fuzzCases } from './fuzz-cases.js';

function assertWellFormed(r: AdmissionReview): void {
  expect(r.apiVersion).toBe('admission.k8s.io/v1');
  expect(r.kind).toBe('AdmissionReview');
  expect(typeof r.response.uid).toBe('string');
  expect(typeof r.response.allowed).toBe('boolean');
  if (!r.response.allowed) {
    expect(r.response.status?.message).toEqual(expect.any(String));
    // 500 would mean a renderer bug surfaced (caught, but still a bug): fuzzing must find none.
    if (r.response.status?.code !== 400) throw new Error(`internal error: ${r.response.status?.message}`);
  }
  if (r.response.patch !== undefined) {
    expect(r.response.patchType).toBe('JSONPatch');
    expect(Array.isArray(JSON.parse(Buffer.from(r.response.patch, 'base64').toString('utf8')))).toBe(true);
  }
  JSON.parse(JSON.stringify(r));
}

describe('fuzzed AdmissionReviews', () => {
  it('10,000 random or mutated reviews: 0 crashes, each answer a valid AdmissionReview or a 400', () => {
    const s = new WebhookServer({
      injection: new Map([['default', defaultInjectionConfig()]]),
      defaultRevision: 'default',
      validators: new Map([['VirtualService', (o: unknown): ValidationIssue[] => (Array.isArray((o as { spec?: { hosts?: unknown } })?.spec?.hosts) ? [] : [{ path: 'spec.hosts', message: 'required' }])]]),
      logger: silentLogger(),
    });
    const counts = { reviews: 0, bad: 0, allowed: 0, denied: 0 };
    for (const body of fuzzCases(10_000, 42)) {
      for (const handler of [(b: string) => s.inject(b, 'default'), (b: string) => s.validate(b)]) {
        try {
          const r = handler(body);
          assertWellFormed(r);
          counts.reviews++;
          if (r.response.allowed) counts.allowed++;
          else counts.denied++;
        } catch (e) {
          if (!(e instanceof BadReview)) throw new Error(`crash on body ${body.slice(0, 300)}`, { cause: e });
          expect(e.message.length).toBeGreaterThan(0);
          counts.bad++;
        }
      }
    }
    expect(counts.reviews + counts.bad).toBe(20_000);
    // The mix really exercises each outcome.
    expect(counts.bad).toBeGreaterThan(500);
    expect(counts.allowed).toBeGreaterThan(500);
    expect(counts.denied).toBeGreaterThan(100);
  });
});
