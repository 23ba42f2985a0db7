import { isCurrencyCode } from '../money/currencies.ts';
import { FIELD_MAX_LENGTH as MAX, MAX_ENTRY_TAGS } from './limits.ts';
import { parseSeq } from './position.ts';
import { LedgerFormatError, describeValue } from './errors.ts';
import {
  FLAG_PATTERN,
  HASH_PATTERN,
  NAME_KEY_PATTERN,
  TAG_NAME_PATTERN,
  array,
  boolean,
  checkDecimal,
  decimal,
  keys,
  matching,
  object,
  string,
} from './fields.ts';
import type { JsonObject } from './fields.ts';
import { parseCallRecords } from './parse-calls.ts';
import { MARKER_EVENTS, POD_QOS_CLASSES } from './types.ts';
import type {
  CheckpointCgroup,
  LedgerBody,
  LedgerEntry,
  MarkerEvent,
  ModelTokens,
  PodQos,
  PolicyRef,
  SessionRef,
} from './types.ts';
import { addUsage, checkWireUsage, sumUsage, usageEquals, usageFromWire } from './usage.ts';
import type { WireUsage } from './usage.ts';

const ENVELOPE_REQUIRED = ['v', 'seq', 'prev', 'batch', 'hash', 'node', 'agentId', 'time', 'kind'];
const ENVELOPE_OPTIONAL = ['bootId'];
const BODY_OPTIONAL: Readonly<Record<LedgerBody['kind'], readonly string[]>> = {
  'pod-usage': ['gpu', 'tags'],
  'node-usage': ['gpuUnattributed'],
  tokens: ['tags'],
  calls: ['tags'],
  checkpoint: [],
  marker: [],
};

const BODY_FIELDS: Readonly<Record<LedgerBody['kind'], readonly string[]>> = {
  'pod-usage': ['tick', 'pod', 'usage', 'shares', 'cost', 'priced', 'flags'],
  'node-usage': ['tick', 'nodeTotal', 'pods', 'nonPod', 'podEntries'],
  tokens: ['tick', 'session', 'pod', 'models', 'cost', 'priced'],
  calls: ['tick', 'session', 'pod', 'calls', 'cost', 'priced'],
  checkpoint: ['tick', 'cgroups'],
  marker: ['event', 'detail'],
};

/**
 * Validates untrusted JSON as a v1 ledger entry and returns it typed. Strict: unknown fields,
 * JSON numbers for integers, negative, fractional or leading-zero integers, and inconsistent
 * `priced`/`cost` are all refused with a LedgerFormatError naming the path. Conservation and
 * the hash are separate checks (checkConservation, verifyChain).
 */
/** Each kind's top-level fields, envelope included, built once rather than per entry read. */
const ENTRY_FIELDS: Readonly<
  Record<LedgerBody['kind'], { required: readonly string[]; optional: readonly string[] }>
> = {
  'pod-usage': entryFields('pod-usage'),
  'node-usage': entryFields('node-usage'),
  tokens: entryFields('tokens'),
  calls: entryFields('calls'),
  checkpoint: entryFields('checkpoint'),
  marker: entryFields('marker'),
};

function entryFields(kind: LedgerBody['kind']): { required: string[]; optional: string[] } {
  return {
    required: [...ENVELOPE_REQUIRED, ...BODY_FIELDS[kind]],
    optional: [...ENVELOPE_OPTIONAL, ...BODY_OPTIONAL[kind]],
  };
}

export function parseEntry(json: unknown): LedgerEntry {
  const obj = object(json, '$');
  const seq = parseSeq(obj.seq);
  try {
    return parseObject(obj);
  } catch (error) {
    if (error instanceof LedgerFormatError && error.seq === undefined && seq !== undefined) {
      throw new LedgerFormatError(error.path, error.reason, error.detail, seq);
    }
    throw error;
  }
}

