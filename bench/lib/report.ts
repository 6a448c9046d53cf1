// One shape for every benchmark figure, so `make bench` can print a single table and
// write one JSON file. Every Weft figure sits next to an anchor measured in the same run.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchRow {
  scenario: string;
  measure: string;
  unit: string;
  weft: number;
  anchor: number;
  anchorName: string;
  /** Human-readable goal, e.g. "<= 1.5x anchor". */
  goal?: string;
  /** Does lower or higher mean better? Decides how the ratio reads against the goal. */
  better: 'lower' | 'higher';
  /** Goal as a ratio bound: weft/anchor must be <= maxRatio (lower) or >= minRatio (higher). */
  maxRatio?: number;
  minRatio?: number;
  /** Spread over repetitions, e.g. [min, max] of the per-repetition medians. */
  spread?: [number, number];
  /** Absolute goal bounds on the Weft figure itself (checked in addition to the ratio bounds). */
  maxAbs?: number;
  minAbs?: number;
  /** How many repetitions the figure is the median of. */
  reps?: number;
  /** Set when the row could not be measured in this run; the figures are then NaN. */
  notMeasured?: string;
}

/** A row that says why it has no figure, so one failing module never hides the others. */
export function notMeasuredRow(scenario: string, reason: string, measure = '-'): BenchRow {
  const oneLine = reason.replace(/\s+/g, ' ').trim().slice(0, 160);
  return { scenario, measure, unit: '-', weft: Number.NaN, anchor: Number.NaN, anchorName: '', better: 'lower', notMeasured: oneLine || 'unknown error' };
}

/**
 * Reads an absolute bound out of a goal text such as "<= 2000 ms absolute", ">= 1,000 req/s
 * absolute", "<= 0.2 core" or "p99 < 1 s (absolute)". Units other than the row's are not
 * converted, except s -> ms when the row is in ms. Returns undefined for relative goals ("<= 2x").
 */
export function parseAbsoluteGoal(goal: string | undefined, unit: string): { maxAbs?: number; minAbs?: number } | undefined {
  if (!goal) return undefined;
  const m = /(<=|>=|<|>)\s*\+?([\d,]*\.?\d+)\s*([a-zA-Z/]*)/.exec(goal);
  if (!m) return undefined;
  const [, op, num, u] = m;
  if (u === 'x' || goal.includes('+')) return undefined; // ratio or "added latency" goals are not absolute bounds
  let value = Number(num!.replace(/,/g, ''));
  if (!Number.isFinite(value)) return undefined;
  if (u === 's' && unit === 'ms') value *= 1000;
  return op!.startsWith('<') ? { maxAbs: value } : { minAbs: value };
}

/**
 * Folds repetitions of the same rows into one row each: Weft and anchor become the medians of
 * their repetitions, `spread` the [min, max] of the Weft figures. Rows are matched by
 * scenario + measure + anchorName; order follows the first repetition. A row that was not
 * measured in every repetition keeps the first reason.
 */
export function aggregateReps(reps: readonly (readonly BenchRow[])[]): BenchRow[] {
  const key = (r: BenchRow): string => `${r.scenario}\u0000${r.measure}\u0000${r.anchorName}`;
  const groups = new Map<string, BenchRow[]>();
  for (const rows of reps) for (const r of rows) {
    const k = key(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  return [...groups.values()].map((g) => {
    const measured = g.filter((r) => r.notMeasured === undefined && Number.isFinite(r.weft));
    if (measured.length === 0) return g[0]!;
    const w = summarize(measured.map((r) => r.weft));
    const a = summarize(measured.map((r) => r.anchor));
    const first = measured[0]!;
    if (measured.length === 1) return { ...first, reps: 1 };
    return { ...first, weft: w.median, anchor: a.median, spread: [w.min, w.max], reps: measured.length };
  });
}

export function ratio(row: BenchRow): number {
  return row.anchor === 0 ? Number.NaN : row.weft / row.anchor;
}

export function verdict(row: BenchRow): 'pass' | 'fail' | '-' {
  if (row.notMeasured !== undefined) return '-';
  const r = ratio(row);
  const checks: boolean[] = [];
  if (row.maxRatio !== undefined) checks.push(r <= row.maxRatio);
  if (row.minRatio !== undefined) checks.push(r >= row.minRatio);
  if (row.maxAbs !== undefined) checks.push(row.weft <= row.maxAbs);
  if (row.minAbs !== undefined) checks.push(row.weft >= row.minAbs);
  if (checks.length === 0) return '-';
  return checks.every(Boolean) ? 'pass' : 'fail';
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['scenario', 'measure', 'Weft', 'anchor', 'ratio', 'goal', 'result'];
  const body = rows.map((r) => r.notMeasured !== undefined
    ? [r.scenario, r.measure, `not measured: ${r.notMeasured}`, '-', '-', r.goal ?? '-', '-']
    : [
      r.scenario, `${r.measure} (${r.unit})`,
      r.spread && (r.reps ?? 2) > 1 ? `${fmt(r.weft)} [${fmt(r.spread[0])}..${fmt(r.spread[1])}]` : fmt(r.weft),
      `${fmt(r.anchor)} ${r.anchorName}`, Number.isFinite(ratio(r)) ? `${fmt(ratio(r))}x` : '-', r.goal ?? '-', verdict(r),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

export function writeJson(file: string, data: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

/** Median and [min,max] of a sample. */
export function summarize(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
