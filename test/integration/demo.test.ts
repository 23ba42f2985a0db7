// The README's main command in CI form: `node hack/demo.ts --duration 45` starts its own control
// plane, agent, operator and workloads, must charge every demo session a non-zero cost, and must
// leave no cgroup behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CGROUP_ROOT, CONTROLLERS } from '../support/cgroups.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(repoRoot, 'hack/demo.ts'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('the demo (bash hack/demo.sh --duration)', () => {
  it('charges three concurrent OTLP sessions and the batch sessions, then removes its cgroups', async () => {
    const { code, stdout, stderr } = await runDemo(['--duration', '45']);
    const context = `stdout:\n${stdout}\nstderr (tail):\n${stderr.slice(-3000)}`;
    expect(code, context).toBe(0);
    expect(stdout, context).toMatch(/^RESULT: OK: \d+ sessions with non-zero cost/m);

    // Session rows: `namespace/id  pod  cpu  mem  tokens  infra + tokens  total ...`.
    const rows = [
      ...stdout.matchAll(
        /^(acme-[a-z-]+\/\S+)\s+\S+\s+[\d.]+\s+[\d.]+\s+\S+\s+[\d.]+ \+ [\d.]+\s+([\d.]+)/gm,
      ),
    ];
    const charged = rows.filter(([, , total]) => /[1-9]/.test(total ?? ''));
    const runtime = charged.filter(([, id]) => id?.startsWith('acme-agents/'));
    expect(
      runtime.map(([, id]) => id),
      context,
    ).toHaveLength(3);
    // The runtime sessions sent GenAI spans, so their cost includes tokens.
    for (const [row] of runtime) expect(row, context).toMatch(/\d+\/\d+/);
    expect(
      charged.some(([, id]) => id?.startsWith('acme-batch/')),
      context,
    ).toBe(true);

    const prefix = /^cgroup prefix: (\S+)$/m.exec(stdout)?.[1];
    expect(prefix, context).toMatch(/^agentmeter-demo-[0-9a-f]{6}$/);
    for (const controller of CONTROLLERS)
      expect(existsSync(join(CGROUP_ROOT, controller, prefix ?? '')), controller).toBe(false);
    // A guard against a hang only: the demo waits for its sessions to be charged, which on a busy
    // machine takes minutes beyond its 45 s.
  }, 600_000);
});