function parseObject(obj: JsonObject): LedgerEntry {
  if (obj.v !== 1) {
    throw new LedgerFormatError(
      '$.v',
      'unsupported-version',
      `expected 1, got ${describeValue(obj.v)}`,
    );
  }
  const kind = obj.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(BODY_FIELDS, kind)) {
    throw new LedgerFormatError('$.kind', 'unknown-kind', describeValue(kind));
  }
  const fields = ENTRY_FIELDS[kind as LedgerBody['kind']];
  keys(obj, '$', fields.required, fields.optional);

  const seq = decimal(obj.seq, '$.seq');
  if (seq < 1n) throw new LedgerFormatError('$.seq', 'invalid-value', 'seq starts at 1');
  matching(obj.prev, '$.prev', HASH_PATTERN, 'a sha256 hex digest');
  matching(obj.hash, '$.hash', HASH_PATTERN, 'a sha256 hex digest');
  string(obj.node, '$.node', MAX.node);
  string(obj.agentId, '$.agentId', MAX.agentId);
  if (obj.bootId !== undefined) string(obj.bootId, '$.bootId', MAX.bootId);

  const batch = object(obj.batch, '$.batch');
  keys(batch, '$.batch', ['first', 'size']);
  const first = decimal(batch.first, '$.batch.first');
  const size = decimal(batch.size, '$.batch.size');
  if (size < 1n)
    throw new LedgerFormatError('$.batch.size', 'invalid-value', 'a batch has entries');
  if (seq < first || seq >= first + size) {
    throw new LedgerFormatError('$.batch', 'invalid-value', 'seq lies outside its batch');
  }

  const time = object(obj.time, '$.time');
  keys(time, '$.time', ['start', 'end']);
  if (decimal(time.start, '$.time.start') > decimal(time.end, '$.time.end')) {
    throw new LedgerFormatError('$.time', 'invalid-value', 'start is after end');
  }

  if (obj.tags !== undefined) entryTags(obj.tags);
  switch (kind) {
    case 'pod-usage':
      parsePodUsage(obj);
      break;
    case 'node-usage':
      parseNodeUsage(obj);
      break;
    case 'tokens':
      parseTokens(obj);
      break;
    case 'calls':
      parseCalls(obj);
      break;
    case 'checkpoint':
      parseCheckpoint(obj);
      break;
    case 'marker':
      parseMarker(obj);
      break;
  }
  return obj as unknown as LedgerEntry;
}

/** 1..MAX_ENTRY_TAGS tags: a writer leaves the member out when it has none. */
function entryTags(value: unknown): void {
  const tags = object(value, '$.tags');
  const names = Object.keys(tags);
  if (names.length === 0 || names.length > MAX_ENTRY_TAGS) {
    throw new LedgerFormatError('$.tags', 'invalid-value', `1..${MAX_ENTRY_TAGS} tags`);
  }
  for (const name of names) {
    if (name.length > MAX.tagName || !TAG_NAME_PATTERN.test(name)) {
      throw new LedgerFormatError(
        '$.tags',
        'invalid-value',
        `${describeValue(name)} is not a tag name`,
      );
    }
    string(tags[name], `$.tags.${name}`, MAX.tagValue);
  }
}

function wireUsage(value: unknown, path: string): WireUsage {
  checkWireUsage(value, path);
  return value as WireUsage;
}

function session(value: unknown, path: string): SessionRef {
  const obj = object(value, path);
  keys(obj, path, ['namespace', 'id']);
  string(obj.namespace, `${path}.namespace`, MAX.name);
  string(obj.id, `${path}.id`, MAX.sessionId);
  return obj as unknown as SessionRef;
}

function sessionOrNull(value: unknown, path: string): SessionRef | null {
  return value === null ? null : session(value, path);
}

function sessionKey(ref: SessionRef | null): string {
  return ref === null ? '' : `${ref.namespace}/${ref.id}`;
}

function policy(value: unknown, path: string): PolicyRef {
  const obj = object(value, path);
  keys(obj, path, ['name', 'generation']);
  string(obj.name, `${path}.name`, MAX.name);
  checkDecimal(obj.generation, `${path}.generation`);
  return obj as unknown as PolicyRef;
}

function currency(value: unknown, path: string): void {
  const code = string(value, path, MAX.currency);
  if (!isCurrencyCode(code)) {
    throw new LedgerFormatError(
      path,
      'invalid-value',
      `${describeValue(code)} is not a supported ISO 4217 code`,
    );
  }
}

/** `priced` mirrors `cost`, so a reader never has to guess whether null means free. */
function pricedMatchesCost(obj: JsonObject): void {
  if (boolean(obj.priced, '$.priced') !== (obj.cost !== null)) {
    throw new LedgerFormatError('$.priced', 'invalid-value', 'priced must equal cost !== null');
  }
}

function uniqueSessions(refs: readonly (SessionRef | null)[], path: string): void {
  if (refs.length < 2) return;
  const seen = new Set<string>();
  refs.forEach((ref, i) => {
    const key = sessionKey(ref);
    if (seen.has(key))
      throw new LedgerFormatError(`${path}[${i}]`, 'invalid-value', 'duplicate session');
    seen.add(key);
  });
}

