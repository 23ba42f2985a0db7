import { isCurrencyCode } from '../money/currencies.ts';
import { FIELD_MAX_LENGTH as MAX, MAX_CALLS_PER_ENTRY, MAX_ENTRY_TAGS } from './limits.ts';
import {
  API_HOST_PATTERN,
  ARGS_HASH_PATTERN,
  CALL_FIELDS,
  CALL_WORD_PATTERN,
  SPAN_ID_PATTERN,
  TRACE_ID_PATTERN,
} from './parse-calls.ts';
import {
  FLAG_PATTERN,
  HASH_PATTERN,
  NAME_KEY_PATTERN,
  TAG_NAME_PATTERN,
  isDecimalText,
} from './fields.ts';
import { POD_QOS_CLASSES } from './types.ts';
import type { PodQos } from './types.ts';
import { REQUIRED_USAGE_KEYS, USAGE_KEYS } from './usage.ts';

/**
 * The writer's fast path for the entries it writes in bulk: a pod-usage entry per pod, a
 * checkpoint per batch and the calls entries (one record per model, tool and API call). Returns what `canonicalSplit(record, 'hash')` returns, built member by
 * member in sorted order while checking what `parseEntry` checks, or undefined when the record
 * is anything else (another kind, GPU rows, an extra or missing member, keys out of order, an
 * invalid value). The writer then takes the generic path, which produces the precise error.
 * One pass instead of three (sort and check, serialise, validate): the agent runs its
 * JavaScript without an optimising compiler, and those three were most of the CPU of sealing a
 * 250-pod batch.
 *
 * Sound by construction and by test: whenever this returns members, parseEntry accepts the
 * record (with its hash) and canonicalSplit returns the same strings
 * (canonical-fast-path.test.ts).
 */
export function canonicalSplitFast(
  record: Readonly<Record<string, unknown>>,
): [before: string, after: string] | undefined {
  if (own(record, 'v') !== 1) return undefined;
  // `hash` is an own member, still undefined: the writer fills it in from these members.
  if (record.hash !== undefined || !Object.hasOwn(record, 'hash')) return undefined;
  const kind = own(record, 'kind');
  const envelope =
    kind === 'pod-usage' || kind === 'checkpoint' || kind === 'calls'
      ? envelopeOf(record)
      : undefined;
  if (envelope === undefined) return undefined;
  if (kind === 'calls') return calls(record, envelope);
  return kind === 'pod-usage' ? podUsage(record, envelope) : checkpoint(record, envelope);
}

/** The JSON of the members every entry has, and how many own members the record has with them. */
interface Envelope {
  /** agentId, batch and bootId: the members sorted before every body member. */
  readonly head: string;
  readonly node: string;
  readonly prev: string;
  readonly seq: string;
  readonly time: string;
  /** Envelope members (hash included) plus the body's own count gives Object.keys' length. */
  readonly members: number;
}

function envelopeOf(record: Fields): Envelope | undefined {
  const agentId = text(own(record, 'agentId'), MAX.agentId);
  const seq = own(record, 'seq');
  const batch = batchJson(own(record, 'batch'), seq);
  const node = text(own(record, 'node'), MAX.node);
  const prev = own(record, 'prev');
  const time = timeJson(own(record, 'time'));
  if (
    agentId === undefined ||
    batch === undefined ||
    node === undefined ||
    typeof prev !== 'string' ||
    !HASH_PATTERN.test(prev) ||
    time === undefined
  ) {
    return undefined;
  }
  // agentId, batch, hash, kind, node, prev, seq, time, v.
  let members = 9;
  let head = `"agentId":${agentId},"batch":${batch}`;
  const bootId = own(record, 'bootId');
  if (bootId !== undefined) {
    const json = text(bootId, MAX.bootId);
    if (json === undefined) return undefined;
    head += `,"bootId":${json}`;
    members++;
  }
  return { head, node, prev, seq: seq as string, time, members };
}

