// The sampling decision, pure: a caller's decision is respected either way; without one,
// `percent` of new traces are sampled (MeshConfig telemetry.tracing.samplingPercent).

/** `rand` in [0, 1). */
export function sampleDecision(incoming: boolean | undefined, percent: number, rand: number): boolean {
  if (incoming !== undefined) return incoming;
  return rand * 100 < percent;
}
