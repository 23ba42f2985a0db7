import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GENESIS_PREV,
  LedgerFormatError,
  decodeEntry,
  sealEntryLine,
  verifyChain,
} from '@agentmeter/crds';
import type {
  ChainHead,
  EntryIdentity,
  LedgerBody,
  LedgerEntry,
  MarkerBody,
} from '@agentmeter/crds';
import { TimeSlice } from '../runtime/time-slice.ts';
import { LedgerRangeError, LedgerStoreError } from './errors.ts';
import {
  isNotFound,
  readRange,
  syncDir,
  unlinkIfExists,
  writeAll,
  writeFileAtomic,
} from './fs-util.ts';

/**
 * On disk, under `<stateDir>/ledger/`:
 * - `segment-<seq of its first entry, 20 digits>.ndjson`: entries, one canonical JSON line
 *   each. Only the last segment is ever written; a batch never spans two segments.
 * - `anchor.json` `{"v":1,"seq","hash"}`: the entry just before the oldest kept segment
 *   (seq 0 and GENESIS_PREV until compaction first deletes), so the chain stays verifiable.
 * - `ack.json` `{"v":1,"seq"}`: highest seq the operator acknowledged.
 * - `repair.json`: present only between truncating a torn tail and recording its marker.
 */
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;

const NS_PER_SECOND = 1_000_000_000n;

/**
 * Compaction deletes whole closed segments, oldest first, and never the active segment or one
 * holding the latest checkpoint (the counter baseline). A segment goes when
 * - all its entries are acknowledged and its last entry is older than `minAgeNs` (kept a
 *   while so a failed-over operator with a slightly stale cursor can still re-read), or
 * - its last entry is older than `maxAgeNs`, or the ledger exceeds `maxBytes` — even when not
 *   acknowledged, so a missing operator cannot fill the node's disk. Dropped un-acked entries
 *   are recorded by an `unacked-dropped` marker and counted in stats().
 */
export interface RetentionPolicy {
  readonly minAgeNs: bigint;
  readonly maxAgeNs: bigint;
  readonly maxBytes: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  minAgeNs: 3600n * NS_PER_SECOND,
  maxAgeNs: 7n * 24n * 3600n * NS_PER_SECOND,
  maxBytes: 1024 * 1024 * 1024,
};

export interface LedgerStoreOptions {
  /** State directory (a hostPath in the cluster); the store owns its `ledger/` subdirectory. */
  readonly dir: string;
  /** Written into every entry. */
  readonly identity: EntryIdentity;
  readonly segmentBytes?: number;
  readonly retention?: Partial<RetentionPolicy>;
  /** Wall clock in unix ns, for marker times and retention ages. */
  readonly now?: () => bigint;
  /** 'tail' (default) verifies the last segment and its link to the one before; 'full' the whole chain. */
  readonly verify?: 'tail' | 'full';
}

export interface TornTailRepair {
  readonly segment: string;
  readonly bytesRemoved: number;
  readonly linesDropped: number;
  readonly fromSeq: bigint;
  readonly reason: string;
}

export interface CompactionResult {
  readonly deletedSegments: readonly string[];
  readonly anchor: ChainHead;
  /** Un-acknowledged range that retention limits forced out, if any. */
  readonly droppedUnacked: { readonly from: bigint; readonly to: bigint } | null;
}

export interface LedgerStats {
  readonly segments: number;
  readonly bytes: number;
  readonly head: bigint;
  readonly acked: bigint;
  readonly anchor: bigint;
  readonly droppedUnackedEntries: bigint;
  readonly tornTailRepairs: number;
}

interface Segment {
  readonly first: bigint;
  readonly name: string;
  readonly path: string;
  bytes: number;
  /** time.end of the last entry; cached for retention. */
  lastTime: bigint | null;
}

interface Line {
  readonly start: number;
  readonly end: number;
  readonly terminated: boolean;
}

interface RepairRecord extends TornTailRepair {
  readonly id: string;
}

const SEGMENT_NAME = /^segment-(\d{20})\.ndjson$/;
const OFFSET_CACHE_SEGMENTS = 4;
const TAIL_WINDOW = 64 * 1024;
const NEWLINE = 0x0a;

