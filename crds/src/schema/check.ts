import type { SchemaNode } from './from-schema.ts';

/**
 * Checks a value against the OpenAPI keywords of a schema, offline: types, required and unknown
 * fields, enums, patterns, bounds and list uniqueness, plus CEL rules of the plain
 * `self.matches('...')` or `self.matches(r'...')` form. Other CEL rules are left to the apiserver (the integration
 * tests). Unknown fields are reported because the apiserver would silently prune them, which in
 * a hand-written manifest is almost always a typo.
 */
export function checkAgainstSchema(schema: SchemaNode, value: unknown, path = ''): string[] {
  const at = path || '<root>';
  if (schema['x-kubernetes-int-or-string']) {
    return typeof value === 'string' || Number.isInteger(value)
      ? []
      : [`${at}: must be an integer or a string`];
  }
  switch (schema.type) {
    case 'string':
      return typeof value === 'string'
        ? checkString(schema, value, at)
        : [`${at}: must be a string`];
    case 'integer':
      return Number.isInteger(value)
        ? checkInteger(schema, value as number, at)
        : [`${at}: must be an integer`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: must be a boolean`];
    case 'array':
      return Array.isArray(value) ? checkArray(schema, value, path) : [`${at}: must be a list`];
    case 'object':
      return isObject(value) ? checkObject(schema, value, path) : [`${at}: must be an object`];
    default:
      return [];
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkEnum(schema: SchemaNode, value: string | number, at: string): string[] {
  return schema.enum && !schema.enum.includes(value)
    ? [`${at}: ${JSON.stringify(value)} is not an allowed value`]
    : [];
}

const MATCHES_RULE = /^self[.]matches\(r?'([^']*)'\)$/;

function checkString(schema: SchemaNode, value: string, at: string): string[] {
  const errors = checkEnum(schema, value, at);
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const regex = MATCHES_RULE.exec(rule.rule)?.[1];
    if (regex !== undefined && !new RegExp(regex).test(value)) {
      errors.push(
        `${at}: ${JSON.stringify(value)}: ${'message' in rule ? rule.message : rule.messageExpression}`,
      );
    }
  }
  if (schema.maxLength !== undefined && value.length > schema.maxLength)
    errors.push(`${at}: longer than ${schema.maxLength}`);
  if (schema.minLength !== undefined && value.length < schema.minLength)
    errors.push(`${at}: shorter than ${schema.minLength}`);
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  return errors;
}

function checkInteger(schema: SchemaNode, value: number, at: string): string[] {
  const errors = checkEnum(schema, value, at);
  if (schema.minimum !== undefined && value < schema.minimum)
    errors.push(`${at}: less than ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum)
    errors.push(`${at}: greater than ${schema.maximum}`);
  return errors;
}

function checkArray(schema: SchemaNode, value: unknown[], path: string): string[] {
  const errors: string[] = [];
  if (schema.maxItems !== undefined && value.length > schema.maxItems)
    errors.push(`${path}: more than ${schema.maxItems} items`);
  if (schema.minItems !== undefined && value.length < schema.minItems)
    errors.push(`${path}: fewer than ${schema.minItems} items`);
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'set' || listType === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const identity = (item: unknown): string =>
      JSON.stringify(
        listType === 'set' ? item : keys.map((k) => (isObject(item) ? item[k] : undefined)),
      );
    const seen = new Set<string>();
    for (const item of value) {
      const id = identity(item);
      if (seen.has(id)) errors.push(`${path}: duplicate entry ${id}`);
      seen.add(id);
    }
  }
  if (schema.items) {
    const items = schema.items;
    value.forEach((item, i) => errors.push(...checkAgainstSchema(items, item, `${path}[${i}]`)));
  }
  return errors;
}

function checkObject(schema: SchemaNode, value: Record<string, unknown>, path: string): string[] {
  const errors: string[] = [];
  const keys = Object.keys(value);
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
    errors.push(`${path}: more than ${schema.maxProperties} entries`);
  }
  for (const name of schema.required ?? []) {
    if (!(name in value)) errors.push(`${path ? `${path}.` : ''}${name}: required`);
  }
  for (const key of keys) {
    const child = `${path ? `${path}.` : ''}${key}`;
    const sub = schema.properties?.[key] ?? schema.additionalProperties;
    if (sub) errors.push(...checkAgainstSchema(sub, value[key], child));
    else if (schema.properties) errors.push(`${child}: unknown field`);
  }
  return errors;
}
