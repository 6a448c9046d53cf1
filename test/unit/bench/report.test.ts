import { describe, it, expect } from '@jest/globals';
import { aggregateReps, formatTable, notMeasuredRow, parseAbsoluteGoal, percentile, ratio, summarize, verdict, type BenchRow } from '../../../bench/lib/report.js';

const row = (over: Partial<BenchRow> = {}): BenchRow => ({
  scenario: 's', measure: 'm', unit: 'ms', weft: 2, anchor: 1, anchorName: 'a', better: 'lower', ...over,
});

describe('percentile', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100, sorted
  it('uses the nearest-rank definition', () => {
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 90)).toBe(90);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
  });
  it('clamps to the sample', () => {
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([7], 99.9)).toBe(7);
  });
  it('is NaN for an empty sample', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarize', () => {
  it('gives median and range of odd and even samples', () => {
    expect(summarize([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3 });
    expect(summarize([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4 });
  });
});

describe('verdict', () => {
  it('checks ratio bounds in the right direction', () => {
    expect(verdict(row({ weft: 2, anchor: 1, maxRatio: 1.5 }))).toBe('fail');
    expect(verdict(row({ weft: 1, anchor: 1, maxRatio: 1.5 }))).toBe('pass');
    expect(verdict(row({ better: 'higher', weft: 3, anchor: 1, minRatio: 2 }))).toBe('pass');
    expect(verdict(row({ better: 'higher', weft: 1, anchor: 1, minRatio: 2 }))).toBe('fail');
  });
  it('checks absolute bounds on the Weft figure', () => {
    expect(verdict(row({ weft: 0.3, maxAbs: 0.2 }))).toBe('fail');
    expect(verdict(row({ weft: 0.1, maxAbs: 0.2 }))).toBe('pass');
    expect(verdict(row({ weft: 2500, minAbs: 2000 }))).toBe('pass');
  });
  it('needs every bound to hold', () => {
    expect(verdict(row({ weft: 1, anchor: 1, maxRatio: 2, maxAbs: 0.5 }))).toBe('fail');
  });
  it('has no verdict without a goal or without a figure', () => {
    expect(verdict(row())).toBe('-');
    expect(verdict(notMeasuredRow('s', 'nginx missing'))).toBe('-');
  });
  it('ratio is NaN against a zero anchor', () => {
    expect(ratio(row({ anchor: 0 }))).toBeNaN();
  });
});

describe('parseAbsoluteGoal', () => {
  it('reads upper and lower bounds', () => {
    expect(parseAbsoluteGoal('<= 2000 ms absolute', 'ms')).toEqual({ maxAbs: 2000 });
    expect(parseAbsoluteGoal('>= 1,000 req/s absolute', 'req/s')).toEqual({ minAbs: 1000 });
    expect(parseAbsoluteGoal('<= 0.2 core', 'cores')).toEqual({ maxAbs: 0.2 });
    expect(parseAbsoluteGoal('<= 50 ms, 0 writes', 'ms')).toEqual({ maxAbs: 50 });
  });
  it('converts seconds for a row in ms', () => {
    expect(parseAbsoluteGoal('p99 < 1 s (absolute)', 'ms')).toEqual({ maxAbs: 1000 });
  });
  it('ignores relative goals and free text', () => {
    expect(parseAbsoluteGoal('<= 5x anchor', 'ms')).toBeUndefined();
    expect(parseAbsoluteGoal('>= 2x', 'req/s')).toBeUndefined();
    expect(parseAbsoluteGoal('<= +0.25 ms', 'ms')).toBeUndefined();
    expect(parseAbsoluteGoal('why not node-forge', '1/s')).toBeUndefined();
    expect(parseAbsoluteGoal(undefined, 'ms')).toBeUndefined();
  });
});

describe('aggregateReps', () => {
  it('takes medians per row and the Weft spread', () => {
    const reps = [[row({ weft: 1, anchor: 10 })], [row({ weft: 3, anchor: 30 })], [row({ weft: 2, anchor: 20 })]];
    const [r] = aggregateReps(reps);
    expect(r).toMatchObject({ weft: 2, anchor: 20, spread: [1, 3], reps: 3 });
  });
  it('matches rows by scenario, measure and anchor, keeping first-seen order', () => {
    const a = row({ measure: 'a' });
    const b = row({ measure: 'b', anchorName: 'nginx' });
    const out = aggregateReps([[a, b], [b, a]]);
    expect(out.map((r) => r.measure)).toEqual(['a', 'b']);
  });
  it('keeps a not-measured row when no repetition measured it', () => {
    const nm = { ...notMeasuredRow('s', 'boom'), measure: 'm', anchorName: '' };
    expect(aggregateReps([[nm], [nm]])[0]!.notMeasured).toBe('boom');
  });
  it('ignores failed repetitions when others measured', () => {
    const ok = row({ weft: 5 });
    const bad = { ...ok, weft: Number.NaN, notMeasured: 'x' };
    expect(aggregateReps([[bad], [ok]])[0]).toMatchObject({ weft: 5, reps: 1 });
  });
});

describe('formatTable', () => {
  it('prints one aligned line per row with ratio, goal and result', () => {
    const t = formatTable([row({ weft: 2, anchor: 1, goal: '<= 1.5x', maxRatio: 1.5 }), row({ measure: 'x', weft: 150, anchor: 100 })]);
    const lines = t.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| scenario +\| measure +\| Weft +\| anchor +\| ratio +\| goal +\| result +\|$/);
    expect(lines[2]).toContain('2.00x');
    expect(lines[2]).toContain('fail');
    expect(lines[3]).toContain('1.50x');
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });
  it('shows the spread of repeated figures', () => {
    expect(formatTable([row({ weft: 2, spread: [1, 3], reps: 5 })])).toContain('2.00 [1.00..3.00]');
  });
  it('prints not-measured rows with their reason', () => {
    const t = formatTable([notMeasuredRow('S1 vs nginx', 'nginx not installed\n(run hack/bench-deps.sh)')]);
    expect(t).toContain('not measured: nginx not installed (run hack/bench-deps.sh)');
  });
  it('prints a dash for a ratio against zero', () => {
    expect(formatTable([row({ anchor: 0 })]).split('\n')[2]).toMatch(/\| - +\|/);
  });
});
