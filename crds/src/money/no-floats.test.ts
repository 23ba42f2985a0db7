import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Invariant 4: money and usage never pass through a JS number. These are the usual ways one
// sneaks in; the scan covers every module (not the tests, which name them) in money/ and units/.
const FORBIDDEN = [
  /parseFloat/,
  /parseInt/,
  /\bNumber\(/,
  /Math\./,
  /toFixed/,
  /toPrecision/,
  /valueOf\(/,
];
const dirs = ['.', '../units'].map((d) => fileURLToPath(new URL(d, import.meta.url)));
const sources = dirs.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('test-'))
    .map((f) => join(dir, f)),
);

describe('no floats in money and unit arithmetic', () => {
  it('finds the module sources', () => {
    expect(sources.some((f) => f.endsWith('parse-decimal.ts'))).toBe(true);
    expect(sources.some((f) => f.endsWith('price.ts'))).toBe(true);
  });

  it.each(sources)('%s uses no float conversions or Math', (file) => {
    const text = readFileSync(file, 'utf8');
    for (const pattern of FORBIDDEN)
      expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
  });
});