function podUsage(record: Fields, e: Envelope): [string, string] | undefined {
  const costValue = own(record, 'cost');
  const cost = costValue === null ? 'null' : costJson(costValue);
  const flags = flagsJson(own(record, 'flags'));
  const pod = podJson(own(record, 'pod'));
  const priced = own(record, 'priced');
  const shares = sharesJson(own(record, 'shares'));
  const tags = optionalTags(own(record, 'tags'));
  const tick = text(own(record, 'tick'), MAX.tick);
  const usage = usageJson(own(record, 'usage'));
  if (
    cost === undefined ||
    flags === undefined ||
    pod === undefined ||
    priced !== (costValue !== null) ||
    shares === undefined ||
    tags === undefined ||
    tick === undefined ||
    usage === undefined ||
    // cost, flags, pod, priced, shares, tick, usage (and tags): a GPU pod's `gpu` takes the
    // generic path.
    Object.keys(record).length !== e.members + 7 + tags.members
  ) {
    return undefined;
  }
  return [
    `${e.head},"cost":${cost},"flags":${flags}`,
    `"kind":"pod-usage","node":${e.node},"pod":${pod},"prev":"${e.prev}","priced":${String(priced)},` +
      `"seq":"${e.seq}","shares":${shares}${tags.json},"tick":${tick},"time":${e.time},"usage":${usage},"v":1`,
  ];
}

function checkpoint(record: Fields, e: Envelope): [string, string] | undefined {
  const cgroups = cgroupsJson(own(record, 'cgroups'));
  const tick = text(own(record, 'tick'), MAX.tick);
  if (cgroups === undefined || tick === undefined || Object.keys(record).length !== e.members + 2) {
    return undefined;
  }
  return [
    `${e.head},"cgroups":${cgroups}`,
    `"kind":"checkpoint","node":${e.node},"prev":"${e.prev}","seq":"${e.seq}","tick":${tick},` +
      `"time":${e.time},"v":1`,
  ];
}

function calls(record: Fields, e: Envelope): [string, string] | undefined {
  const costValue = own(record, 'cost');
  const priced = own(record, 'priced');
  const cost = costValue === null ? 'null' : tokenCostJson(costValue);
  const list = callListJson(own(record, 'calls'), costValue !== null);
  const pod = spanPodJson(own(record, 'pod'));
  const session = sessionJson(own(record, 'session'));
  const tags = optionalTags(own(record, 'tags'));
  const tick = text(own(record, 'tick'), MAX.tick);
  if (
    cost === undefined ||
    list === undefined ||
    pod === undefined ||
    priced !== (costValue !== null) ||
    session === undefined ||
    tags === undefined ||
    tick === undefined ||
    // calls, cost, pod, priced, session, tick (and tags).
    Object.keys(record).length !== e.members + 6 + tags.members
  ) {
    return undefined;
  }
  return [
    `${e.head},"calls":${list},"cost":${cost}`,
    `"kind":"calls","node":${e.node},"pod":${pod},"prev":"${e.prev}","priced":${String(priced)},` +
      `"seq":"${e.seq}","session":${session.json}${tags.json},"tick":${tick},"time":${e.time},"v":1`,
  ];
}

type Fields = Readonly<Record<string, unknown>>;

/** An object, not an array, with exactly `count` own enumerable members (undefined-valued ones
 * included). */
function record(value: unknown, count: number): Fields | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.keys(value).length === count ? (value as Fields) : undefined;
}

/** `value[key]` when it is an own member (an inherited one is absent to parseEntry). */
function own(value: Fields, key: string): unknown {
  return Object.hasOwn(value, key) ? value[key] : undefined;
}

/** The JSON of a string of 1..max UTF-16 units, as fields.ts `string` accepts it. */
function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max
    ? JSON.stringify(value)
    : undefined;
}

/** The JSON of a decimal string: its digits need no escaping. */
function decimalJson(value: unknown): string | undefined {
  return isDecimalText(value) ? `"${value}"` : undefined;
}

/** Canonical decimals compare as numbers by length, then by text. */
function decimalLess(a: string, b: string): boolean {
  return a.length < b.length || (a.length === b.length && a < b);
}

