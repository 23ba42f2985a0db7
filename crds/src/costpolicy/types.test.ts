// The "cannot drift apart" proof: tsc fails if the hand-written types and the types derived
// from the schema differ in any field, optionality or literal.
import { describe, expectTypeOf, it } from 'vitest';
import type { FromSchema } from '../schema/from-schema.ts';
import type { costPolicySpecSchema, costPolicyStatusSchema } from './schema.ts';
import type { Budget, CostPolicySpec, CostPolicyStatus, Rates } from './types.ts';

describe('CostPolicy types', () => {
  it('spec equals the type derived from the schema', () => {
    expectTypeOf<FromSchema<typeof costPolicySpecSchema>>().toEqualTypeOf<CostPolicySpec>();
  });

  it('status equals the type derived from the schema', () => {
    expectTypeOf<FromSchema<typeof costPolicyStatusSchema>>().toEqualTypeOf<CostPolicyStatus>();
  });

  it('derives literal unions and optionality', () => {
    expectTypeOf<CostPolicySpec['budgets']>().toEqualTypeOf<Budget[] | undefined>();
    expectTypeOf<Budget['period']>().toEqualTypeOf<'Daily' | 'Weekly' | 'Monthly'>();
    expectTypeOf<Rates['cpuCoreHour']>().toEqualTypeOf<string | undefined>();
  });
});
