/**
 * The subset of a Kubernetes structural OpenAPI v3 schema (apiextensions.k8s.io/v1
 * JSONSchemaProps) that agentmeter's CRDs use. Schemas are written `as const satisfies
 * SchemaNode`, so a misspelt keyword fails the typecheck instead of being dropped by the
 * apiserver.
 */
export interface SchemaNode {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  readonly description?: string;
  readonly properties?: { readonly [name: string]: SchemaNode };
  readonly required?: readonly string[];
  readonly additionalProperties?: SchemaNode;
  readonly items?: SchemaNode;
  readonly enum?: readonly (string | number)[];
  readonly format?: 'int32' | 'int64' | 'date-time';
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: unknown;
  readonly 'x-kubernetes-int-or-string'?: true;
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
  readonly 'x-kubernetes-map-type'?: 'atomic' | 'granular';
  readonly 'x-kubernetes-validations'?: readonly CelRule[];
}

/** A CEL validation rule. Every rule carries a message a user can act on. */
export type CelRule = {
  readonly rule: string;
  readonly reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  readonly fieldPath?: string;
  readonly optionalOldSelf?: boolean;
} & ({ readonly message: string } | { readonly messageExpression: string });

/** Flattens an intersection so derived types print (and compare) as one object type. */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredKeys<S> = S extends { readonly required: readonly (infer K)[] } ? K : never;

type ObjectFrom<P, R> = Simplify<
  { -readonly [K in keyof P as K extends R ? K : never]-?: FromSchema<P[K]> } & {
    -readonly [K in keyof P as K extends R ? never : K]+?: FromSchema<P[K]>;
  }
>;

/**
 * The TypeScript type of the values a `const` schema accepts. The type-level tests compare it
 * with the hand-written API types, so the schema and the types cannot drift apart.
 */
export type FromSchema<S> = S extends { readonly 'x-kubernetes-int-or-string': true }
  ? number | string
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'integer' }
        ? number
        : S extends { readonly type: 'boolean' }
          ? boolean
          : S extends { readonly type: 'array'; readonly items: infer I }
            ? FromSchema<I>[]
            : S extends { readonly type: 'object'; readonly properties: infer P }
              ? ObjectFrom<P, RequiredKeys<S>>
              : S extends { readonly type: 'object'; readonly additionalProperties: infer A }
                ? Record<string, FromSchema<A>>
                : S extends { readonly type: 'object' }
                  ? Record<string, unknown>
                  : unknown;