function batchJson(value: unknown, seq: unknown): string | undefined {
  const batch = record(value, 2);
  if (batch === undefined || !isDecimalText(seq) || seq === '0') return undefined;
  const first = own(batch, 'first');
  const size = own(batch, 'size');
  if (!isDecimalText(first) || !isDecimalText(size) || size === '0') return undefined;
  if (decimalLess(seq, first) || BigInt(seq) >= BigInt(first) + BigInt(size)) return undefined;
  return `{"first":"${first}","size":"${size}"}`;
}

function timeJson(value: unknown): string | undefined {
  const time = record(value, 2);
  if (time === undefined) return undefined;
  const start = own(time, 'start');
  const end = own(time, 'end');
  if (!isDecimalText(start) || !isDecimalText(end) || decimalLess(end, start)) return undefined;
  return `{"end":"${end}","start":"${start}"}`;
}

/** Every usage key, sorted as the canonical form orders them. */
const USAGE_ORDER: readonly string[] = [...USAGE_KEYS].sort();
const REQUIRED_USAGE: ReadonlySet<string> = new Set(REQUIRED_USAGE_KEYS);

function usageJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const usage = value as Fields;
  let out = '';
  let count = 0;
  for (let i = 0; i < USAGE_ORDER.length; i++) {
    const key = USAGE_ORDER[i] as string;
    const item = own(usage, key);
    if (item === undefined) {
      if (REQUIRED_USAGE.has(key)) return undefined;
      continue;
    }
    if (!isDecimalText(item)) return undefined;
    out += `${count === 0 ? '' : ','}"${key}":"${item}"`;
    count++;
  }
  return Object.keys(usage).length === count ? `{${out}}` : undefined;
}

/** The session's JSON and its uniqueness key (namespace/id, '' for null). */
function sessionJson(value: unknown): { json: string; key: string } | undefined {
  if (value === null) return { json: 'null', key: '' };
  const session = record(value, 2);
  if (session === undefined) return undefined;
  const namespace = own(session, 'namespace');
  const id = own(session, 'id');
  const namespaceJson = text(namespace, MAX.name);
  const idJson = text(id, MAX.sessionId);
  if (namespaceJson === undefined || idJson === undefined) return undefined;
  return {
    json: `{"id":${idJson},"namespace":${namespaceJson}}`,
    key: `${namespace as string}/${id as string}`,
  };
}

/** `[{"session":…,"<field>":…},…]`: rows of a session and one more member, sessions unique. */
function sessionRowsJson(
  value: unknown,
  field: 'usage' | 'totalNano',
  fieldJson: (item: unknown) => string | undefined,
): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const seen = value.length > 1 ? new Set<string>() : undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const row = record(value[i], 2);
    if (row === undefined) return undefined;
    const session = sessionJson(own(row, 'session'));
    const member = fieldJson(own(row, field));
    if (session === undefined || member === undefined) return undefined;
    if (seen !== undefined) {
      if (seen.has(session.key)) return undefined;
      seen.add(session.key);
    }
    out += `${i === 0 ? '' : ','}{"session":${session.json},"${field}":${member}}`;
  }
  return `[${out}]`;
}

function sharesJson(value: unknown): string | undefined {
  // At least the unattributed share.
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return sessionRowsJson(value, 'usage', usageJson);
}

/** The JSON of the currency, policy and totalNano members every cost has. */
function costMembers(
  cost: Fields,
): { currency: string; policy: string; totalNano: string } | undefined {
  const currency = own(cost, 'currency');
  const totalNano = decimalJson(own(cost, 'totalNano'));
  const policy = record(own(cost, 'policy'), 2);
  if (
    typeof currency !== 'string' ||
    !isCurrencyCode(currency) ||
    totalNano === undefined ||
    policy === undefined
  ) {
    return undefined;
  }
  const generation = decimalJson(own(policy, 'generation'));
  const name = text(own(policy, 'name'), MAX.name);
  if (generation === undefined || name === undefined) return undefined;
  return {
    currency: JSON.stringify(currency),
    policy: `{"generation":${generation},"name":${name}}`,
    totalNano,
  };
}

