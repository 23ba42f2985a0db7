// Kept-open file descriptors for the kernel pseudo-files (cgroupfs, procfs) read every tick. A
// re-read is one pread at offset 0 on an fd opened once, into a reused buffer: no path lookup,
// open or close per tick. Reads are synchronous on purpose: the kernel generates these files on
// read and they never wait on a disk, so a thread-pool round trip would only add CPU.
//
// Removed and recreated cgroups: on kernfs (cgroup v1 and v2) a read through an fd of a removed
// cgroup fails with ENODEV, and keeps failing after a cgroup of the same name is created again
// (checked on Linux 6.18, v1 and v2). So no per-tick stat is needed: the first failing read
// closes the directory's fds and opens the path afresh once, which finds the new cgroup (and
// captures its inode) or reports the file missing.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';

export interface PseudoFileCacheOptions {
  /** Most fds kept open at once; further files are opened, read and closed on every read, so
   * the agent degrades to the uncached cost instead of running out of descriptors. */
  maxOpenFiles?: number;
}

/** ~8 fds per pod (4 controllers, cgroup.procs of pod and containers, net/dev). */
const DEFAULT_MAX_OPEN_FILES = 4096;
/** Fits v1 memory.stat (~1.5 KiB) and a pod's net/dev; grown when a file fills it. */
const INITIAL_BUFFER_BYTES = 8 * 1024;

/** Errors of a read through an fd whose file went away (cgroup removed, process exited). */
const GONE = new Set(['ENODEV', 'ENOENT', 'ESTALE', 'ESRCH']);

interface DirState {
  /** Inode of the directory, captured when its first kept fd was opened; null while none is. */
  ino: bigint | null;
  fds: Map<string, number>;
  /** Pass of the last read, see {@link PseudoFileCache.closeUnused}. */
  pass: number;
}

export class PseudoFileCache {
  readonly #maxOpen: number;
  readonly #owners = new Map<string, Map<string, DirState>>();
  #buf = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  #open = 0;
  #pass = 0;

  constructor(opts: PseudoFileCacheOptions = {}) {
    this.#maxOpen = opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES;
  }

  /** Number of fds currently kept open. */
  get openFiles(): number {
    return this.#open;
  }

  /**
   * Current contents of `dir/name`, decoded as latin1 (these files are ASCII). `owner` groups
   * fds for {@link release}. Throws the errno error of open or read (ENOENT when the file is
   * missing, ENODEV when its cgroup was removed and not recreated).
   */
  read(owner: string, dir: string, name: string): string {
    const d = this.#dir(owner, dir);
    d.pass = this.#pass;
    const fd = d.fds.get(name);
    if (fd !== undefined) {
      try {
        return this.#readFd(fd);
      } catch (err) {
        if (!GONE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
        this.#closeDir(d);
      }
    }
    return this.#openAndRead(d, dir, name);
  }

  /**
   * Contents of `dir/name` through its kept fd only; undefined when none is kept or reading it
   * fails (the directory's fds are then closed). Never opens the path again: for callers that
   * must not silently get whatever now lives at that path, such as a recycled PID's /proc entry.
   */
  readKept(owner: string, dir: string, name: string): string | undefined {
    const d = this.#owners.get(owner)?.get(dir);
    const fd = d?.fds.get(name);
    if (d === undefined || fd === undefined) return undefined;
    d.pass = this.#pass;
    try {
      return this.#readFd(fd);
    } catch {
      this.#closeDir(d);
      return undefined;
    }
  }

  /** Inode of `dir`: the one captured with its kept fds, else a stat (which is not cached, as
   * nothing would tell when the directory is replaced). */
  inode(owner: string, dir: string): bigint {
    return this.#owners.get(owner)?.get(dir)?.ino ?? dirInode(dir);
  }

  /** Starts a pass; {@link closeUnused} then closes what an owner did not read since. */
  beginPass(): number {
    return ++this.#pass;
  }

  /** Closes the owner's directories not read since `pass` began (removed containers, a
   * previous process's /proc entries). */
  closeUnused(owner: string, pass: number): void {
    const dirs = this.#owners.get(owner);
    if (dirs === undefined) return;
    for (const [dir, d] of dirs) {
      if (d.pass >= pass) continue;
      this.#closeDir(d);
      dirs.delete(dir);
    }
  }

  /** Closes every fd of an owner, e.g. a pod that disappeared. */
  release(owner: string): void {
    const dirs = this.#owners.get(owner);
    if (dirs === undefined) return;
    for (const d of dirs.values()) this.#closeDir(d);
    this.#owners.delete(owner);
  }

  close(): void {
    for (const owner of [...this.#owners.keys()]) this.release(owner);
  }

  #dir(owner: string, dir: string): DirState {
    let dirs = this.#owners.get(owner);
    if (dirs === undefined) {
      dirs = new Map();
      this.#owners.set(owner, dirs);
    }
    let d = dirs.get(dir);
    if (d === undefined) {
      d = { ino: null, fds: new Map(), pass: this.#pass };
      dirs.set(dir, d);
    }
    return d;
  }

  #openAndRead(d: DirState, dir: string, name: string): string {
    const fd = openSync(path.join(dir, name), 'r');
    const keep = this.#open < this.#maxOpen;
    let kept = false;
    try {
      // Stat between open and a successful read: the cgroup the fd belongs to was alive across
      // both, so the stat saw that same directory, not a later one of the same name.
      if (keep && d.ino === null) d.ino = dirInode(dir);
      const text = this.#readFd(fd);
      if (keep) {
        d.fds.set(name, fd);
        this.#open++;
        kept = true;
      }
      return text;
    } finally {
      if (!kept) {
        closeSync(fd);
        if (d.fds.size === 0) d.ino = null;
      }
    }
  }

  #readFd(fd: number): string {
    let n = readSync(fd, this.#buf, 0, this.#buf.length, 0);
    // A full buffer may have cut the file short: grow and read the whole file again.
    while (n === this.#buf.length) {
      this.#buf = Buffer.allocUnsafe(this.#buf.length * 2);
      n = readSync(fd, this.#buf, 0, this.#buf.length, 0);
    }
    return this.#buf.toString('latin1', 0, n);
  }

  #closeDir(d: DirState): void {
    for (const fd of d.fds.values()) closeSync(fd);
    this.#open -= d.fds.size;
    d.fds.clear();
    d.ino = null;
  }
}

function dirInode(dir: string): bigint {
  const s = statSync(dir, { bigint: true });
  if (!s.isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, stat '${dir}'`), { code: 'ENOTDIR' });
  }
  return s.ino;
}
