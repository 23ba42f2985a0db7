// A throwaway PostgreSQL cluster from Debian's server binaries (hack/ensure-postgres.sh installs
// them): its own data directory under a temp dir, run by a non-root user (Debian's `postgres`
// when the tests run as root), listening on loopback and on a unix socket in that dir, removed
// on stop.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './agent-process.ts';

const run = promisify(execFile);

export interface Cluster {
  readonly version: string;
  readonly socketDir: string;
  readonly port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication on loopback). */
  readonly url: string;
  readonly dataDir: string;
  readonly postmasterPid: number;
  stop(): Promise<void>;
}

export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

function serverBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) {
    throw new ClusterError(
      `no PostgreSQL server under ${root}: run bash hack/ensure-postgres.sh (Debian's postgresql)`,
    );
  }
  return join(root, newest, 'bin');
}

/** initdb refuses root, so as root the server runs as Debian's `postgres` user. */
async function asServerUser(cmd: string, args: string[]): Promise<string> {
  const argv =
    process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
  try {
    const { stdout } = await run(argv[0] as string, argv.slice(1), { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new ClusterError(`${cmd} ${args.join(' ')}: ${e.stderr ?? e.message}`, { cause: err });
  }
}

/** `settings`: extra server settings (`name=value`), e.g. a bulk load's max_wal_size. */
export async function startCluster(settings: readonly string[] = []): Promise<Cluster> {
  const bin = serverBin();
  const port = await freePort('127.0.0.1');
  const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-pg-'));
  const dataDir = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout), Number(gid));
  }
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    await asServerUser(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-locale',
    ]);
    await asServerUser(join(bin, 'pg_ctl'), [
      '-D',
      dataDir,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-o',
      [
        `-c listen_addresses=127.0.0.1 -k ${dir} -p ${port}`,
        ...settings.map((x) => `-c ${x}`),
      ].join(' '),
      'start',
    ]);
  } catch (err) {
    cleanup();
    throw err;
  }
  const postmasterPid = Number(
    readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
  );
  const version = (await asServerUser(join(bin, 'postgres'), ['--version'])).trim();
  return {
    version,
    socketDir: dir,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    postmasterPid,
    async stop() {
      try {
        await asServerUser(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      } finally {
        cleanup();
      }
    },
  };
}

/** Proportional set size of the server: the postmaster and every backend it forked, in bytes. */
export function serverPssBytes(postmasterPid: number): number {
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(name) !== postmasterPid && ppid !== postmasterPid) continue;
      const pss = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${name}/smaps_rollup`, 'utf8'));
      total += Number(pss?.[1] ?? 0) * 1024;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}
