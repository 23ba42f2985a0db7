// The Dockerfile reader the engine-less image build follows: the project's Dockerfiles are read
// whole, and anything the build would reproduce differently from `docker build` is refused with
// its line, so the Dockerfile and the built image cannot quietly disagree.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DockerfileError,
  isIgnored,
  parseDockerignore,
  parseInstructions,
  planDockerfile,
} from './dockerfile.ts';
import { build, readPlan, REPO_ROOT } from './from-dockerfile.ts';

const DOCKERFILES = [
  'node-agent/Dockerfile',
  'operator/Dockerfile',
  'test/apps/agent-app/Dockerfile',
];
const HEAD =
  'ARG NODE_IMAGE=node:24.21.0-bookworm-slim\nFROM ${NODE_IMAGE} AS build\nWORKDIR /src\nRUN mkdir out\n';
const TAIL =
  'FROM ${NODE_IMAGE}\nWORKDIR /app\nCOPY --from=build /src/out ./\nUSER 65532:65532\nENTRYPOINT ["node", "main.js"]\n';

describe.each(DOCKERFILES)('%s', (file) => {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');

  it('is read whole into a plan: every instruction is one the build reproduces', () => {
    const plan = planDockerfile(text, file);
    const final = text.slice(text.lastIndexOf('\nFROM '));
    expect(plan.final.base).toEqual({ nodeVersion: '24.21.0', suite: 'bookworm' });
    expect(plan.final.entrypoint).toEqual(
      JSON.parse(/^ENTRYPOINT (.+)$/m.exec(final)?.[1] ?? 'null'),
    );
    expect(plan.final.user).toBe(/^USER (.+)$/m.exec(final)?.[1]);
    expect(plan.final.env).toEqual(
      [...final.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]),
    );
    // ENTRYPOINT without CMD in the stage: the base image's CMD is dropped, as Docker does.
    expect(plan.final.cmd).toBeUndefined();
    const steps = plan.buildStages.flatMap((s) => s.steps).length;
    const counted = parseInstructions(text, file).filter((i) =>
      ['COPY', 'RUN'].includes(i.keyword),
    ).length;
    expect(steps + plan.final.copies.length).toBe(counted);
  });

  it('takes every build-context COPY from files .dockerignore lets through', () => {
    const { plan, context } = readPlan(join(REPO_ROOT, file));
    for (const step of plan.buildStages.flatMap((s) => s.steps)) {
      if (step.kind !== 'copy') continue;
      for (const source of step.copy.sources)
        expect(isIgnored(source, context.ignore), source).toBe(false);
    }
  });
});

describe('refused, with the line', () => {
  it.each([
    [
      'an unsupported instruction',
      `${HEAD}HEALTHCHECK CMD true\n${TAIL}`,
      5,
      /HEALTHCHECK in a build stage/,
    ],
    ['ADD', `${HEAD}${TAIL}ADD x /x\n`, 10, /ADD in the final stage/],
    ['RUN in the final stage', `${HEAD}${TAIL}RUN true\n`, 10, /RUN in the final stage/],
    ['COPY --chown', `${HEAD}${TAIL}COPY --from=build --chown=1:1 /src/out ./\n`, 10, /--chown/],
    ['a final COPY from the context', `${HEAD}${TAIL}COPY main.js ./\n`, 10, /--from/],
    [
      'COPY --from an unknown stage',
      `${HEAD}${TAIL}COPY --from=nope /x ./\n`,
      10,
      /no earlier stage/,
    ],
    ['a COPY wildcard', `${HEAD}COPY *.json ./\n${TAIL}`, 5, /wildcards/],
    ['a shell-form ENTRYPOINT', `${HEAD}${TAIL}ENTRYPOINT node main.js\n`, 10, /JSON/],
    ['a user name', `${HEAD}${TAIL}USER node\n`, 10, /numeric/],
    [
      'an undeclared variable',
      `${HEAD.replace('ARG NODE_IMAGE', 'ARG OTHER')}${TAIL}`,
      2,
      /NODE_IMAGE/,
    ],
    [
      'a build stage on another base',
      `${HEAD.replace('${NODE_IMAGE}', 'debian:bookworm')}${TAIL}`,
      2,
      /differs/,
    ],
    ['a base that is not node slim', `${HEAD}${TAIL}`.replaceAll('-slim', ''), 5, /not node:/],
    ['ENV with spaces', `${HEAD}${TAIL}ENV A="b c"\n`, 10, /ENV KEY=VALUE/],
    ['no ENTRYPOINT', `${HEAD}${TAIL}`.replace(/ENTRYPOINT.*\n/, ''), 5, /no ENTRYPOINT/],
  ])('%s', (_, text, line, message) => {
    let error: unknown;
    try {
      planDockerfile(text, 'Dockerfile');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DockerfileError);
    expect((error as DockerfileError).line).toBe(line);
    expect((error as Error).message).toMatch(message);
  });
});

