import { LedgerFormatError, describeValue, type LedgerFormatReason } from './errors.ts';

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units, no whitespace, keys whose value
 * is `undefined` omitted (as JSON.stringify does, so an optional field that is absent and one
 * that is undefined hash the same). Only safe integers are allowed as numbers — every other
 * integer in the ledger is a decimal string — so no float or BigInt can change the hash by
 * being rendered differently on another runtime.
 */
export function canonicalize(value: unknown): string {
  // The engine's JSON.stringify renders the bytes; this only checks the value and, where an
  // object's keys are out of order, builds a sorted copy. Objects already in order (the
  // ledger's own builders write them so) are passed through without copying: this runs for
  // every entry on the agent's write path.
  return JSON.stringify(atRoot(() => prepare(value)));
}

/**
 * The members of canonicalize(record) split around the key `at` (which `record` must not hold):
 * `[before, after]`, each the comma-joined `"key":value` members without braces. Lets a writer
 * insert a member (the entry's own hash) in its sorted place with two serialisations, not one
 * per member.
 */
export function canonicalSplit(
  record: Readonly<Record<string, unknown>>,
  at: string,
): [before: string, after: string] {
  return atRoot(() => {
    // Plain objects, not null-prototype ones: those are dictionaries to V8, which its JSON
    // serialiser walks more slowly, and this runs for every entry the agent writes.
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    const keys = Object.keys(record).sort();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const item = record[key];
      if (item === undefined) continue;
      checkKey(key);
      const target = key < at ? before : after;
      const value = prepareAt(key, item);
      // Assigning `__proto__` would set the prototype instead of adding the member.
      if (key === '__proto__') {
        Object.defineProperty(target, key, { value, enumerable: true, writable: true });
      } else {
        target[key] = value;
      }
    }
    return [JSON.stringify(before).slice(1, -1), JSON.stringify(after).slice(1, -1)];
  });
}

/** A failure deep in a value; the path is collected on the way out, only when one happens. */
class AtPath {
  readonly path: (string | number)[] = [];
  readonly reason: LedgerFormatReason;
  readonly detail: string;
  constructor(reason: LedgerFormatReason, detail: string) {
    this.reason = reason;
    this.detail = detail;
  }
}

function atRoot<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof AtPath)) throw error;
    const path = error.path
      .map((key) => (typeof key === 'number' ? `[${key}]` : `.${key}`))
      .join('');
    throw new LedgerFormatError(`$${path}`, error.reason, error.detail);
  }
}

/** prepare(item), with `key` added to the path of a failure inside it. No closure: this runs
 * once per value written. */
function prepareAt(key: string | number, item: unknown): unknown {
  try {
    return prepare(item);
  } catch (error) {
    if (error instanceof AtPath) error.path.unshift(key);
    throw error;
  }
}

/** The value itself when it is already canonical, else a copy with sorted keys. */
function prepare(value: unknown): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new AtPath('invalid-value', `number ${String(value)} is not a safe integer`);
      }
      return value;
    case 'object':
      return Array.isArray(value) ? prepareArray(value) : prepareObject(value);
    default:
      throw new AtPath('wrong-type', `${describeValue(value)} cannot be serialised`);
  }
}

function prepareArray(array: readonly unknown[]): unknown {
  let copy: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    // JSON.stringify renders an undefined element as null, as the canonical form does.
    if (item === undefined) continue;
    const prepared = prepareAt(i, item);
    if (prepared !== item) {
      copy ??= array.slice();
      copy[i] = prepared;
    }
  }
  return copy ?? array;
}

function prepareObject(value: object): unknown {
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const proto: unknown = Object.getPrototypeOf(record);
  // Anything but a plain object (a Date, a class instance) is copied as its own members, so
  // no toJSON or prototype can change what is written.
  let inOrder = proto === Object.prototype || proto === null;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    checkKey(key);
    if (i > 0 && (keys[i - 1] as string) >= key) inOrder = false;
  }
  if (!inOrder) return sortedCopy(record, keys.sort());
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const item = record[key];
    if (item === undefined) continue;
    const prepared = prepareAt(key, item);
    if (copy === undefined && prepared !== item) {
      copy = Object.create(null) as Record<string, unknown>;
      for (let j = 0; j < i; j++) {
        const earlier = keys[j] as string;
        if (record[earlier] !== undefined) copy[earlier] = record[earlier];
      }
    }
    if (copy !== undefined) copy[key] = prepared;
  }
  return copy ?? record;
}

function sortedCopy(record: Record<string, unknown>, sortedKeys: readonly string[]): unknown {
  // No prototype, so a `__proto__` key is an ordinary member as it is in parsed JSON.
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of sortedKeys) {
    const item = record[key];
    if (item !== undefined) copy[key] = prepareAt(key, item);
  }
  return copy;
}

/** Engines put array-index keys first in numeric order whatever the insertion order, which
 * would break the sorted form; the ledger format has no such keys. */
function checkKey(key: string): void {
  const first = key.charCodeAt(0);
  if (first >= 48 && first <= 57 && /^(?:0|[1-9][0-9]*)$/.test(key)) {
    const failure = new AtPath('invalid-value', 'numeric object keys are not allowed');
    failure.path.push(key);
    throw failure;
  }
}
