/**
 * Renders the README's CostPolicy reference from the schema the CRD is generated from
 * (crds/src/costpolicy/schema.ts), so the two cannot drift:
 *
 *   node hack/costpolicy-reference.ts           print the markdown table
 *   node hack/costpolicy-reference.ts --write   replace it in README.md between the markers
 *
 * hack/costpolicy-reference.test.ts fails when README.md differs from a fresh rendering.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { costPolicySpecSchema } from '../crds/src/costpolicy/schema.ts';
import type { SchemaNode } from '../crds/src/schema/from-schema.ts';

export const START_MARKER = '<!-- costpolicy-reference:start -->';
export const END_MARKER = '<!-- costpolicy-reference:end -->';
export const README = fileURLToPath(new URL('../README.md', import.meta.url));

/** Longer enums (the ISO 4217 codes) are summarised rather than listed. */
const MAX_LISTED_ENUM = 8;

interface Row {
  readonly path: string;
  readonly node: SchemaNode;
  readonly required: boolean;
}

function rows(node: SchemaNode, path: string): Row[] {
  const out: Row[] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const childPath = `${path}.${name}`;
    out.push({ path: childPath, node: child, required: node.required?.includes(name) ?? false });
    out.push(...descend(child, childPath));
  }
  return out;
}

function descend(node: SchemaNode, path: string): Row[] {
  if (node.type === 'object') return rows(node, path);
  if (node.type === 'array' && node.items?.type === 'object') return rows(node.items, `${path}[]`);
  return [];
}

function typeOf(node: SchemaNode): string {
  if (node.type === 'array') return `[]${node.items === undefined ? 'any' : typeOf(node.items)}`;
  if (node.type === 'object' && node.additionalProperties !== undefined)
    return `map[string]${typeOf(node.additionalProperties)}`;
  if (node.type === 'integer' && node.format !== undefined) return `integer (${node.format})`;
  return node.type ?? 'any';
}

function code(text: string): string {
  return `\`${text}\``;
}

function constraints(node: SchemaNode): string[] {
  const out: string[] = [];
  if (node.enum !== undefined) {
    out.push(
      node.enum.length <= MAX_LISTED_ENUM
        ? `one of ${node.enum.map((v) => code(String(v))).join(', ')}`
        : `one of ${node.enum.length} values (listed in the CRD)`,
    );
  }
  const range = (min: number | undefined, max: number | undefined, unit: string): void => {
    if (min !== undefined && max !== undefined) out.push(`${unit}${min}–${max}`);
    else if (max !== undefined) out.push(`${unit}at most ${max}`);
    else if (min !== undefined) out.push(`${unit}at least ${min}`);
  };
  range(node.minimum, node.maximum, '');
  range(node.minLength, node.maxLength, 'length ');
  range(node.minItems, node.maxItems, 'items ');
  range(node.minProperties, node.maxProperties, 'entries ');
  if (node.pattern !== undefined) out.push(`pattern ${code(node.pattern)}`);
  const listType = node['x-kubernetes-list-type'];
  if (listType === 'map')
    out.push(`unique by ${(node['x-kubernetes-list-map-keys'] ?? []).map(code).join(', ')}`);
  if (listType === 'set') out.push('unique values');
  // The apiserver's CEL rules, by the message a user sees when one fails.
  for (const rule of node['x-kubernetes-validations'] ?? [])
    out.push('message' in rule ? rule.message : rule.messageExpression);
  // Scalar list items and map values are described here; object items get rows of their own
  // for their fields, but their object-level rules belong to the list.
  const each = node.items ?? node.additionalProperties;
  if (each !== undefined) {
    const inner =
      each.type === 'object'
        ? (each['x-kubernetes-validations'] ?? []).map((r) =>
            'message' in r ? r.message : r.messageExpression,
          )
        : constraints(each);
    if (inner.length > 0)
      out.push(`each ${node.items === undefined ? 'value' : 'item'}: ${inner.join('; ')}`);
  }
  return out;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The markdown table of every field of `spec`. */
export function renderCostPolicyReference(): string {
  const lines = [
    '| field | type | required | default | constraints | description |',
    '|---|---|---|---|---|---|',
  ];
  const all: Row[] = [
    // The spec row carries the rules over several fields (e.g. currency immutability).
    { path: 'spec', node: costPolicySpecSchema, required: true },
    ...rows(costPolicySpecSchema, 'spec'),
  ];
  for (const { path, node, required } of all) {
    lines.push(
      `| ${[
        code(path),
        typeOf(node),
        required ? 'yes' : '',
        node.default === undefined ? '' : code(JSON.stringify(node.default)),
        constraints(node).join('; '),
        node.description ?? '',
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** `readme` with the text between the markers replaced by `table`. */
export function replaceSection(readme: string, table: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start)
    throw new Error(`README.md needs the markers ${START_MARKER} and ${END_MARKER}, in order`);
  return `${readme.slice(0, start + START_MARKER.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const table = renderCostPolicyReference();
  if (process.argv.includes('--write')) {
    writeFileSync(README, replaceSection(readFileSync(README, 'utf8'), table));
    console.log('wrote the CostPolicy reference into README.md');
  } else {
    console.log(table);
  }
}
