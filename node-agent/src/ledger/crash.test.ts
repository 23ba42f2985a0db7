import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENESIS_PREV, conservationViolation, verifyChain } from '@agentmeter/crds';
import type { CheckpointEntry, LedgerEntry } from '@agentmeter/crds';
import { afterAll, describe, expect, it } from 'vitest';
import { LedgerStore } from './segment-store.ts';
import { cpuCounterAt, podKey } from './tick-fixture.ts';

const WRITER = fileURLToPath(new URL('./crash-writer.fixture.ts', import.meta.url));
const KILLS = 20;
const PODS = 50;
const SEGMENT_BYTES = 96 * 1024;
/** Kills after which the test also tears the tail by hand, as a crash mid-write would. */
const TEAR_AFTER = new Set([2, 7, 12, 17]);

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/**
 * Starts the writer, waits until it has recovered and written its first tick, then SIGKILLs it
 * after `delayMs`. (Killed before that, on a busy machine, its last line could be its start
 * marker, and a torn tail would cut the marker rather than a tick.)
 */
async function runAndKill(dir: string, t0Ms: bigint, delayMs: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [WRITER, dir, t0Ms.toString(), String(PODS), String(SEGMENT_BYTES)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const ticking = await new Promise<boolean>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ticking')) resolve(true);
    });
    child.on('exit', () => resolve(false));
  });
  if (!ticking) throw new Error(`writer exited before its first tick: ${stderr}`);
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.kill('SIGKILL');
  await exited;
  return stderr;
}

/**
 * Cuts the active (newest) segment in the middle of its last line, as a crash mid-write would.
 * Only the active segment can be torn — a batch is fsynced before the next one starts a new
 * segment — so when the writer died right after rolling (empty segment) there is nothing to tear.
 */
async function tearTail(dir: string): Promise<boolean> {
  const ledger = join(dir, 'ledger');
  const names = (await readdir(ledger)).filter((n) => n.startsWith('segment-')).sort();
  const path = join(ledger, names.at(-1) as string);
  const data = await readFile(path);
  if (data.length === 0) return false;
  const lastStart = data.lastIndexOf(0x0a, data.length - 2) + 1;
  const lineLength = data.length - lastStart;
  await truncate(path, lastStart + 1 + Math.floor(Math.random() * (lineLength - 2)));
  return true;
}

describe('ledger under SIGKILL', () => {
  it(`loses and double-counts nothing across ${KILLS} kills mid-tick and repairs torn tails`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmeter-crash-'));
    dirs.push(dir);
    const t0Ms = BigInt(Date.now());
    let tears = 0;
    let tearPending = false;
    for (let kill = 0; kill < KILLS; kill++) {
      expect(await runAndKill(dir, t0Ms, 5 + Math.floor(Math.random() * 120))).toBe('');
      tearPending ||= TEAR_AFTER.has(kill);
      if (tearPending && (await tearTail(dir))) {
        tears += 1;
        tearPending = false;
      }
    }
    expect(tears).toBeGreaterThanOrEqual(TEAR_AFTER.size - 1);
    // One more start recovers the last tear (if any) the way the agent would.
    await runAndKill(dir, t0Ms, 20);

    const store = await LedgerStore.open({
      dir,
      identity: { node: 'node-a', agentId: 'checker' },
      verify: 'full',
    });
    const entries = await store.readAfter(0n, Number.MAX_SAFE_INTEGER);
    await store.close();

    // The chain verifies end to end from genesis; seqs are contiguous; the last batch is whole.
    const check = verifyChain(entries, { seq: 0n, hash: GENESIS_PREV });
    expect(check).toMatchObject({ ok: true, complete: true });
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => String(i + 1)));

    // Every batch is all there: a tick is PODS pod entries, one node entry, then its checkpoint.
    const batches = new Map<string, LedgerEntry[]>();
    for (const entry of entries)
      batches.set(entry.batch.first, [...(batches.get(entry.batch.first) ?? []), entry]);
    const ticks: LedgerEntry[][] = [];
    for (const batch of batches.values()) {
      expect(batch).toHaveLength(Number((batch[0] as LedgerEntry).batch.size));
      if (batch[0]?.kind === 'marker') continue;
      expect(batch.map((e) => e.kind)).toEqual([
        ...Array.from({ length: PODS }, () => 'pod-usage'),
        'node-usage',
        'checkpoint',
      ]);
      ticks.push(batch);
    }

    const markers = entries.filter((e) => e.kind === 'marker');
    expect(markers.filter((m) => m.event === 'agent-start')).toHaveLength(KILLS + 1);
    const repairs = markers.filter((m) => m.event === 'torn-tail-repaired');
    expect(repairs.length).toBeGreaterThanOrEqual(tears);
    for (const repair of repairs) expect(Number(repair.detail.bytesRemoved)).toBeGreaterThan(0);

    // Exactly once: every checkpoint equals the previous one plus the deltas of its own batch,
    // and equals the simulated kernel counter at its time, across all restarts.
    expect(ticks.length).toBeGreaterThan(KILLS);
    let previous: CheckpointEntry | null = null;
    for (const tick of ticks) {
      const checkpoint = tick.at(-1) as CheckpointEntry;
      const nowMs = BigInt(checkpoint.time.end) / 1_000_000n;
      for (const entry of tick) expect(conservationViolation(entry)).toBeNull();
      for (let pod = 0; pod < PODS; pod++) {
        const counter = BigInt(
          checkpoint.cgroups.find((c) => c.key === podKey(pod))?.counters.cpu ?? '-1',
        );
        expect(counter).toBe(cpuCounterAt(pod, nowMs, t0Ms));
        const usage = tick[pod];
        if (usage?.kind !== 'pod-usage') throw new Error('pod entry expected');
        const before = previous?.cgroups.find((c) => c.key === podKey(pod))?.counters.cpu;
        expect(BigInt(usage.usage.cpuNs)).toBe(
          before === undefined ? 0n : counter - BigInt(before),
        );
      }
      previous = checkpoint;
    }
    const first = ticks[0]?.at(-1) as CheckpointEntry;
    const totalCpu = ticks.reduce(
      (sum, tick) => sum + BigInt((tick[0] as { usage: { cpuNs: string } }).usage.cpuNs),
      0n,
    );
    expect(totalCpu).toBe(
      cpuCounterAt(0, BigInt((previous as CheckpointEntry).time.end) / 1_000_000n, t0Ms) -
        cpuCounterAt(0, BigInt(first.time.end) / 1_000_000n, t0Ms),
    );
  }, 180_000);
});
