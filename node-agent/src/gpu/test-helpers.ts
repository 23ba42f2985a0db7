// Shared by the GPU unit tests, the integration suite and the bench: the recorded nvidia-smi
// scenarios under test/fixtures/gpu and a fake /proc tree.
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GPU_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/gpu/', import.meta.url));
export const FAKE_NVIDIA_SMI_BIN = path.join(GPU_FIXTURES, 'bin');
export const SCENARIOS = path.join(GPU_FIXTURES, 'scenarios');

export function scenarioDir(name: string): string {
  return path.join(SCENARIOS, name);
}

/** A scenario file with `{{pid:NAME}}` replaced, as the fake nvidia-smi prints it. */
export function scenarioText(
  name: string,
  file: string,
  pids: Record<string, number> = {},
): string {
  const text = readFileSync(path.join(scenarioDir(name), file), 'utf8');
  return text.replace(/\{\{pid:([A-Za-z0-9_-]+)\}\}/g, (_, key: string) => {
    const pid = pids[key];
    if (pid === undefined) throw new Error(`no pid for ${key}`);
    return String(pid);
  });
}

/** `FAKE_NVIDIA_SMI_PIDS` for a name → pid map. */
export function pidsEnv(pids: Record<string, number>): string {
  return Object.entries(pids)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** A `/proc/<pid>/stat` line with the given starttime (field 22); comm has a space and a paren. */
export function statLine(pid: number, starttime: bigint): string {
  const fields = ['S', '1', String(pid), String(pid), '0', '-1', '4194560'];
  while (fields.length < 19) fields.push('0');
  fields.push(String(starttime));
  return `${pid} (py thon) x) ${fields.join(' ')} 0 0\n`;
}

/** Writes /proc/<pid>/{stat,cgroup} under `root` for a process in pod `podUid` (null: no pod). */
export async function writeFakeProc(
  root: string,
  pid: number,
  starttime: bigint,
  podUid: string | null,
): Promise<void> {
  const dir = path.join(root, String(pid));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'stat'), statLine(pid, starttime));
  const cgroup =
    podUid === null
      ? '0::/system.slice/sshd.service\n'
      : `12:pids:/kubepods/burstable/pod${podUid}/${'ab'.repeat(32)}\n0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replaceAll('-', '_')}.slice/cri-containerd-${'ab'.repeat(32)}.scope\n`;
  await writeFile(path.join(dir, 'cgroup'), cgroup);
}
