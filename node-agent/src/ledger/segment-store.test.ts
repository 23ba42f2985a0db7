import { appendFile, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_PREV, verifyChain } from '@agentmeter/crds';
import type { CheckpointEntry, LedgerBody, LedgerEntry, MarkerEntry } from '@agentmeter/crds';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baselineFromCheckpoint, recoverBaseline } from './counter-state.ts';
import { LedgerRangeError, LedgerStoreError } from './errors.ts';
import { LedgerStore } from './segment-store.ts';
import type { LedgerStoreOptions } from './segment-store.ts';
import { simulatedTick } from './tick-fixture.ts';

const SECOND = 1_000_000_000n;
let dir: string;
let clock: bigint;
const T0_MS = 1_700_000_000_000n;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmeter-ledger-'));
  clock = T0_MS * 1_000_000n;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(extra: Partial<LedgerStoreOptions> = {}): LedgerStoreOptions {
  return { dir, identity: { node: 'node-a', agentId: 'agent-1' }, now: () => clock, ...extra };
}

function marker(n: number): LedgerBody {
  const t = (clock + BigInt(n)).toString();
  return { kind: 'marker', time: { start: t, end: t }, event: 'gap', detail: { n: String(n) } };
}

/** Appends `count` ticks of `pods` pods, one batch each, advancing the clock a second per tick. */
async function appendTicks(store: LedgerStore, count: number, pods = 3): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  let baseline = await recoverBaseline(store);
  for (let i = 0; i < count; i++) {
    clock += SECOND;
    out.push(
      ...(await store.append(simulatedTick(pods, clock / 1_000_000n, T0_MS, baseline).bodies)),
    );
    baseline = baselineFromCheckpoint(out.at(-1) as CheckpointEntry);
  }
  return out;
}

async function segmentFiles(): Promise<string[]> {
  return (await readdir(join(dir, 'ledger'))).filter((n) => n.startsWith('segment-')).sort();
}

async function lastSegmentPath(): Promise<string> {
  return join(dir, 'ledger', (await segmentFiles()).at(-1) as string);
}

async function allEntries(store: LedgerStore): Promise<LedgerEntry[]> {
  return store.readAfter(store.anchor().seq, Number.MAX_SAFE_INTEGER);
}

describe('LedgerStore append and read', () => {
  it('assigns contiguous seqs, chains them, and reads them back after a reopen', async () => {
    let store = await LedgerStore.open(options());
    const written = await appendTicks(store, 5);
    expect(store.head()).toEqual({ seq: 25n, hash: written.at(-1)?.hash });
    await store.close();
    store = await LedgerStore.open(options({ verify: 'full' }));
    const read = await allEntries(store);
    expect(read).toEqual(written);
    expect(verifyChain(read, { seq: 0n, hash: GENESIS_PREV })).toMatchObject({
      ok: true,
      complete: true,
    });
    await store.close();
  });

  it('rolls segments at the size limit without splitting a batch, and reads across them', async () => {
    const store = await LedgerStore.open(options({ segmentBytes: 4096 }));
    const written = await appendTicks(store, 20);
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThan(3);
    for (const name of files) {
      const first = BigInt(name.slice(8, 28));
      expect(written.find((e) => BigInt(e.seq) === first)?.batch.first).toBe(first.toString());
    }
    expect(await store.readAfter(0n, 1_000)).toEqual(written);
    // A limit that cuts a batch is extended to the batch's end.
    const part = await store.readAfter(7n, 2);
    expect(part.map((e) => e.seq)).toEqual(['8', '9', '10']);
    expect(await store.readAfter(store.head().seq, 10)).toEqual([]);
    await expect(store.readAfter(store.head().seq + 1n, 10)).rejects.toMatchObject({
      reason: 'beyond-head',
    });
    await expect(store.readAfter(0n, 0)).rejects.toBeInstanceOf(LedgerStoreError);
    await store.close();
  });

  it('writes a 250-pod tick with one write and one fdatasync, fast', async () => {
    const store = await LedgerStore.open(options());
    const started = process.hrtime.bigint();
    const written = await appendTicks(store, 20, 250);
    const perTickMs = (process.hrtime.bigint() - started) / 20n / 1_000_000n;
    expect(written).toHaveLength(20 * 252);
    // Generous bound for shared CI disks; locally this is a few milliseconds.
    expect(perTickMs).toBeLessThan(250n);
    await store.close();
  });
});