function costJson(value: unknown): string | undefined {
  const cost = record(value, 4);
  const m = cost === undefined ? undefined : costMembers(cost);
  const rows =
    cost === undefined
      ? undefined
      : sessionRowsJson(own(cost, 'bySession'), 'totalNano', decimalJson);
  if (m === undefined || rows === undefined) return undefined;
  return `{"bySession":${rows},"currency":${m.currency},"policy":${m.policy},"totalNano":${m.totalNano}}`;
}

function podJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const pod = value as Fields;
  const name = text(own(pod, 'name'), MAX.name);
  const namespace = text(own(pod, 'namespace'), MAX.name);
  const qos = own(pod, 'qos');
  const uid = text(own(pod, 'uid'), MAX.podUid);
  if (
    name === undefined ||
    namespace === undefined ||
    !POD_QOS_CLASSES.includes(qos as PodQos) ||
    uid === undefined
  ) {
    return undefined;
  }
  const members = `"name":${name},"namespace":${namespace},"qos":"${qos as PodQos}","uid":${uid}`;
  const workloadValue = own(pod, 'workload');
  if (workloadValue === undefined) {
    return Object.keys(pod).length === 4 ? `{${members}}` : undefined;
  }
  const workload = record(workloadValue, 2);
  if (workload === undefined || Object.keys(pod).length !== 5) return undefined;
  const kind = text(own(workload, 'kind'), MAX.kind);
  const workloadName = text(own(workload, 'name'), MAX.name);
  if (kind === undefined || workloadName === undefined) return undefined;
  return `{${members},"workload":{"kind":${kind},"name":${workloadName}}}`;
}

function flagsJson(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const flag: unknown = value[i];
    if (typeof flag !== 'string' || flag.length > MAX.default || !FLAG_PATTERN.test(flag)) {
      return undefined;
    }
    // Kebab-case: nothing to escape. Duplicates are rare enough to look for by scanning.
    if (value.indexOf(flag) !== i) return undefined;
    out += `${i === 0 ? '' : ','}"${flag}"`;
  }
  return `[${out}]`;
}

/** Counter names seen valid, so each is matched once, not once per cgroup and batch. Bounded:
 * past the limit a name is matched every time. */
const COUNTER_NAMES = new Set<string>();
const COUNTER_NAMES_LIMIT = 256;

function counterName(name: string): boolean {
  if (COUNTER_NAMES.has(name)) return true;
  if (!NAME_KEY_PATTERN.test(name)) return false;
  if (COUNTER_NAMES.size < COUNTER_NAMES_LIMIT) COUNTER_NAMES.add(name);
  return true;
}

function cgroupsJson(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const seen = new Set<string>();
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const cgroup = record(value[i], 3);
    if (cgroup === undefined) return undefined;
    const key = own(cgroup, 'key');
    const keyJson = text(key, MAX.cgroupKey);
    const podUid = own(cgroup, 'podUid');
    const podUidJson = podUid === null ? 'null' : text(podUid, MAX.podUid);
    const counters = countersJson(own(cgroup, 'counters'));
    if (keyJson === undefined || podUidJson === undefined || counters === undefined) {
      return undefined;
    }
    if (seen.has(key as string)) return undefined;
    seen.add(key as string);
    out += `${i === 0 ? '' : ','}{"counters":${counters},"key":${keyJson},"podUid":${podUidJson}}`;
  }
  return `[${out}]`;
}

/** Counters by name in strictly increasing order (the canonical order); otherwise undefined, and
 * the generic path sorts them. */
function countersJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const counters = value as Fields;
  const names = Object.keys(counters);
  let out = '';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const item = counters[name];
    if (i > 0 && (names[i - 1] as string) >= name) return undefined;
    if (!counterName(name) || !isDecimalText(item)) return undefined;
    // Counter names are letters, digits and `_.-`: nothing to escape.
    out += `${i === 0 ? '' : ','}"${name}":"${item}"`;
  }
  return `{${out}}`;
}

/**
 * The `,"tags":{…}` member and its count (nothing and 0 when absent): 1..MAX_ENTRY_TAGS tags in
 * strictly increasing name order (otherwise undefined, and the generic path sorts them).
 */
