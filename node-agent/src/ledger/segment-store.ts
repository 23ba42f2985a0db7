import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GENESIS_PREV,
  LedgerFormatError,
  decodeEntry,
  parseSeq,
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
  batchEnd,
  leftBehindByCompaction,
  planCompaction,
  segmentFirst,
  segmentIndexFor,
  segmentName,
  tornTailDecision,
  type ClosedSegment,
  type RetentionPolicy,
  type TailLine,
} from './segment-decisions.ts';
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

export type { RetentionPolicy } from './segment-decisions.ts';

const NS_PER_SECOND = 1_000_000_000n;

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
  /** The last entry, and its time.end for retention; null while the segment is empty. */
  last: ChainHead | null;
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

const OFFSET_CACHE_SEGMENTS = 4;
const TAIL_WINDOW = 64 * 1024;
const NEWLINE = 0x0a;

/** A segment before the active one: read at open or written whole, so its last entry is known. */
function closedSegment(segment: Segment): ClosedSegment {
  if (segment.last === null || segment.lastTime === null) {
    throw new LedgerStoreError('corrupt', `closed segment ${segment.name} is empty`, {
      file: segment.path,
    });
  }
  return {
    first: segment.first,
    bytes: segment.bytes,
    last: segment.last,
    lastTime: segment.lastTime,
  };
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
      const index = segmentIndexFor(segments, seq);
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

  /**
   * A seq to read after (readAfter) so as to see every stored entry whose time ends at or after
   * `timeNs`: the entry before the first segment whose last entry is that recent.
   */
  seqBeforeTime(timeNs: bigint): bigint {
    for (const segment of this.#segments) {
      if (segment.lastTime === null || segment.lastTime >= timeNs) return segment.first - 1n;
    }
    return this.#head.seq;
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
      .flatMap((name) => {
        const first = segmentFirst(name);
        return first === undefined
          ? []
          : [{ first, name, path: join(this.#dir, name), bytes: 0, last: null, lastTime: null }];
      })
      .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));

    // A compaction writes the anchor before unlinking; finish one that crashed in between.
    const behind = leftBehindByCompaction(
      this.#segments.map((segment) => segment.first),
      this.#anchor.seq,
    );
    for (const segment of this.#segments.splice(0, behind.count)) {
      await unlinkIfExists(segment.path);
    }
    if (behind.count > 0) await syncDir(this.#dir);
    const firstSegment = this.#segments[0];
    if (firstSegment !== undefined && !behind.consistent) {
      throw new LedgerStoreError(
        'corrupt',
        `oldest segment starts at ${firstSegment.first.toString()} but the anchor is ${this.#anchor.seq.toString()}`,
        { file: firstSegment.path },
      );
    }
    if (firstSegment === undefined) {
      this.#segments.push(await this.#createSegment(this.#anchor.seq + 1n));
    }
    // Each closed segment must end with a complete batch right before the next one starts;
    // its last entry is kept for retention and as the next segment's link.
    for (const [index, segment] of this.#segments.slice(0, -1).entries()) {
      await this.#readClosed(segment, (this.#segments[index + 1] as Segment).first);
    }

    const tail = this.#segments.at(-1) as Segment;
    const prevHead = this.#segments.at(-2)?.last ?? this.#anchor;
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
    const { seq: text, hash } = json as { seq?: unknown; hash?: unknown };
    const seq = parseSeq(text);
    if (seq === undefined || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
      throw new LedgerStoreError('corrupt', 'anchor.json is malformed', {
        file: join(this.#dir, 'anchor.json'),
      });
    }
    return { seq, hash };
  }

  async #readAck(): Promise<bigint> {
    const json = await this.#readJson('ack.json');
    if (json === null) return 0n;
    const seq = parseSeq((json as { seq?: unknown }).seq);
    if (seq === undefined) {
      throw new LedgerStoreError('corrupt', 'ack.json is malformed', {
        file: join(this.#dir, 'ack.json'),
      });
    }
    return seq;
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

  /** Reads a closed segment's size and last entry, checked to end right before `nextFirst`. */
  async #readClosed(segment: Segment, nextFirst: bigint): Promise<void> {
    segment.bytes = (await this.#stat(segment)).size;
    const entry = await this.#readLastEntry(segment);
    if (
      entry === null ||
      BigInt(entry.seq) !== nextFirst - 1n ||
      batchEnd(entry) !== BigInt(entry.seq)
    ) {
      throw new LedgerStoreError(
        'corrupt',
        `segment ${segment.name} does not end with a complete batch right before ${nextFirst.toString()}`,
        { file: segment.path, ...(entry === null ? {} : { seq: BigInt(entry.seq) }) },
      );
    }
    segment.last = { seq: BigInt(entry.seq), hash: entry.hash };
    segment.lastTime = BigInt(entry.time.end);
  }

  /**
   * Verifies the active segment and truncates a torn last batch (tornTailDecision decides
   * where); anything else that is wrong is tampering or media damage, and the store refuses to
   * start rather than rewrite history.
   */
  async #scanTail(segment: Segment, prevHead: ChainHead): Promise<RepairRecord | null> {
    const data = await readFile(segment.path);
    const lines = splitLines(data);
    const read: TailLine[] = lines.map((line) => {
      const decoded = line.terminated ? tryDecode(data, line) : null;
      if (decoded === null) return { kind: 'invalid', reason: 'last line has no newline' };
      if (decoded instanceof LedgerFormatError) return { kind: 'invalid', reason: decoded.message };
      return { kind: 'entry', entry: decoded };
    });
    const entries = read.flatMap((line) => (line.kind === 'entry' ? [line.entry] : []));
    const decision = tornTailDecision(read, segment.first, prevHead);
    if (decision.kind === 'intact') {
      this.#adoptTail(segment, data.length, lines, entries, prevHead);
      return null;
    }
    if (decision.kind === 'corrupt') {
      throw new LedgerStoreError('corrupt', `${segment.name}: ${decision.detail}`, {
        file: segment.path,
        ...(decision.seq === undefined ? {} : { seq: decision.seq }),
      });
    }
    const cut = decision.keep;
    const offset = (lines[cut] as Line).start;
    const repair: RepairRecord = {
      id: randomUUID(),
      segment: segment.name,
      bytesRemoved: data.length - offset,
      linesDropped: lines.length - cut,
      fromSeq: decision.fromSeq,
      reason: decision.reason,
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
    this.#adoptTail(segment, offset, lines.slice(0, cut), entries.slice(0, cut), prevHead);
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
        { file: segment.path, seq: BigInt(last.seq) },
      );
    }
    this.#head = last === undefined ? prevHead : { seq: BigInt(last.seq), hash: last.hash };
    segment.last = last === undefined ? null : this.#head;
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
        seq: first,
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
        seq: first,
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
    segment.last = { seq: BigInt(last.seq), hash: last.hash };
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
    return { first, name, path, bytes: 0, last: null, lastTime: null };
  }

  // ---- compaction ------------------------------------------------------------------------

  async #compact(): Promise<CompactionResult> {
    const now = this.#now();
    const segments = this.#segments;
    const plan = planCompaction({
      closed: segments.slice(0, -1).map((segment) => closedSegment(segment)),
      totalBytes: segments.reduce((sum, segment) => sum + segment.bytes, 0),
      acked: this.#acked,
      lastCheckpointSeq: this.#lastCheckpointSeq,
      nowNs: now,
      retention: this.#retention,
    });
    const doomed = segments.slice(0, plan.delete);
    const anchor = plan.anchor;
    if (anchor === null) return { deletedSegments: [], anchor: this.#anchor, droppedUnacked: null };

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

    const droppedUnacked = plan.droppedUnacked;
    if (droppedUnacked !== null) {
      this.#droppedUnacked += droppedUnacked.to - droppedUnacked.from + 1n;
      const marker: MarkerBody = {
        kind: 'marker',
        time: { start: now.toString(), end: now.toString() },
        event: 'unacked-dropped',
        detail: {
          fromSeq: droppedUnacked.from.toString(),
          toSeq: droppedUnacked.to.toString(),
          ackedSeq: this.#acked.toString(),
        },
      };
      await this.#append([marker]);
    }
    return { deletedSegments: doomed.map((segment) => segment.name), anchor, droppedUnacked };
  }

  // ---- reading ---------------------------------------------------------------------------

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
        const expected = from + BigInt(k);
        if (decoded instanceof LedgerFormatError || decoded.seq !== expected.toString()) {
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