describe('LedgerStore crash recovery', () => {
  async function tornAfterTicks(
    ticks: number,
  ): Promise<{ written: LedgerEntry[]; path: string; data: Buffer }> {
    const store = await LedgerStore.open(options());
    const written = await appendTicks(store, ticks);
    await store.close();
    const path = await lastSegmentPath();
    return { written, path, data: await readFile(path) };
  }

  async function reopenExpectRepair(keptSeq: number): Promise<MarkerEntry> {
    const store = await LedgerStore.open(options({ verify: 'full' }));
    const entries = await allEntries(store);
    expect(entries.slice(0, keptSeq).every((e) => e.kind !== 'marker')).toBe(true);
    const repair = entries[keptSeq] as MarkerEntry;
    expect(repair).toMatchObject({
      kind: 'marker',
      event: 'torn-tail-repaired',
      seq: String(keptSeq + 1),
    });
    expect(entries).toHaveLength(keptSeq + 1);
    expect(store.stats().tornTailRepairs).toBe(1);
    await store.close();
    return repair;
  }

  it('drops the whole torn batch, not only the torn line, and records a marker', async () => {
    const { data, path } = await tornAfterTicks(3);
    // Cut inside the second line of the last 5-entry batch (seq 12).
    const lines = data.toString('utf8').split('\n');
    const offset = lines.slice(0, 11).reduce((n, line) => n + Buffer.byteLength(line) + 1, 0) + 10;
    await truncate(path, offset);
    const repair = await reopenExpectRepair(10);
    expect(repair.detail).toMatchObject({
      fromSeq: '11',
      linesDropped: '2',
      bytesRemoved: String(
        offset - lines.slice(0, 10).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0),
      ),
    });
    const store = await LedgerStore.open(options());
    expect((await recoverBaseline(store))?.seq).toBe(10n);
    await store.close();
  });

  it('treats a complete last line without its newline as torn', async () => {
    const { data, path } = await tornAfterTicks(2);
    await truncate(path, data.length - 1);
    await reopenExpectRepair(5);
  });

  it('repairs a zero-filled tail left by a crash during delayed allocation', async () => {
    const { path } = await tornAfterTicks(2);
    await appendFile(path, Buffer.alloc(300));
    await reopenExpectRepair(10);
  });

  it('repairs a hash mismatch in the last batch', async () => {
    const { data, path } = await tornAfterTicks(2);
    const at = data.lastIndexOf('"cpuNs":"') + 9;
    data[at] = data[at] === 0x31 ? 0x32 : 0x31;
    await writeFile(path, data);
    await reopenExpectRepair(5);
  });

  it('refuses to start on a corrupt entry followed by later batches', async () => {
    const { data, path } = await tornAfterTicks(3);
    const at = data.indexOf('"cpuNs":"') + 9;
    data[at] = data[at] === 0x31 ? 0x32 : 0x31;
    await writeFile(path, data);
    await expect(LedgerStore.open(options())).rejects.toMatchObject({
      name: 'LedgerStoreError',
      reason: 'corrupt',
      seq: 1n,
    });
  });

  it('records the marker of a repair whose process died before writing it, once', async () => {
    await tornAfterTicks(1);
    const pending = {
      repairId: 'r-1',
      segment: 'segment-00000000000000000001.ndjson',
      bytesRemoved: '17',
      linesDropped: '1',
      fromSeq: '6',
      reason: 'last line has no newline',
    };
    await writeFile(join(dir, 'ledger', 'repair.json'), JSON.stringify(pending));
    let store = await LedgerStore.open(options());
    await store.close();
    await writeFile(join(dir, 'ledger', 'repair.json'), JSON.stringify(pending));
    store = await LedgerStore.open(options());
    const markers = (await allEntries(store)).filter((e) => e.kind === 'marker');
    expect(markers).toHaveLength(1);
    expect(markers[0]).toMatchObject({ event: 'torn-tail-repaired', detail: pending });
    await store.close();
  });

  it('starts a fresh segment after a crash right after rolling', async () => {
    const store = await LedgerStore.open(options({ segmentBytes: 2048 }));
    await appendTicks(store, 3);
    await store.close();
    const next = (store.head().seq + 1n).toString().padStart(20, '0');
    await writeFile(join(dir, 'ledger', `segment-${next}.ndjson`), '');
    const reopened = await LedgerStore.open(options({ segmentBytes: 2048, verify: 'full' }));
    await appendTicks(reopened, 2);
    expect(await reopened.verify()).toEqual(reopened.head());
    await reopened.close();
  });
});