function parsePodUsage(obj: JsonObject): void {
  string(obj.tick, '$.tick', MAX.tick);
  const pod = object(obj.pod, '$.pod');
  keys(pod, '$.pod', ['uid', 'namespace', 'name', 'qos'], ['workload']);
  string(pod.uid, '$.pod.uid', MAX.podUid);
  string(pod.namespace, '$.pod.namespace', MAX.name);
  string(pod.name, '$.pod.name', MAX.name);
  if (!POD_QOS_CLASSES.includes(pod.qos as PodQos)) {
    throw new LedgerFormatError(
      '$.pod.qos',
      'invalid-value',
      `${describeValue(pod.qos)} is not a QoS class`,
    );
  }
  if (pod.workload !== undefined) {
    const workload = object(pod.workload, '$.pod.workload');
    keys(workload, '$.pod.workload', ['kind', 'name']);
    string(workload.kind, '$.pod.workload.kind', MAX.kind);
    string(workload.name, '$.pod.workload.name', MAX.name);
  }
  wireUsage(obj.usage, '$.usage');
  const shares = array(obj.shares, '$.shares');
  if (shares.length === 0) {
    throw new LedgerFormatError('$.shares', 'invalid-value', 'at least the unattributed share');
  }
  const sessions: (SessionRef | null)[] = [];
  for (let i = 0; i < shares.length; i++) {
    const path = `$.shares[${i}]`;
    const share = object(shares[i], path);
    keys(share, path, ['session', 'usage']);
    sessions.push(sessionOrNull(share.session, `${path}.session`));
    wireUsage(share.usage, `${path}.usage`);
  }
  uniqueSessions(sessions, '$.shares');
  if (obj.cost !== null) {
    const path = '$.cost';
    const cost = object(obj.cost, path);
    keys(cost, path, ['currency', 'policy', 'totalNano', 'bySession']);
    currency(cost.currency, `${path}.currency`);
    policy(cost.policy, `${path}.policy`);
    checkDecimal(cost.totalNano, `${path}.totalNano`);
    const bySession = array(cost.bySession, `${path}.bySession`).map((value, i) => {
      const itemPath = `${path}.bySession[${i}]`;
      const item = object(value, itemPath);
      keys(item, itemPath, ['session', 'totalNano']);
      checkDecimal(item.totalNano, `${itemPath}.totalNano`);
      return sessionOrNull(item.session, `${itemPath}.session`);
    });
    uniqueSessions(bySession, `${path}.bySession`);
  }
  pricedMatchesCost(obj);
  if (obj.gpu !== undefined) gpuUsage(obj.gpu, '$.gpu', false);
  const flags = array(obj.flags, '$.flags');
  flags.forEach((flag, i) => matching(flag, `$.flags[${i}]`, FLAG_PATTERN, 'a kebab-case flag'));
  if (flags.length > 1 && new Set(flags).size !== flags.length) {
    throw new LedgerFormatError('$.flags', 'invalid-value', 'duplicate flag');
  }
}

/** Per-model (or per-device) GPU rows: unique keys, decimal microseconds. */
function gpuUsage(value: unknown, path: string, withDevice: boolean): void {
  const seen = new Set<string>();
  array(value, path).forEach((item, i) => {
    const itemPath = `${path}[${i}]`;
    const row = object(item, itemPath);
    keys(
      row,
      itemPath,
      withDevice
        ? ['device', 'model', 'allocatedUs', 'activeUs']
        : ['model', 'allocatedUs', 'activeUs'],
    );
    string(row.model, `${itemPath}.model`, MAX.gpuModel);
    checkDecimal(row.allocatedUs, `${itemPath}.allocatedUs`);
    checkDecimal(row.activeUs, `${itemPath}.activeUs`);
    const key = withDevice
      ? string(row.device, `${itemPath}.device`, MAX.gpuModel)
      : (row.model as string);
    if (seen.has(key)) throw new LedgerFormatError(itemPath, 'invalid-value', 'duplicate GPU row');
    seen.add(key);
  });
}

function parseNodeUsage(obj: JsonObject): void {
  if (obj.gpuUnattributed !== undefined) gpuUsage(obj.gpuUnattributed, '$.gpuUnattributed', true);
  string(obj.tick, '$.tick', MAX.tick);
  wireUsage(obj.nodeTotal, '$.nodeTotal');
  wireUsage(obj.pods, '$.pods');
  wireUsage(obj.nonPod, '$.nonPod');
  checkDecimal(obj.podEntries, '$.podEntries');
}

/** The tick, session and pod of a tokens or calls entry. */
function spanSource(obj: JsonObject): void {
  string(obj.tick, '$.tick', MAX.tick);
  sessionOrNull(obj.session, '$.session');
  const pod = object(obj.pod, '$.pod');
  keys(pod, '$.pod', ['uid', 'namespace', 'name']);
  string(pod.uid, '$.pod.uid', MAX.podUid);
  string(pod.namespace, '$.pod.namespace', MAX.name);
  string(pod.name, '$.pod.name', MAX.name);
}

