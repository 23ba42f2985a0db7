// The "cannot drift apart" proof for CostReport (see costpolicy/types.test.ts).
import { describe, expectTypeOf, it } from 'vitest';
import type { FromSchema } from '../schema/from-schema.ts';
import type { costReportSpecSchema } from './schema.ts';
import type { CostReportSpec } from './types.ts';

describe('CostReport types', () => {
  it('spec equals the type derived from the schema', () => {
    expectTypeOf<FromSchema<typeof costReportSpecSchema>>().toEqualTypeOf<CostReportSpec>();
  });
});
