import { LedgerFormatError, describeValue } from './errors.ts';

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units, no whitespace, keys whose value
 * is `undefined` omitted (as JSON.stringify does, so an optional field that is absent and one
 * that is undefined hash the same). Only safe integers are allowed as numbers — every other
 * integer in the ledger is a decimal string — so no float or BigInt can change the hash by
 * being rendered differently on another runtime.
 */
export function canonicalize(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      // JSON.stringify's string escaping is fully specified (ES2019 well-formed stringify).
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new LedgerFormatError(path, 'invalid-value', `number ${String(value)} is not a safe integer`);
      }
      return String(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => write(item, `${path}[${i}]`)).join(',')}]`;
      }
      const record = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${write(item, `${path}.${key}`)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new LedgerFormatError(path, 'wrong-type', `${describeValue(value)} cannot be serialised`);
  }
}
