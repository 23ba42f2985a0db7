// Stacked block devices report the same I/O twice in io.stat and blkio: once at the
// device-mapper/md device the filesystem sits on and again at each disk below it. We count each
// I/O once, at the bottom-most devices (those with no slaves):
// - a partly stacked disk (vda1 mounted directly, vda2 under LVM) is still counted; counting only
//   top-level devices would drop vda, since its vda2 has a holder, and lose vda1's I/O;
// - the bottom devices are what the cloud bills (EBS/PD throughput is per attached disk), so
//   RAID mirroring and parity writes are real usage.
// Loop devices are skipped: their I/O is re-issued as file I/O on the backing filesystem
// (charged to the same cgroup since Linux 5.12) and is counted on that filesystem's disk; with a
// backing file in tmpfs there is no disk I/O at all. Devices missing from sysfs (removed, or sysfs
// not mounted) are counted: undercounting silently is worse than a rare double count.
import type { Dirent } from 'node:fs';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { DeviceBytes } from './parse.ts';

export type DeviceKind = 'physical' | 'stacked' | 'loop' | 'unknown';

export interface BlockDevicesOptions {
  /** sysfs mount, e.g. `/sys` or `/host/sys`; devices are looked up at `<sysRoot>/dev/block/MAJ:MIN`. */
  sysRoot: string;
  /** How long a classification is trusted; dm minor numbers are reused after removal. */
  ttlMs?: number;
}

const DEFAULT_TTL_MS = 60_000;

/** Classifies block devices by their sysfs entries, with a cache so a tick costs no sysfs reads. */
export class BlockDevices {
  readonly #sysRoot: string;
  readonly #ttlNs: bigint;
  readonly #cache = new Map<string, { kind: DeviceKind; at: bigint }>();

  constructor(opts: BlockDevicesOptions) {
    this.#sysRoot = opts.sysRoot;
    this.#ttlNs = BigInt(opts.ttlMs ?? DEFAULT_TTL_MS) * 1_000_000n;
  }

  /** Synchronous, like the cgroup reads: sysfs is a kernel pseudo-filesystem, never a disk. */
  kind(device: string): DeviceKind {
    const now = process.hrtime.bigint();
    const cached = this.#cache.get(device);
    if (cached && now - cached.at < this.#ttlNs) return cached.kind;
    // Major 7 is always loop; an unbound loop device has no `loop/` directory in sysfs.
    const kind = device.startsWith('7:')
      ? 'loop'
      : classify(path.join(this.#sysRoot, 'dev', 'block', device));
    this.#cache.set(device, { kind, at: now });
    return kind;
  }

  /** Sums read and write bytes over the devices that count (see the file comment). */
  sum(devices: readonly DeviceBytes[]): { readBytes: bigint; writeBytes: bigint } {
    let readBytes = 0n;
    let writeBytes = 0n;
    for (const d of devices) {
      const kind = this.kind(d.device);
      if (kind === 'stacked' || kind === 'loop') continue;
      readBytes += d.readBytes;
      writeBytes += d.writeBytes;
    }
    return { readBytes, writeBytes };
  }
}

function classify(dir: string): DeviceKind {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 'unknown';
  }
  if (entries.some((e) => e.name === 'loop')) return 'loop';
  if (!entries.some((e) => e.name === 'slaves')) return 'physical';
  try {
    return readdirSync(path.join(dir, 'slaves')).length > 0 ? 'stacked' : 'physical';
  } catch {
    return 'unknown';
  }
}
