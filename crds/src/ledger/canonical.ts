import { LedgerFormatError, describeValue } from './errors.ts';

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units, no whitespace, keys whose value
 * is `undefined` omitted (as JSON.stringify does, so an optional field that is absent and one
 * that is undefined hash the same). Only safe integers are allowed as numbers — every other
 * integer in the ledger is a decimal string — so no float or BigInt can change the hash by
 * being rendered differently on another runtime.
 */
export function canonicalize(value: unknown): string {
  // Build a copy whose objects hold their keys in sorted order, then let the engine's native
  // JSON.stringify render it: the same bytes as a hand-written serialiser, several times faster
  // on the writer's hot path (it runs twice per entry). The path is tracked as a stack and only
  // rendered for an error.
  return JSON.stringify(sorted(value, []));
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

function sorted(value: unknown, path: (string | number)[]): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new LedgerFormatError(
          render(path),
          'invalid-value',
          `number ${String(value)} is not a safe integer`,
        );
      }
      return value;
    case 'object': {
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          // JSON.stringify renders an undefined array element as null; so does this.
          out[i] = value[i] === undefined ? null : sorted(value[i], path);
          path.pop();
        }
        return out;
      }
      const record = value as Record<string, unknown>;
      // No prototype, so a `__proto__` key is an ordinary member as it is in parsed JSON.
      const out = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined) continue;
        path.push(key);
        // Engines put array-index keys first in numeric order whatever the insertion order,
        // which would break the sorted form; the ledger format has no such keys.
        if (ARRAY_INDEX.test(key)) {
          throw new LedgerFormatError(
            render(path),
            'invalid-value',
            'numeric object keys are not allowed',
          );
        }
        out[key] = sorted(item, path);
        path.pop();
      }
      return out;
    }
    default:
      throw new LedgerFormatError(
        render(path),
        'wrong-type',
        `${describeValue(value)} cannot be serialised`,
      );
  }
}

function render(path: readonly (string | number)[]): string {
  return `$${path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${key}`)).join('')}`;
}