function tokenCost(obj: JsonObject): void {
  if (obj.cost !== null) {
    const cost = object(obj.cost, '$.cost');
    keys(cost, '$.cost', ['currency', 'policy', 'totalNano']);
    currency(cost.currency, '$.cost.currency');
    policy(cost.policy, '$.cost.policy');
    checkDecimal(cost.totalNano, '$.cost.totalNano');
  }
  pricedMatchesCost(obj);
}

function parseCalls(obj: JsonObject): void {
  spanSource(obj);
  tokenCost(obj);
  parseCallRecords(obj.calls, '$.calls', obj.cost !== null);
}

function parseTokens(obj: JsonObject): void {
  spanSource(obj);
  const models = array(obj.models, '$.models').map((value, i): ModelTokens => {
    const path = `$.models[${i}]`;
    const item = object(value, path);
    keys(item, path, ['model', 'inputTokens', 'outputTokens']);
    string(item.model, `${path}.model`, MAX.gpuModel);
    checkDecimal(item.inputTokens, `${path}.inputTokens`);
    checkDecimal(item.outputTokens, `${path}.outputTokens`);
    return item as unknown as ModelTokens;
  });
  if (new Set(models.map((m) => m.model)).size !== models.length) {
    throw new LedgerFormatError('$.models', 'invalid-value', 'duplicate model');
  }
  tokenCost(obj);
}

function parseCheckpoint(obj: JsonObject): void {
  string(obj.tick, '$.tick', MAX.tick);
  const seen = new Set<string>();
  array(obj.cgroups, '$.cgroups').forEach((value, i) => {
    const path = `$.cgroups[${i}]`;
    const cgroup = object(value, path);
    keys(cgroup, path, ['key', 'podUid', 'counters']);
    const key = string(cgroup.key, `${path}.key`, MAX.cgroupKey);
    if (seen.has(key))
      throw new LedgerFormatError(`${path}.key`, 'invalid-value', 'duplicate cgroup key');
    seen.add(key);
    if (cgroup.podUid !== null) string(cgroup.podUid, `${path}.podUid`, MAX.podUid);
    const counters = object(cgroup.counters, `${path}.counters`);
    for (const name of Object.keys(counters)) {
      matching(name, `${path}.counters`, NAME_KEY_PATTERN, 'a counter name');
      checkDecimal(counters[name], `${path}.counters`, name);
    }
    return cgroup as unknown as CheckpointCgroup;
  });
}

function parseMarker(obj: JsonObject): void {
  if (!MARKER_EVENTS.includes(obj.event as MarkerEvent)) {
    throw new LedgerFormatError(
      '$.event',
      'invalid-value',
      `${describeValue(obj.event)} is not a marker event`,
    );
  }
  const detail = object(obj.detail, '$.detail');
  for (const [name, value] of Object.entries(detail)) {
    matching(name, '$.detail', NAME_KEY_PATTERN, 'a detail name');
    string(value, `$.detail.${name}`, MAX.markerDetail);
  }
}

/**
 * Invariant 1 as checkable from one entry: a pod entry's shares sum to its usage, and a node
 * entry's pods plus nonPod equal its total, and a calls entry's call costs sum to its cost.
 * Returns why it fails, or null.
 */
export function conservationViolation(entry: LedgerEntry): string | null {
  if (entry.kind === 'pod-usage') {
    const usage = usageFromWire(entry.usage);
    const shares = sumUsage(entry.shares.map((share) => usageFromWire(share.usage)));
    if (!usageEquals(shares, usage)) return 'shares do not sum to usage';
    if (entry.gpu !== undefined) {
      const allocated = entry.gpu.reduce((sum, row) => sum + BigInt(row.allocatedUs), 0n);
      const active = entry.gpu.reduce((sum, row) => sum + BigInt(row.activeUs), 0n);
      if (allocated !== (usage.gpuAllocatedUs ?? 0n) || active !== (usage.gpuActiveUs ?? 0n)) {
        return 'gpu rows do not sum to the GPU usage';
      }
    }
    return null;
  }
  if (entry.kind === 'node-usage') {
    const sum = addUsage(usageFromWire(entry.pods), usageFromWire(entry.nonPod));
    return usageEquals(sum, usageFromWire(entry.nodeTotal)) ? null : 'pods + nonPod != nodeTotal';
  }
  if (entry.kind === 'calls' && entry.cost !== null) {
    const sum = entry.calls.reduce((total, call) => total + BigInt(call.costNano ?? '0'), 0n);
    return sum === BigInt(entry.cost.totalNano)
      ? null
      : "calls' costs do not sum to cost.totalNano";
  }
  return null;
}
