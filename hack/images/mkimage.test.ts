// The image writer's own Go tests (tarball structure: manifest, config digest, diff_ids, the
// config a Dockerfile gives, layer entries), run with the unit suites so they are never left out.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const moduleDir = fileURLToPath(new URL('.', import.meta.url));

it('go test of hack/images passes', { timeout: 300_000 }, async () => {
  const result = await new Promise<{ code: number; output: string }>((done) => {
    execFile(
      'go',
      ['test', '-count=1', './...'],
      {
        cwd: moduleDir,
        env: { ...process.env, GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '-mod=readonly' },
      },
      (err, stdout, stderr) => {
        const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        const output = missing ? 'Go is not installed: it builds and tests hack/images' : '';
        done({ code: err ? 1 : 0, output: output + stdout + stderr });
      },
    );
  });
  expect(result.code, result.output).toBe(0);
  expect(result.output).toMatch(/^ok\s/m);
});