function optionalTags(value: unknown): { json: string; members: number } | undefined {
  if (value === undefined) return { json: '', members: 0 };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const tags = value as Fields;
  const names = Object.keys(tags);
  if (names.length === 0 || names.length > MAX_ENTRY_TAGS) return undefined;
  let out = '';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (i > 0 && (names[i - 1] as string) >= name) return undefined;
    const json = text(tags[name], MAX.tagValue);
    if (name.length > MAX.tagName || !TAG_NAME_PATTERN.test(name) || json === undefined) {
      return undefined;
    }
    // Tag names are lowercase letters, digits and `-_.`: nothing to escape.
    out += `${i === 0 ? '' : ','}"${name}":${json}`;
  }
  return { json: `,"tags":{${out}}`, members: 1 };
}

/** The pod of a tokens or calls entry: uid, namespace and name only. */
function spanPodJson(value: unknown): string | undefined {
  const pod = record(value, 3);
  if (pod === undefined) return undefined;
  const name = text(own(pod, 'name'), MAX.name);
  const namespace = text(own(pod, 'namespace'), MAX.name);
  const uid = text(own(pod, 'uid'), MAX.podUid);
  if (name === undefined || namespace === undefined || uid === undefined) return undefined;
  return `{"name":${name},"namespace":${namespace},"uid":${uid}}`;
}

function tokenCostJson(value: unknown): string | undefined {
  const cost = record(value, 3);
  const m = cost === undefined ? undefined : costMembers(cost);
  if (m === undefined) return undefined;
  return `{"currency":${m.currency},"policy":${m.policy},"totalNano":${m.totalNano}}`;
}

/** The call records of an entry (`priced`: a policy priced it), each (traceId, spanId) once. */
function callListJson(value: unknown, priced: boolean): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_CALLS_PER_ENTRY) {
    return undefined;
  }
  const seen = value.length > 1 ? new Set<string>() : undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const call = record(value[i], CALL_FIELDS.length);
    const json = call === undefined ? undefined : callJson(call, priced);
    if (json === undefined) return undefined;
    if (seen !== undefined) {
      const key = `${call?.traceId as string}/${call?.spanId as string}`;
      if (seen.has(key)) return undefined;
      seen.add(key);
    }
    out += i === 0 ? json : `,${json}`;
  }
  return `[${out}]`;
}

const MISSING_RATE: Readonly<Record<string, string>> = {
  model: 'no-model-rate',
  tool: 'no-tool-rate',
  api: 'no-api-rate',
};

/** A nullable string member: `null`, or the JSON of a string of 1..max units. */
function nullableText(value: unknown, max: number): string | undefined {
  return value === null ? 'null' : text(value, max);
}

function nullableMatch(value: unknown, pattern: RegExp, max: number): string | undefined {
  if (value === null) return 'null';
  return typeof value === 'string' && value.length <= max && pattern.test(value)
    ? `"${value}"`
    : undefined;
}