function segmentName(first: bigint): string {
  return `segment-${first.toString().padStart(20, '0')}.ndjson`;
}

function batchEnd(entry: LedgerEntry): bigint {
  return BigInt(entry.batch.first) + BigInt(entry.batch.size) - 1n;
}

function splitLines(data: Buffer): Line[] {
  const lines: Line[] = [];
  let start = 0;
  while (start < data.length) {
    const newline = data.indexOf(NEWLINE, start);
    if (newline === -1) {
      lines.push({ start, end: data.length, terminated: false });
      break;
    }
    lines.push({ start, end: newline, terminated: true });
    start = newline + 1;
  }
  return lines;
}

function tryDecode(data: Buffer, line: Line): LedgerEntry | LedgerFormatError {
  try {
    return decodeEntry(data.toString('utf8', line.start, line.end));
  } catch (error) {
    if (error instanceof LedgerFormatError) return error;
    throw error;
  }
}

/**
 * The agent's durable, hash-chained ledger. Appends, compaction and acknowledgements are
 * serialised; reads run alongside them and see only fsynced entries (up to head()).
 */
export class LedgerStore {
  readonly #dir: string;
  readonly #identity: EntryIdentity;
  readonly #segmentBytes: number;
  readonly #retention: RetentionPolicy;
  readonly #now: () => bigint;
  #segments: Segment[] = [];
  #active: FileHandle | null = null;
  /** Line start offsets of the active segment; entry first + i starts at #activeOffsets[i]. */
  #activeOffsets: number[] = [];
  #offsetCache = new Map<string, number[]>();
  #head: ChainHead = { seq: 0n, hash: GENESIS_PREV };
  #anchor: ChainHead = { seq: 0n, hash: GENESIS_PREV };
  #acked = 0n;
  #lastCheckpointSeq: bigint | null = null;
  #droppedUnacked = 0n;
  #repairs = 0;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #failed: Error | null = null;

  private constructor(options: LedgerStoreOptions) {
    this.#dir = join(options.dir, 'ledger');
    this.#identity = options.identity;
    this.#segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.#now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n);
  }

  /**
   * Opens (creating if needed) the ledger, finishing an interrupted compaction and repairing a
   * torn tail — truncating to the last complete batch and recording a `torn-tail-repaired`
   * marker. Corruption anywhere but the last batch is refused with LedgerStoreError 'corrupt'.
   */
  static async open(options: LedgerStoreOptions): Promise<LedgerStore> {
    const store = new LedgerStore(options);
    await store.#recover(options.verify ?? 'tail');
    return store;
  }

  /** Last durable entry (seq 0 / GENESIS_PREV for an empty ledger). */
  head(): ChainHead {
    return this.#head;
  }

  /** False once closed, or once a failed fsync left the tail untrustworthy until a reopen. */
  get writable(): boolean {
    return !this.#closed && this.#failed === null;
  }

  /** The entry just before the oldest one still stored. */
  anchor(): ChainHead {
    return this.#anchor;
  }

  stats(): LedgerStats {
    return {
      segments: this.#segments.length,
      bytes: this.#segments.reduce((sum, segment) => sum + segment.bytes, 0),
      head: this.#head.seq,
      acked: this.#acked,
      anchor: this.#anchor.seq,
      droppedUnackedEntries: this.#droppedUnacked,
      tornTailRepairs: this.#repairs,
    };
  }

  /**
   * Appends `bodies` as one batch: seqs assigned, chained, written with one write and one
   * fdatasync. Resolves with the sealed entries only once they are durable. A tick's entries
   * (usage and its checkpoint) must go in one call so they survive a crash together or not at all.
   */
  append(bodies: readonly LedgerBody[]): Promise<LedgerEntry[]> {
    return this.#exclusive(() => this.#append(bodies));
  }

