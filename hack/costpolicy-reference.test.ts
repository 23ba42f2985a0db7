// README.md's CostPolicy reference must be what the schema renders today.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { costPolicySpecSchema } from '../crds/src/costpolicy/schema.ts';
import {
  END_MARKER,
  README,
  START_MARKER,
  renderCostPolicyReference,
  replaceSection,
} from './costpolicy-reference.ts';

describe('the CostPolicy reference in README.md', () => {
  it('matches a fresh rendering of the schema (run `node hack/costpolicy-reference.ts --write`)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(readme).toContain(START_MARKER);
    expect(replaceSection(readme, renderCostPolicyReference())).toBe(readme);
  });

  it('has a row for every top-level spec field and every budget field', () => {
    const table = renderCostPolicyReference();
    for (const name of Object.keys(costPolicySpecSchema.properties))
      expect(table).toContain(`| \`spec.${name}\` |`);
    for (const name of Object.keys(costPolicySpecSchema.properties.budgets.items.properties))
      expect(table).toContain(`| \`spec.budgets[].${name}\` |`);
  });

  it('refuses a README without the markers', () => {
    expect(() => replaceSection('# no markers\n', 'x')).toThrow(END_MARKER);
  });
});
