import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Invariant 4, as in money/no-floats.test.ts: no pricing module converts money or usage
// through a JS number.
const FORBIDDEN = [
  /parseFloat/,
  /parseInt/,
  /\bNumber\(/,
  /Math\./,
  /toFixed/,
  /toPrecision/,
  /valueOf\(/,
];
const dir = fileURLToPath(new URL('.', import.meta.url));
const sources = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('test-'))
  .map((f) => join(dir, f));

describe('no floats in pricing', () => {
  it('finds the module sources', () => {
    for (const name of [
      'price-usage.ts',
      'price-shares.ts',
      'price-tokens.ts',
      'largest-remainder.ts',
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
