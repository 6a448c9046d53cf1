import { describe, it, expect } from '@jest/globals';
import { latencySvg, ninesX } from '../../../bench/chart.js';

describe('latencySvg', () => {
  const series = [
    { name: 'direct', samplesMs: Array.from({ length: 1000 }, (_, i) => 0.1 + i / 1000) },
    { name: 'Weft, 2 hops + mTLS', samplesMs: Array.from({ length: 1000 }, (_, i) => 1 + i / 10) },
  ];
  it('draws one path and one legend entry per series', () => {
    const svg = latencySvg(series, { title: 'T' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('direct (n=1000)');
    expect(svg).toContain('>T</text>');
  });
  it('escapes names', () => {
    expect(latencySvg([{ name: 'a<b & "c"', samplesMs: [1, 2] }])).toContain('a&lt;b &amp; &quot;c&quot;');
  });
  it('says so when there are no samples, and skips empty series', () => {
    const svg = latencySvg([{ name: 'empty', samplesMs: [] }]);
    expect(svg).toContain('no latency samples');
    expect(svg).not.toContain('<path ');
  });
  it('has only finite coordinates', () => {
    expect(latencySvg(series)).not.toMatch(/NaN|Infinity/);
  });
  it('spaces percentiles by nines', () => {
    expect(ninesX(90)).toBeCloseTo(1);
    expect(ninesX(99)).toBeCloseTo(2);
    expect(ninesX(99.9)).toBeCloseTo(3);
    expect(ninesX(0)).toBeCloseTo(0);
  });
});
