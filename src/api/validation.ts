// Shared shape for validation results, so the webhook can serve any validator.
// A validator is pure: it takes an untrusted object and returns every problem it finds.

export interface ValidationIssue {
  /** JSONPath-like field path, e.g. "spec.http[0].route[1].weight". */
  path: string;
  /** What is wrong and how to fix it, for a human reading kubectl output. */
  message: string;
}

export type Validator = (obj: unknown) => ValidationIssue[];

export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
