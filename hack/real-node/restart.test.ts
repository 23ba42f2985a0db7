import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTime } from './lock.ts';
import { captureRelaunch, RestartError } from './restart.ts';

describe('captureRelaunch', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('reads a running daemon back as it was started: argv, env, cwd and log file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restart-'));
    const logFile = join(dir, 'daemon.log');
    const out = openSync(logFile, 'a');
    const child = spawn('sleep', ['300'], {
      stdio: ['ignore', out, out],
      env: { PATH: process.env.PATH ?? '', MARKER: 'a b=c' },
      cwd: dir,
    });
    closeSync(out);
    const exited = new Promise((done) => child.on('exit', done));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    });
    const pid = child.pid ?? 0;
    const startTime = (await processStartTime(pid)) ?? '';
    const relaunch = await captureRelaunch({ name: 'sleeper', pid, startTime });
    expect(relaunch).toEqual({
      name: 'sleeper',
      argv: ['sleep', '300'],
      env: { PATH: process.env.PATH ?? '', MARKER: 'a b=c' },
      cwd: dir,
      logFile,
    });
  });

  it('refuses a process that is gone (or a reused pid)', async () => {
    const startTime = (await processStartTime(process.pid)) ?? '';
    await expect(
      captureRelaunch({ name: 'stale', pid: process.pid, startTime: `${startTime}1` }),
    ).rejects.toThrow(RestartError);
  });
});
