import { describe, expectTypeOf, it } from 'vitest';
import type { FromSchema } from './from-schema.ts';

interface Schema {
  type: 'object';
  required: ['name', 'tags'];
  properties: {
    name: { type: 'string' };
    count: { type: 'integer' };
    enabled: { type: 'boolean' };
    mode: { type: 'string'; enum: ['A', 'B'] };
    amount: { 'x-kubernetes-int-or-string': true };
    tags: { type: 'array'; items: { type: 'string' } };
    labels: { type: 'object'; additionalProperties: { type: 'string' } };
    nested: { type: 'object'; required: ['id']; properties: { id: { type: 'integer' } } };
    free: { type: 'object' };
  };
}

interface Expected {
  name: string;
  count?: number;
  enabled?: boolean;
  mode?: 'A' | 'B';
  amount?: number | string;
  tags: string[];
  labels?: Record<string, string>;
  nested?: { id: number };
  free?: Record<string, unknown>;
}

describe('FromSchema', () => {
  it('maps every supported keyword', () => {
    expectTypeOf<FromSchema<Schema>>().toEqualTypeOf<Expected>();
  });

  it('detects drift in optionality, literals and element types', () => {
    expectTypeOf<FromSchema<Schema>>().not.toEqualTypeOf<
      Omit<Expected, 'name'> & { name?: string }
    >();
    expectTypeOf<FromSchema<Schema>>().not.toEqualTypeOf<
      Omit<Expected, 'mode'> & { mode?: string }
    >();
    expectTypeOf<FromSchema<Schema>>().not.toEqualTypeOf<
      Omit<Expected, 'tags'> & { tags: number[] }
    >();
    expectTypeOf<FromSchema<Schema>>().not.toEqualTypeOf<Omit<Expected, 'free'>>();
  });
});
