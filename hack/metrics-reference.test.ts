// The README's metrics reference is the generator's output, so it cannot drift from the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BEGIN, END, metricsReference } from './metrics-reference.ts';

describe('README metrics reference', () => {
  it('equals the output of node hack/metrics-reference.ts', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    expect(start, 'README lacks the metrics reference markers').toBeGreaterThanOrEqual(0);
    expect(readme.slice(start, end + END.length)).toBe(metricsReference());
  });
});