  /**
   * Entries with seq > `after`, at most `limit` of them — except that a batch is never cut: the
   * result extends to the end of the last batch it touches. Reads one segment range at a time.
   */
  async readAfter(after: bigint, limit: number): Promise<LedgerEntry[]> {
    this.#checkUsable();
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new LedgerStoreError(
        'invalid-argument',
        `limit must be a positive integer, got ${limit}`,
      );
    }
    const head = this.#head.seq;
    const anchor = this.#anchor.seq;
    if (after < anchor) throw new LedgerRangeError('compacted', after, anchor + 1n, head);
    if (after > head) throw new LedgerRangeError('beyond-head', after, anchor + 1n, head);
    const segments = this.#segments;
    const out: LedgerEntry[] = [];
    let end = after + BigInt(limit) < head ? after + BigInt(limit) : head;
    let seq = after + 1n;
    while (seq <= end) {
      const index = this.#segmentIndexFor(segments, seq);
      const segment = segments[index] as Segment;
      const next = segments[index + 1];
      const segmentLast = next === undefined ? head : next.first - 1n;
      const upTo = end < segmentLast ? end : segmentLast;
      const entries = await this.#readRange(segment, seq, upTo, after, head);
      out.push(...entries);
      const last = entries.at(-1) as LedgerEntry;
      if (upTo === end && batchEnd(last) > end) end = batchEnd(last);
      seq = upTo + 1n;
    }
    return out;
  }

  /** The newest entry matching `predicate`, searching backwards one segment at a time. */
  async findLast(predicate: (entry: LedgerEntry) => boolean): Promise<LedgerEntry | null> {
    this.#checkUsable();
    const segments = this.#segments;
    const head = this.#head.seq;
    for (let index = segments.length - 1; index >= 0; index--) {
      const segment = segments[index] as Segment;
      const next = segments[index + 1];
      const last = next === undefined ? head : next.first - 1n;
      if (last < segment.first) continue;
      const entries = await this.#readRange(segment, segment.first, last, segment.first - 1n, head);
      for (let i = entries.length - 1; i >= 0; i--) {
        const entry = entries[i] as LedgerEntry;
        if (predicate(entry)) return entry;
      }
    }
    return null;
  }

  /**
   * Records durably that the operator has counted every entry up to `seq`, then compacts.
   * Idempotent and monotonic: an older seq is ignored, so operator retries are harmless.
   */
  acknowledge(seq: bigint): Promise<CompactionResult | null> {
    return this.#exclusive(async () => {
      if (seq > this.#head.seq) {
        throw new LedgerStoreError(
          'invalid-argument',
          `cannot acknowledge seq ${seq.toString()} beyond head ${this.#head.seq.toString()}`,
        );
      }
      if (seq <= this.#acked) return null;
      await writeFileAtomic(
        join(this.#dir, 'ack.json'),
        JSON.stringify({ v: 1, seq: seq.toString() }),
      );
      this.#acked = seq;
      return this.#compact();
    });
  }

  /** Applies the retention policy now (the agent also calls this on a timer). */
  compact(): Promise<CompactionResult> {
    return this.#exclusive(() => this.#compact());
  }

  /** Verifies the whole stored chain from the anchor; throws LedgerStoreError 'corrupt'. */
  verify(): Promise<ChainHead> {
    return this.#exclusive(() => this.#verifyAll());
  }

  /** Waits for queued work, then closes; also works on a failed store so it can be reopened. */
  async close(): Promise<void> {
    const run = this.#queue.then(async () => {
      this.#closed = true;
      await this.#active?.close();
      this.#active = null;
    });
    this.#queue = run.catch(() => undefined);
    await run;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#checkUsable();
      return fn();
    });
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #checkUsable(): void {
    if (this.#closed) throw new LedgerStoreError('closed', 'ledger store is closed');
    if (this.#failed !== null) {
      throw new LedgerStoreError('failed', 'ledger store failed; reopen it to recover', {
        cause: this.#failed,
      });
    }
  }

  // ---- recovery -------------------------------------------------------------------------

  async #recover(verify: 'tail' | 'full'): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const names = await readdir(this.#dir);
    for (const name of names) {
      // Leftovers of an atomic write that crashed before its rename.
      if (name.endsWith('.tmp')) await unlinkIfExists(join(this.#dir, name));
    }
    this.#anchor = await this.#readAnchor();
    this.#acked = await this.#readAck();
    this.#segments = names
      .map((name) => SEGMENT_NAME.exec(name))
      .filter((match) => match !== null)
      .map((match) => ({
        first: BigInt(match[1] as string),
        name: match[0],
        path: join(this.#dir, match[0]),
        bytes: 0,
        lastTime: null,
      }))
      .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));

    // A compaction writes the anchor before unlinking; finish one that crashed in between.
    let finished = false;
    while (
      this.#segments.length > 1 &&
      (this.#segments[1] as Segment).first <= this.#anchor.seq + 1n
    ) {
      await unlinkIfExists((this.#segments.shift() as Segment).path);
      finished = true;
    }
    if (finished) await syncDir(this.#dir);

    const firstSegment = this.#segments[0];
    if (firstSegment === undefined) {
      this.#segments.push(await this.#createSegment(this.#anchor.seq + 1n));
    } else if (firstSegment.first !== this.#anchor.seq + 1n) {
      throw new LedgerStoreError(
        'corrupt',
        `oldest segment starts at ${firstSegment.first.toString()} but the anchor is ${this.#anchor.seq.toString()}`,
        { file: firstSegment.path },
      );
    }
    for (const segment of this.#segments.slice(0, -1)) {
      segment.bytes = (await this.#stat(segment)).size;
    }

    const tail = this.#segments.at(-1) as Segment;
    const before = this.#segments.at(-2);
    const prevHead =
      before === undefined ? this.#anchor : await this.#lastHeadOf(before, tail.first);
    const repair = await this.#scanTail(tail, prevHead);

    this.#active = await open(tail.path, 'r+');
    if (verify === 'full') await this.#verifyAll();
    const checkpoint = await this.findLast((entry) => entry.kind === 'checkpoint');
    this.#lastCheckpointSeq = checkpoint === null ? null : BigInt(checkpoint.seq);
    await this.#recordRepair(repair);
  }

  async #stat(segment: Segment): Promise<{ size: number }> {
    const handle = await open(segment.path, 'r');
    try {
      return await handle.stat();
    } finally {
      await handle.close();
    }
  }

  async #readAnchor(): Promise<ChainHead> {
    const json = await this.#readJson('anchor.json');
    if (json === null) return { seq: 0n, hash: GENESIS_PREV };
    const { seq, hash } = json as { seq?: unknown; hash?: unknown };
    if (
      typeof seq !== 'string' ||
      !/^(0|[1-9][0-9]*)$/.test(seq) ||
      typeof hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(hash)
    ) {
      throw new LedgerStoreError('corrupt', 'anchor.json is malformed', {
        file: join(this.#dir, 'anchor.json'),
      });
    }
    return { seq: BigInt(seq), hash };
  }

  async #readAck(): Promise<bigint> {
    const json = await this.#readJson('ack.json');
    if (json === null) return 0n;
    const { seq } = json as { seq?: unknown };
    if (typeof seq !== 'string' || !/^(0|[1-9][0-9]*)$/.test(seq)) {
      throw new LedgerStoreError('corrupt', 'ack.json is malformed', {
        file: join(this.#dir, 'ack.json'),
      });
    }
    return BigInt(seq);
  }

  async #readJson(name: string): Promise<unknown> {
    const path = join(this.#dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      // Written atomically, so a malformed file is damage, not a torn write.
      throw new LedgerStoreError('corrupt', `${name} is not JSON`, { file: path, cause: error });
    }
  }

  /** Head of a closed segment, checked to end right before `nextFirst`. */
  async #lastHeadOf(segment: Segment, nextFirst: bigint): Promise<ChainHead> {
    const entry = await this.#readLastEntry(segment);
    if (
      entry === null ||
      BigInt(entry.seq) !== nextFirst - 1n ||
      batchEnd(entry) !== BigInt(entry.seq)
    ) {
      throw new LedgerStoreError(
        'corrupt',
        `segment ${segment.name} does not end with a complete batch right before ${nextFirst.toString()}`,
        { file: segment.path, ...(entry === null ? {} : { seq: entry.seq }) },
      );
    }
    return { seq: BigInt(entry.seq), hash: entry.hash };
  }

  /**
   * Verifies the active segment and truncates a torn last batch. Only the last batch can be
   * torn — each earlier one was fsynced before the next write began — so any invalid line is
   * repairable only when nothing after it belongs to a later batch; otherwise it is tampering
   * or media damage, and the store refuses to start rather than rewrite history.
   */
  async #scanTail(segment: Segment, prevHead: ChainHead): Promise<RepairRecord | null> {
    const data = await readFile(segment.path);
    const lines = splitLines(data);
    const entries: LedgerEntry[] = [];
    let invalidAt = lines.length;
    let reason = '';
    for (const [index, line] of lines.entries()) {
      const decoded = line.terminated ? tryDecode(data, line) : null;
      if (decoded === null || decoded instanceof LedgerFormatError) {
        invalidAt = index;
        reason = decoded === null ? 'last line has no newline' : decoded.message;
        break;
      }
      entries.push(decoded);
    }
    const check = verifyChain(entries, prevHead);
    if (!check.ok) {
      invalidAt = check.index;
      reason = `${check.reason}: ${check.detail}`;
    }
    const valid = entries.slice(0, invalidAt);
    const lastValid = valid.at(-1);
    // A batch cut short goes entirely: half a tick would break exactly-once.
    let cut = invalidAt;
    if (lastValid !== undefined && batchEnd(lastValid) !== BigInt(lastValid.seq)) {
      cut = Number(BigInt(lastValid.batch.first) - segment.first);
      if (invalidAt === lines.length) reason = 'last batch is incomplete';
    }
    if (cut === lines.length) {
      this.#adoptTail(segment, data.length, lines, valid, prevHead);
      return null;
    }
    if (cut < 0) {
      throw new LedgerStoreError('corrupt', `a batch spans into segment ${segment.name}`, {
        file: segment.path,
      });
    }
    const tornFirst = (segment.first + BigInt(cut)).toString();
    for (let index = cut; index < lines.length; index++) {
      const line = lines[index] as Line;
      const decoded = line.terminated ? tryDecode(data, line) : null;
      if (
        decoded !== null &&
        !(decoded instanceof LedgerFormatError) &&
        decoded.batch.first !== tornFirst
      ) {
        throw new LedgerStoreError(
          'corrupt',
          `entry at line ${invalidAt + 1} of ${segment.name} is invalid (${reason}) but later batches follow it`,
          { file: segment.path, seq: (segment.first + BigInt(invalidAt)).toString() },
        );
      }
    }
    const offset = (lines[cut] as Line).start;
    const repair: RepairRecord = {
      id: randomUUID(),
      segment: segment.name,
      bytesRemoved: data.length - offset,
      linesDropped: lines.length - cut,
      fromSeq: BigInt(tornFirst),
      reason,
    };
    // Recorded first, so a crash between truncating and writing the marker still yields it.
    await writeFileAtomic(join(this.#dir, 'repair.json'), JSON.stringify(repairToJson(repair)));
    const handle = await open(segment.path, 'r+');
    try {
      await handle.truncate(offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.#adoptTail(segment, offset, lines.slice(0, cut), valid.slice(0, cut), prevHead);
    return repair;
  }

  #adoptTail(
    segment: Segment,
    bytes: number,
    lines: readonly Line[],
    entries: readonly LedgerEntry[],
    prevHead: ChainHead,
  ): void {
    segment.bytes = bytes;
    this.#activeOffsets = lines.map((line) => line.start);
    const last = entries.at(-1);
    if (last !== undefined && last.node !== this.#identity.node) {
      // One ledger per node: continuing another node's chain would mix their usage.
      throw new LedgerStoreError(
        'invalid-argument',
        `ledger belongs to node ${last.node}, not ${this.#identity.node}`,
        { file: segment.path, seq: last.seq },
      );
    }
    this.#head = last === undefined ? prevHead : { seq: BigInt(last.seq), hash: last.hash };
    segment.lastTime = last === undefined ? null : BigInt(last.time.end);
  }

  /** Appends the marker for a repair made now or by a run that crashed before recording it. */
  async #recordRepair(current: RepairRecord | null): Promise<void> {
    const path = join(this.#dir, 'repair.json');
    const pending = current ?? repairFromJson(await this.#readJson('repair.json'), path);
    if (pending === null) return;
    const recorded = await this.findLast(
      (entry) => entry.kind === 'marker' && entry.detail.repairId === pending.id,
    );
    if (recorded === null) {
      const now = this.#now();
      await this.#append([
        {
          kind: 'marker',
          time: { start: now.toString(), end: now.toString() },
          event: 'torn-tail-repaired',
          detail: repairToJson(pending),
        },
      ]);
    }
    this.#repairs += 1;
    await unlinkIfExists(path);
    await syncDir(this.#dir);
  }

  async #verifyAll(): Promise<ChainHead> {
    let anchor = this.#anchor;
    const head = this.#head.seq;
    const segments = this.#segments;
    for (const [index, segment] of segments.entries()) {
      const next = segments[index + 1];
      const last = next === undefined ? head : next.first - 1n;
      if (last < segment.first) continue;
      const entries = await this.#readRange(segment, segment.first, last, anchor.seq, head);
      const check = verifyChain(entries, anchor);
      if (!check.ok) {
        throw new LedgerStoreError(
          'corrupt',
          `chain broken in ${segment.name}: ${check.reason}: ${check.detail}`,
          {
            file: segment.path,
            seq: check.seq,
          },
        );
      }
      if (check.head !== null) anchor = check.head;
    }
    return anchor;
  }

  // ---- writing ---------------------------------------------------------------------------

  async #append(bodies: readonly LedgerBody[]): Promise<LedgerEntry[]> {
    if (bodies.length === 0) return [];
    const first = this.#head.seq + 1n;
    const size = BigInt(bodies.length);
    const entries: LedgerEntry[] = [];
    const lines: string[] = [];
    let prev = this.#head.hash;
    // Sealing a 250-pod batch is milliseconds of CPU; scrapes are served between slices of it.
    const slice = new TimeSlice();
    for (const [index, body] of bodies.entries()) {
      if (slice.spent()) await slice.next();
      const sealed = sealEntryLine({ ...this.#identity, ...body }, prev, first + BigInt(index), {
        first,
        size,
      });
      entries.push(sealed.entry);
      lines.push(sealed.line);
      prev = sealed.entry.hash;
    }
    const buffer = Buffer.from(`${lines.join('\n')}\n`, 'utf8');

    let segment = this.#segments.at(-1) as Segment;
    if (segment.bytes > 0 && segment.bytes + buffer.length > this.#segmentBytes) {
      await this.#roll(first);
      segment = this.#segments.at(-1) as Segment;
    }
    const active = this.#active as FileHandle;
    const position = segment.bytes;
    try {
      await writeAll(active, buffer, position);
    } catch (error) {
      await this.#undoWrite(active, position, error);
      throw new LedgerStoreError('io', `writing batch ${first.toString()} failed`, {
        file: segment.path,
        seq: first.toString(),
        cause: error,
      });
    }
    try {
      await active.datasync();
    } catch (error) {
      // After a failed fsync the kernel may have dropped the dirty pages and cleared the error;
      // nothing written since can be trusted until a reopen re-verifies the tail.
      this.#failed = error as Error;
      throw new LedgerStoreError('io', `fdatasync of batch ${first.toString()} failed`, {
        file: segment.path,
        seq: first.toString(),
        cause: error,
      });
    }

    // Entry lines hold no raw newline (JSON escapes it), so each one starts after a '\n' byte.
    for (let at = 0; at < buffer.length; at = buffer.indexOf(10, at) + 1) {
      this.#activeOffsets.push(position + at);
    }
    segment.bytes = position + buffer.length;
    const last = entries.at(-1) as LedgerEntry;
    segment.lastTime = BigInt(last.time.end);
    for (const entry of entries) {
      if (entry.kind === 'checkpoint') this.#lastCheckpointSeq = BigInt(entry.seq);
    }
    this.#head = { seq: BigInt(last.seq), hash: last.hash };
    return entries;
  }

  /** A failed write (ENOSPC, EIO) may have left part of the batch; cut it off or give up. */
  async #undoWrite(active: FileHandle, position: number, cause: unknown): Promise<void> {
    try {
      await active.truncate(position);
      await active.datasync();
    } catch {
      this.#failed = cause as Error;
    }
  }

  async #roll(first: bigint): Promise<void> {
    const created = await this.#createSegment(first);
    await this.#active?.close();
    const previous = this.#segments.at(-1) as Segment;
    this.#offsetCache.set(previous.path, this.#activeOffsets);
    this.#trimOffsetCache();
    this.#segments.push(created);
    this.#active = await open(created.path, 'r+');
    this.#activeOffsets = [];
  }

  async #createSegment(first: bigint): Promise<Segment> {
    const name = segmentName(first);
    const path = join(this.#dir, name);
    const handle = await open(path, 'wx');
    await handle.close();
    // The name must be durable before entries fsynced into the file can count as written.
    await syncDir(this.#dir);
    return { first, name, path, bytes: 0, lastTime: null };
  }

  // ---- compaction ------------------------------------------------------------------------

  async #compact(): Promise<CompactionResult> {
    const now = this.#now();
    const segments = this.#segments;
    let totalBytes = segments.reduce((sum, segment) => sum + segment.bytes, 0);
    const doomed: Segment[] = [];
    let anchor = this.#anchor;
    let unackedFrom: bigint | null = null;
    let unackedTo = 0n;
    for (let index = 0; index < segments.length - 1; index++) {
      const segment = segments[index] as Segment;
      const last = (segments[index + 1] as Segment).first - 1n;
      if (this.#lastCheckpointSeq !== null && last >= this.#lastCheckpointSeq) break;
      const lastTime = segment.lastTime ?? (await this.#lastTimeOf(segment));
      const age = now - lastTime;
      const acked = last <= this.#acked;
      const byAck = acked && age >= this.#retention.minAgeNs;
      const forced = age > this.#retention.maxAgeNs || totalBytes > this.#retention.maxBytes;
      if (!byAck && !forced) break;
      if (!acked) {
        const from = segment.first > this.#acked ? segment.first : this.#acked + 1n;
        unackedFrom ??= from;
        unackedTo = last;
      }
      const tail = await this.#lastHeadOf(segment, last + 1n);
      anchor = tail;
      doomed.push(segment);
      totalBytes -= segment.bytes;
    }
    if (doomed.length === 0) return { deletedSegments: [], anchor, droppedUnacked: null };

    // Anchor first: a crash before the unlinks leaves segments that recovery deletes.
    await writeFileAtomic(
      join(this.#dir, 'anchor.json'),
      JSON.stringify({ v: 1, seq: anchor.seq.toString(), hash: anchor.hash }),
    );
    this.#anchor = anchor;
    this.#segments = segments.slice(doomed.length);
    for (const segment of doomed) {
      await unlinkIfExists(segment.path);
      this.#offsetCache.delete(segment.path);
    }
    await syncDir(this.#dir);

    let droppedUnacked: CompactionResult['droppedUnacked'] = null;
    if (unackedFrom !== null) {
      droppedUnacked = { from: unackedFrom, to: unackedTo };
      this.#droppedUnacked += unackedTo - unackedFrom + 1n;
      const marker: MarkerBody = {
        kind: 'marker',
        time: { start: now.toString(), end: now.toString() },
        event: 'unacked-dropped',
        detail: {
          fromSeq: unackedFrom.toString(),
          toSeq: unackedTo.toString(),
          ackedSeq: this.#acked.toString(),
        },
      };
      await this.#append([marker]);
    }
    return { deletedSegments: doomed.map((segment) => segment.name), anchor, droppedUnacked };
  }

  async #lastTimeOf(segment: Segment): Promise<bigint> {
    const entry = await this.#readLastEntry(segment);
    if (entry === null)
      throw new LedgerStoreError('corrupt', `closed segment ${segment.name} is empty`, {
        file: segment.path,
      });
    segment.lastTime = BigInt(entry.time.end);
    return segment.lastTime;
  }

  // ---- reading ---------------------------------------------------------------------------

  #segmentIndexFor(segments: readonly Segment[], seq: bigint): number {
    let low = 0;
    let high = segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((segments[mid] as Segment).first <= seq) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** Entries from..to (inclusive) of one segment; `after`/`head` only shape a range error. */
  async #readRange(
    segment: Segment,
    from: bigint,
    to: bigint,
    after: bigint,
    head: bigint,
  ): Promise<LedgerEntry[]> {
    let handle: FileHandle;
    try {
      handle = await open(segment.path, 'r');
    } catch (error) {
      if (isNotFound(error))
        throw new LedgerRangeError('compacted', after, this.#anchor.seq + 1n, head);
      throw error;
    }
    try {
      const offsets = await this.#offsetsOf(segment, handle);
      const i = Number(from - segment.first);
      const j = Number(to - segment.first);
      const start = offsets[i];
      const end = offsets[j + 1] ?? segment.bytes;
      if (start === undefined || j >= offsets.length) {
        throw new LedgerStoreError(
          'corrupt',
          `segment ${segment.name} lacks seq ${to.toString()}`,
          { file: segment.path },
        );
      }
      const data = await readRange(handle, start, end - start);
      return splitLines(data).map((line, k) => {
        const decoded = tryDecode(data, line);
        const expected = (from + BigInt(k)).toString();
        if (decoded instanceof LedgerFormatError || decoded.seq !== expected) {
          throw new LedgerStoreError(
            'corrupt',
            `entry ${expected} in ${segment.name} is unreadable`,
            {
              file: segment.path,
              seq: expected,
              ...(decoded instanceof LedgerFormatError ? { cause: decoded } : {}),
            },
          );
        }
        return decoded;
      });
    } finally {
      await handle.close();
    }
  }

  async #offsetsOf(segment: Segment, handle: FileHandle): Promise<number[]> {
    if (segment === this.#segments.at(-1)) return this.#activeOffsets;
    const cached = this.#offsetCache.get(segment.path);
    if (cached !== undefined) {
      // Refresh recency: Map iteration order is insertion order.
      this.#offsetCache.delete(segment.path);
      this.#offsetCache.set(segment.path, cached);
      return cached;
    }
    const data = await readRange(handle, 0, segment.bytes);
    const offsets = splitLines(data).map((line) => line.start);
    this.#offsetCache.set(segment.path, offsets);
    this.#trimOffsetCache();
    return offsets;
  }

  #trimOffsetCache(): void {
    while (this.#offsetCache.size > OFFSET_CACHE_SEGMENTS) {
      const oldest = this.#offsetCache.keys().next().value as string;
      this.#offsetCache.delete(oldest);
    }
  }

  /** Reads a segment's last line from its end, widening the window for large entries. */
  async #readLastEntry(segment: Segment): Promise<LedgerEntry | null> {
    if (segment.bytes === 0) return null;
    const handle = await open(segment.path, 'r');
    try {
      let window = Math.min(TAIL_WINDOW, segment.bytes);
      for (;;) {
        const data = await readRange(handle, segment.bytes - window, window);
        const start = data.lastIndexOf(NEWLINE, data.length - 2) + 1;
        if (start > 0 || window === segment.bytes) {
          const decoded = tryDecode(data, { start, end: data.length - 1, terminated: true });
          if (data.at(-1) !== NEWLINE || decoded instanceof LedgerFormatError) {
            throw new LedgerStoreError('corrupt', `last entry of ${segment.name} is unreadable`, {
              file: segment.path,
              ...(decoded instanceof LedgerFormatError ? { cause: decoded } : {}),
            });
          }
          return decoded;
        }
        window = Math.min(window * 2, segment.bytes);
      }
    } finally {
      await handle.close();
    }
  }
}

function repairToJson(repair: RepairRecord): Record<string, string> {
  return {
    repairId: repair.id,
    segment: repair.segment,
    bytesRemoved: repair.bytesRemoved.toString(),
    linesDropped: repair.linesDropped.toString(),
    fromSeq: repair.fromSeq.toString(),
    reason: repair.reason.slice(0, 1024),
  };
}

function repairFromJson(json: unknown, file: string): RepairRecord | null {
  if (json === null) return null;
  const record = json as Record<string, unknown>;
  const fields = ['repairId', 'segment', 'bytesRemoved', 'linesDropped', 'fromSeq', 'reason'];
  if (!fields.every((field) => typeof record[field] === 'string')) {
    throw new LedgerStoreError('corrupt', 'repair.json is malformed', { file });
  }
  const text = record as Record<string, string>;
  return {
    id: text.repairId as string,
    segment: text.segment as string,
    bytesRemoved: Number(text.bytesRemoved),
    linesDropped: Number(text.linesDropped),
    fromSeq: BigInt(text.fromSeq as string),
    reason: text.reason as string,
  };
}
