// Latency distributions as a plain SVG (no chart library): one line per setup, latency (ms,
// log scale) against percentile on the usual "nines" axis (50, 90, 99, 99.9), the way
// HdrHistogram plots read. Pure: samples in, SVG text out.
import { percentile } from './lib/report.js';

export interface LatencySeries {
  name: string;
  /** Latency samples in ms, any order. */
  samplesMs: readonly number[];
}

const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#9d755d'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** x position for a percentile: -log10(1 - p/100), so 90 -> 1, 99 -> 2, 99.9 -> 3. */
export function ninesX(p: number): number {
  return -Math.log10(Math.max(1e-6, 1 - p / 100));
}

/** The percentiles each line is drawn through. */
export const CHART_PERCENTILES: readonly number[] = [0, 10, 25, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.9];

export function latencySvg(series: readonly LatencySeries[], opts: { title?: string; width?: number; height?: number } = {}): string {
  const width = opts.width ?? 760;
  const height = opts.height ?? 420;
  const m = { left: 64, right: 190, top: 40, bottom: 48 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const usable = series.filter((s) => s.samplesMs.some((v) => Number.isFinite(v) && v > 0));
  const lines = usable.map((s) => {
    const sorted = s.samplesMs.filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
    return { name: s.name, n: sorted.length, pts: CHART_PERCENTILES.map((p) => [p, percentile(sorted, p === 0 ? 0.0001 : p)] as const) };
  });
  const all = lines.flatMap((l) => l.pts.map(([, v]) => v));
  const lo = all.length ? Math.min(...all) : 0.1;
  const hi = all.length ? Math.max(...all) : 10;
  const yMin = Math.pow(10, Math.floor(Math.log10(lo)));
  const yMax = Math.pow(10, Math.ceil(Math.log10(hi === lo ? hi * 10 : hi)));
  const xMax = ninesX(99.9);
  const X = (p: number): number => m.left + (ninesX(p) / xMax) * pw;
  const Y = (v: number): number => m.top + ph - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="14" font-weight="bold">${esc(opts.title ?? 'Latency by percentile')}</text>`);
  // Axes and grid.
  for (const p of [0, 50, 90, 99, 99.9]) {
    const x = X(p).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${p === 0 ? 'min' : `p${p}`}</text>`);
  }
  for (let d = yMin; d <= yMax * 1.0001; d *= 10) {
    const y = Y(d).toFixed(1);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${d >= 1 ? d.toFixed(0) : d.toPrecision(1)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${height - 10}" text-anchor="middle">percentile</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">latency (ms, log)</text>`);
  if (lines.length === 0) out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle">no latency samples</text>`);
  lines.forEach((l, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = l.pts.map(([p, v], j) => `${j ? 'L' : 'M'}${X(p).toFixed(1)} ${Y(v).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${m.left + pw + 12}" y1="${ly}" x2="${m.left + pw + 32}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${m.left + pw + 38}" y="${ly}" dominant-baseline="middle">${esc(l.name)} (n=${l.n})</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
