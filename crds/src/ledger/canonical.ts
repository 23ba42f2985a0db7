import { LedgerFormatError, describeValue } from './errors.ts';

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units, no whitespace, keys whose value
 * is `undefined` omitted (as JSON.stringify does, so an optional field that is absent and one
 * that is undefined hash the same). Only safe integers are allowed as numbers — every other
 * integer in the ledger is a decimal string — so no float or BigInt can change the hash by
 * being rendered differently on another runtime.
 */
export function canonicalize(value: unknown): string {
  // The path is tracked as a stack and only rendered for an error: this runs twice per entry.
  return write(value, []);
}

function write(value: unknown, path: (string | number)[]): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      // JSON.stringify's string escaping is fully specified (ES2019 well-formed stringify).
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new LedgerFormatError(
          render(path),
          'invalid-value',
          `number ${String(value)} is not a safe integer`,
        );
      }
      return String(value);
    case 'object': {
      let out: string;
      if (Array.isArray(value)) {
        out = '[';
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          out += (i === 0 ? '' : ',') + write(value[i], path);
          path.pop();
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      out = '{';
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined) continue;
        path.push(key);
        out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${write(item, path)}`;
        path.pop();
      }
      return `${out}}`;
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