describe('reading', () => {
  it('joins continued lines, skips comments inside them, resolves paths against WORKDIR', () => {
    const plan = planDockerfile(
      `${HEAD}COPY a \\\n# a comment\n  b sub/\nFROM \${NODE_IMAGE}\nWORKDIR /app\nWORKDIR data\nCOPY --from=build /src/out .\nEXPOSE 80 53/udp\nENTRYPOINT ["x"]\nCMD ["y"]\n`,
      'Dockerfile',
    );
    expect(plan.buildStages[0]?.steps[1]).toEqual({
      kind: 'copy',
      copy: { sources: ['a', 'b'], dest: '/src/sub/', line: 5 },
    });
    expect(plan.final).toMatchObject({
      workdir: '/app/data',
      exposed: ['80/tcp', '53/udp'],
      entrypoint: ['x'],
      cmd: ['y'],
    });
    expect(plan.final.copies[0]?.dest).toBe('/app/data/');
  });

  it('accepts a pinned digest on the base', () => {
    const pinned = `${HEAD}${TAIL}`.replace('-slim', `-slim@sha256:${'a'.repeat(64)}`);
    expect(planDockerfile(pinned, 'Dockerfile').final.base).toEqual({
      nodeVersion: '24.21.0',
      suite: 'bookworm',
    });
  });

  it('reads .dockerignore as Docker does: directories cover their contents, the last match wins', () => {
    const patterns = parseDockerignore(
      '# c\nhack\n!hack/build-dist.ts\ntest\n!test/apps/a\n**/node_modules\n**/*.test.ts\n',
    );
    expect(isIgnored('hack/test.sh', patterns)).toBe(true);
    expect(isIgnored('hack/build-dist.ts', patterns)).toBe(false);
    expect(isIgnored('test/apps/a/src/main.ts', patterns)).toBe(false);
    expect(isIgnored('test/apps/a/src/main.test.ts', patterns)).toBe(true);
    expect(isIgnored('test/apps/a/node_modules/x/index.js', patterns)).toBe(true);
    expect(isIgnored('test/integration/x.ts', patterns)).toBe(true);
    expect(isIgnored('node-agent/src/main.ts', patterns)).toBe(false);
  });
});

// The build itself, on a small context: stages run here, the final COPY becomes a layer, and a
// COPY of something the build stage did not make fails instead of leaving it out.
describe('build', () => {
  let dir: string;
  let mkimage: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'from-dockerfile-'));
    mkimage = join(dir, 'mkimage');
    execFileSync('go', ['build', '-o', mkimage, '.'], {
      cwd: join(REPO_ROOT, 'hack/images'),
      env: { ...process.env, GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '-mod=readonly' },
    });
    mkdirSync(join(dir, 'context/app'), { recursive: true });
    mkdirSync(join(dir, 'base/etc'), { recursive: true });
    writeFileSync(join(dir, 'context/app/main.js'), 'console.log(1)\n');
    writeFileSync(join(dir, 'context/app/main.test.js'), '');
    writeFileSync(join(dir, 'context/.dockerignore'), '**/*.test.js\n');
    writeFileSync(join(dir, 'base/etc/os-release'), 'ID=debian\n');
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string, text: string): string => {
    const dockerfile = join(dir, `${name}.Dockerfile`);
    writeFileSync(dockerfile, text);
    const work = join(dir, `work-${name}`);
    mkdirSync(work);
    const out = join(dir, `${name}.tar`);
    build({
      dockerfile,
      baseDir: join(dir, 'base'),
      mkimage,
      ref: `x.local/${name}:dev`,
      out,
      work,
      contextDir: join(dir, 'context'),
    });
    return out;
  };
  const members = (tarball: string): string[] =>
    execFileSync('tar', ['-tf', tarball], { encoding: 'utf8' }).trim().split('\n');

  it('runs the build stage and copies what it made', () => {
    const text =
      HEAD.replace(
        'RUN mkdir out\n',
        'COPY app ./\nRUN mkdir out && cp main.js out/ && ls > out/listing\n',
      ) + TAIL;
    const out = run('ok', text);
    const manifest = JSON.parse(
      execFileSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' }),
    ) as { Config: string; Layers: string[] }[];
    const config = JSON.parse(
      execFileSync('tar', ['-xOf', out, manifest[0]?.Config ?? ''], { encoding: 'utf8' }),
    ) as {
      config: { User: string; Entrypoint: string[]; WorkingDir: string; Env: string[] };
    };
    expect(config.config).toMatchObject({
      User: '65532:65532',
      Entrypoint: ['node', 'main.js'],
      WorkingDir: '/app',
    });
    expect(config.config.Env).toContain('NODE_VERSION=24.21.0');
    expect(manifest[0]?.Layers).toHaveLength(2);
    const app = execFileSync('tar', ['-xOf', out, manifest[0]?.Layers[1] ?? ''], {
      maxBuffer: 1 << 20,
    });
    const files = execFileSync('tar', ['-tz'], { input: app, encoding: 'utf8' }).trim().split('\n');
    expect(files.sort()).toEqual(['app/', 'app/listing', 'app/main.js']);
    const listing = execFileSync('tar', ['-xzO', 'app/listing'], { input: app, encoding: 'utf8' });
    // .dockerignore kept the test file out of the build stage.
    expect(listing.trim().split('\n')).toEqual(['main.js', 'out']);
    expect(members(out)).toContain('manifest.json');
  });

  it('fails when a final COPY names what the build stage did not make', () => {
    expect(() => run('missing', HEAD + TAIL.replace('/src/out', '/src/nothing'))).toThrow(
      /did not make it/,
    );
  });

  it('fails when a build-stage COPY names what .dockerignore leaves out', () => {
    expect(() =>
      run(
        'ignored',
        HEAD.replace('RUN mkdir out\n', 'COPY app/main.test.js ./\nRUN mkdir out\n') + TAIL,
      ),
    ).toThrow(/not found in the build context/);
  });

  it('fails when a RUN step fails', () => {
    expect(() => run('runfails', HEAD.replace('RUN mkdir out', 'RUN exit 3') + TAIL)).toThrow();
  });
});