/** One call record, checked as parse-calls.ts checks it. */
function callJson(call: Fields, priced: boolean): string | undefined {
  const kind = own(call, 'kind');
  const unpriced = own(call, 'unpriced');
  const costNano = own(call, 'costNano');
  const start = own(call, 'start');
  const end = own(call, 'end');
  const traceId = own(call, 'traceId');
  const spanId = own(call, 'spanId');
  if (
    typeof kind !== 'string' ||
    !Object.hasOwn(MISSING_RATE, kind) ||
    typeof traceId !== 'string' ||
    !TRACE_ID_PATTERN.test(traceId) ||
    typeof spanId !== 'string' ||
    !SPAN_ID_PATTERN.test(spanId) ||
    !isDecimalText(start) ||
    !isDecimalText(end) ||
    decimalLess(end, start)
  ) {
    return undefined;
  }
  const parentSpanId = nullableMatch(own(call, 'parentSpanId'), SPAN_ID_PATTERN, 16);
  // Operation and provider are printable ASCII without spaces, but may hold `"` and `\`.
  const operationValue = own(call, 'operation');
  const operation =
    typeof operationValue === 'string' && CALL_WORD_PATTERN.test(operationValue)
      ? text(operationValue, MAX.callOperation)
      : undefined;
  const providerValue = own(call, 'provider');
  const provider =
    providerValue === null
      ? 'null'
      : typeof providerValue === 'string' && CALL_WORD_PATTERN.test(providerValue)
        ? text(providerValue, MAX.callProvider)
        : undefined;
  const model = nullableText(own(call, 'model'), MAX.callModel);
  const errorType = nullableText(own(call, 'errorType'), MAX.errorType);
  const toolValue = own(call, 'tool');
  const tool = toolValue === null ? 'null' : toolJson(toolValue);
  const apiHostValue = own(call, 'apiHost');
  const apiHost = nullableMatch(apiHostValue, API_HOST_PATTERN, MAX.apiHost);
  const tokensValue = own(call, 'tokens');
  const tokens = tokensValue === null ? 'null' : callTokensJson(tokensValue);
  const rateValue = own(call, 'rate');
  const rate = rateValue === null ? 'null' : text(rateValue, MAX.callRate);
  // costNano and rate are set together, and `unpriced` says why they are not.
  let price: string | undefined;
  if (costNano === null) {
    const expected = priced ? MISSING_RATE[kind] : 'no-policy';
    price =
      rateValue === null && unpriced === expected ? `"costNano":null,"end":"${end}"` : undefined;
  } else {
    price =
      priced && isDecimalText(costNano) && rateValue !== null && unpriced === null
        ? `"costNano":"${costNano}","end":"${end}"`
        : undefined;
  }
  if (
    parentSpanId === undefined ||
    operation === undefined ||
    provider === undefined ||
    model === undefined ||
    errorType === undefined ||
    tool === undefined ||
    apiHost === undefined ||
    tokens === undefined ||
    price === undefined ||
    rate === undefined ||
    (toolValue !== null) !== (kind === 'tool') ||
    (apiHostValue !== null) !== (kind === 'api') ||
    (tokensValue !== null) !== (kind === 'model')
  ) {
    return undefined;
  }
  return (
    `{"apiHost":${apiHost},${price},"errorType":${errorType},"kind":"${kind}",` +
    `"model":${model},"operation":${operation},"parentSpanId":${parentSpanId},` +
    `"provider":${provider},"rate":${rate},"spanId":"${spanId}","start":"${start}",` +
    `"tokens":${tokens},"tool":${tool},"traceId":"${traceId}",` +
    `"unpriced":${unpriced === null ? 'null' : `"${unpriced as string}"`}}`
  );
}

function toolJson(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const tool = value as Fields;
  // argsHash may be left out (entries of agents that did not hash arguments).
  const hashValue = own(tool, 'argsHash');
  const members = Object.keys(tool).length;
  if (members !== (hashValue === undefined ? 3 : 4)) return undefined;
  let argsHash = '';
  if (hashValue !== undefined) {
    const json = nullableMatch(hashValue, ARGS_HASH_PATTERN, 64);
    if (json === undefined) return undefined;
    argsHash = `"argsHash":${json},`;
  }
  const callId = nullableText(own(tool, 'callId'), MAX.toolCallId);
  const name = text(own(tool, 'name'), MAX.toolName);
  const type = nullableText(own(tool, 'type'), MAX.toolType);
  if (callId === undefined || name === undefined || type === undefined) return undefined;
  return `{${argsHash}"callId":${callId},"name":${name},"type":${type}}`;
}

function callTokensJson(value: unknown): string | undefined {
  const tokens = record(value, 5);
  if (tokens === undefined) return undefined;
  const cacheCreation = own(tokens, 'cacheCreation');
  const cacheRead = own(tokens, 'cacheRead');
  const input = own(tokens, 'input');
  const output = own(tokens, 'output');
  const reasoning = own(tokens, 'reasoning');
  if (
    !isDecimalText(cacheCreation) ||
    !isDecimalText(cacheRead) ||
    !isDecimalText(input) ||
    !isDecimalText(output) ||
    !isDecimalText(reasoning)
  ) {
    return undefined;
  }
  return (
    `{"cacheCreation":"${cacheCreation}","cacheRead":"${cacheRead}","input":"${input}",` +
    `"output":"${output}","reasoning":"${reasoning}"}`
  );
}
