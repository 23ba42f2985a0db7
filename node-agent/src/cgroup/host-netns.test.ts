import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readHostNetNs } from './host-netns.ts';

const roots: string[] = [];

/** A /proc with the given pids: each with a comm and an ns/net link, or no ns/net (refused). */
async function procRoot(pids: Record<string, { comm: string; netNs?: string }>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'host-netns-'));
  roots.push(root);
  for (const [pid, p] of Object.entries(pids)) {
    await mkdir(path.join(root, pid, 'ns'), { recursive: true });
    await writeFile(path.join(root, pid, 'comm'), `${p.comm}\n`);
    if (p.netNs !== undefined) await symlink(p.netNs, path.join(root, pid, 'ns', 'net'));
  }
  return root;
}

afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('readHostNetNs', () => {
  it("reads pid 1's namespace when it can", async () => {
    const root = await procRoot({
      '1': { comm: 'systemd', netNs: 'net:[1]' },
      '2': { comm: 'kthreadd', netNs: 'net:[2]' },
      self: { comm: 'node', netNs: 'net:[3]' },
    });
    expect(await readHostNetNs(root)).toEqual({ netNs: 'net:[1]', from: 'pid 1' });
  });

  it("falls back to kthreadd when pid 1's link is refused, not to the agent's own", async () => {
    const root = await procRoot({
      '1': { comm: 'process_api' },
      '2': { comm: 'kthreadd', netNs: 'net:[4026531833]' },
      self: { comm: 'node', netNs: 'net:[4026532401]' },
    });
    expect(await readHostNetNs(root)).toEqual({ netNs: 'net:[4026531833]', from: 'kthreadd' });
  });

  it('takes pid 2 only when it is kthreadd, then its own namespace, then none', async () => {
    const root = await procRoot({
      '1': { comm: 'init' },
      '2': { comm: 'sh', netNs: 'net:[2]' },
      self: { comm: 'node', netNs: 'net:[3]' },
    });
    expect(await readHostNetNs(root)).toEqual({ netNs: 'net:[3]', from: 'self' });
    expect(await readHostNetNs(await procRoot({}))).toBe(null);
  });
});
