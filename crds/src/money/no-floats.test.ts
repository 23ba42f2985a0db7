import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Invariant 4: money and usage never pass through a JS number. These are the usual ways one
// sneaks in; the scan covers every module (not the tests, which name them) in money/, units/ and
// pricing/.
const FORBIDDEN = [
  /parseFloat/,
  /parseInt/,
  /\bNumber\(/,
  /Math\./,
  /toFixed/,
  /toPrecision/,
  /valueOf\(/,
];
const dirs = ['.', '../units', '../pricing'].map((d) => fileURLToPath(new URL(d, import.meta.url)));
const sources = dirs.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('test-'))
    .map((f) => join(dir, f)),
);

describe('no floats in money, unit and pricing arithmetic', () => {
  it('finds the module sources', () => {
    for (const name of [
      'money/parse-decimal.ts',
      'units/price.ts',
      'pricing/price-usage.ts',
      'pricing/price-shares.ts',
      'pricing/price-tokens.ts',
      'pricing/largest-remainder.ts',
    ]) {
      expect(sources.some((f) => f.endsWith(name))).toBe(true);
    }
  });

  it.each(sources)('%s uses no float conversions or Math', (file) => {
    const text = readFileSync(file, 'utf8');
    for (const pattern of FORBIDDEN)
      expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
  });
});