describe('LedgerStore compaction', () => {
  it('deletes acknowledged segments once past the minimum retention, keeping the chain verifiable', async () => {
    const retention = { minAgeNs: 100n * SECOND };
    let store = await LedgerStore.open(options({ segmentBytes: 2048, retention }));
    const written = await appendTicks(store, 12);
    const files = (await segmentFiles()).length;
    await store.acknowledge(30n);
    expect((await segmentFiles()).length).toBe(files); // too young
    clock += 200n * SECOND;
    const result = await store.acknowledge(40n);
    expect(result?.droppedUnacked).toBeNull();
    expect(result?.deletedSegments.length).toBeGreaterThan(0);
    expect(store.anchor().seq).toBeLessThanOrEqual(40n);
    expect(store.anchor().hash).toBe(written[Number(store.anchor().seq) - 1]?.hash);
    await expect(store.readAfter(0n, 10)).rejects.toBeInstanceOf(LedgerRangeError);
    await store.close();

    store = await LedgerStore.open(options({ segmentBytes: 2048, retention, verify: 'full' }));
    const kept = await allEntries(store);
    expect(verifyChain(kept, store.anchor())).toMatchObject({ ok: true });
    expect(kept).toEqual(written.slice(Number(store.anchor().seq)));
    await store.close();
  });

  it('drops un-acknowledged segments beyond the byte limit with a marker, never the latest checkpoint', async () => {
    const store = await LedgerStore.open(
      options({ segmentBytes: 2048, retention: { maxBytes: 6000 } }),
    );
    await appendTicks(store, 12);
    const result = await store.compact();
    expect(result.droppedUnacked).toEqual({ from: 1n, to: store.anchor().seq });
    expect(store.stats().droppedUnackedEntries).toBe(store.anchor().seq);
    const entries = await allEntries(store);
    expect(entries.at(-1)).toMatchObject({
      kind: 'marker',
      event: 'unacked-dropped',
      detail: { fromSeq: '1', toSeq: store.anchor().seq.toString(), ackedSeq: '0' },
    });
    expect(await recoverBaseline(store)).not.toBeNull();
    await store.close();
  });

  it('finishes a compaction that crashed after writing the anchor', async () => {
    let store = await LedgerStore.open(options({ segmentBytes: 2048 }));
    const written = await appendTicks(store, 6);
    await store.close();
    const second = BigInt((await segmentFiles())[1]?.slice(8, 28) as string);
    const anchor = written[Number(second) - 2] as LedgerEntry;
    await writeFile(
      join(dir, 'ledger', 'anchor.json'),
      JSON.stringify({ v: 1, seq: anchor.seq, hash: anchor.hash }),
    );
    store = await LedgerStore.open(options({ segmentBytes: 2048, verify: 'full' }));
    expect((await segmentFiles())[0]).toBe(`segment-${second.toString().padStart(20, '0')}.ndjson`);
    expect(await allEntries(store)).toEqual(written.slice(Number(second) - 1));
    await store.close();
  });

  it('acknowledges idempotently and refuses a seq beyond the head', async () => {
    const store = await LedgerStore.open(options());
    await appendTicks(store, 1);
    await store.acknowledge(3n);
    expect(await store.acknowledge(2n)).toBeNull();
    expect(store.stats().acked).toBe(3n);
    await expect(store.acknowledge(99n)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await store.close();
    const reopened = await LedgerStore.open(options());
    expect(reopened.stats().acked).toBe(3n);
    expect(reopened.writable).toBe(true);
    await reopened.close();
    expect(reopened.writable).toBe(false);
    await expect(reopened.append([marker(1)])).rejects.toMatchObject({ reason: 'closed' });
    await expect(
      LedgerStore.open(options({ identity: { node: 'node-b', agentId: 'x' } })),
    ).rejects.toMatchObject({ reason: 'invalid-argument' });
  });
});
