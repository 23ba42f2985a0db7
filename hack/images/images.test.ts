// The image tarballs hack/build-images.sh writes (it builds them, or reuses them from the cache):
// each is a docker-save/OCI archive that `ctr images import` takes (manifest naming the ref,
// content-addressed config and layers, diff_ids that match), with the config its image must have.
// The agent, operator and agent-app images are checked against their Dockerfiles (user,
// entrypoint, env, workdir, ports, one layer per COPY), and their entrypoints are run from the
// image's own root filesystem (a user and network namespace: no root, no network).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDockerfile } from './dockerfile.ts';
import { REPO_ROOT } from './from-dockerfile.ts';

interface ImageConfig {
  os: string;
  architecture: string;
  config: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[];
    User?: string;
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
  };
  rootfs: { type: string; diff_ids: string[] };
}

interface Image {
  ref: string;
  tarball: string;
  config: ImageConfig;
  /** Entry names of each layer, lowest first. */
  layers: string[][];
}

const built = new Map<string, { ref: string; tarball: string }>();
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const member = (tarball: string, name: string): Buffer =>
  execFileSync('tar', ['-xOf', tarball, name], { maxBuffer: 1 << 30 });

function readImage(name: string): Image {
  const { ref, tarball } = built.get(name) ?? { ref: '', tarball: '' };
  const manifest = JSON.parse(member(tarball, 'manifest.json').toString()) as {
    Config: string;
    RepoTags: string[];
    Layers: string[];
  }[];
  expect(manifest).toHaveLength(1);
  const [entry] = manifest as [(typeof manifest)[number]];
  expect(entry.RepoTags).toEqual([ref]);
  const rawConfig = member(tarball, entry.Config);
  expect(entry.Config).toBe(`sha256:${sha256(rawConfig)}`);
  const config = JSON.parse(rawConfig.toString()) as ImageConfig;
  expect([config.os, config.architecture, config.rootfs.type]).toEqual([
    'linux',
    'amd64',
    'layers',
  ]);
  expect(config.rootfs.diff_ids).toHaveLength(entry.Layers.length);
  const layers = entry.Layers.map((file, i) => {
    const compressed = member(tarball, file);
    expect(file).toBe(`${sha256(compressed)}.tar.gz`);
    const raw = gunzipSync(compressed);
    expect(config.rootfs.diff_ids[i]).toBe(`sha256:${sha256(raw)}`);
    return execFileSync('tar', ['-t'], { input: raw, encoding: 'utf8', maxBuffer: 1 << 26 })
      .trim()
      .split('\n');
  });
  return { ref, tarball, config, layers };
}

beforeAll(async () => {
  const { stdout } = await new Promise<{ stdout: string }>((done, fail) => {
    execFile(
      'bash',
      [join(REPO_ROOT, 'hack/build-images.sh')],
      { maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`hack/build-images.sh failed:\n${stderr.slice(-4000)}`));
        else done({ stdout });
      },
    );
  });
  for (const line of stdout.trim().split('\n')) {
    const [name, ref, tarball] = line.split(' ');
    built.set(name ?? '', { ref: ref ?? '', tarball: tarball ?? '' });
  }
}, 3_600_000);

it('builds every image of the contract, each under its ref', () => {
  expect(Object.fromEntries([...built].map(([n, b]) => [n, b.ref]))).toEqual({
    pause: 'agentmeter.local/pause:3.10',
    busybox: 'agentmeter.local/busybox:dev',
    coredns: 'agentmeter.local/coredns:v1.15.0',
    'node-agent': 'agentmeter.local/node-agent:dev',
    operator: 'agentmeter.local/operator:dev',
    'agent-app': 'agentmeter.local/agent-app:dev',
  });
  for (const { tarball } of built.values()) expect(statSync(tarball).isFile()).toBe(true);
});

it('pause: a static /pause as user 65535', () => {
  const image = readImage('pause');
  expect(image.config.config).toMatchObject({ Entrypoint: ['/pause'], User: '65535:65535' });
  expect(image.layers).toEqual([['pause']]);
});

it('busybox: sh with the applets as links', () => {
  const image = readImage('busybox');
  expect(image.config.config.Cmd).toEqual(['sh']);
  expect(image.config.config.Env?.some((e) => e.startsWith('PATH=/'))).toBe(true);
  expect(image.layers[0]).toEqual(
    expect.arrayContaining(['bin/busybox', 'bin/sh', 'usr/bin/nc', 'tmp/', 'etc/passwd']),
  );
});

it('coredns: the binary alone, on port 53', () => {
  const image = readImage('coredns');
  expect(image.config.config.Entrypoint).toEqual(['/coredns']);
  expect(Object.keys(image.config.config.ExposedPorts ?? {}).sort()).toEqual(['53/tcp', '53/udp']);
  expect(image.layers).toEqual([['coredns']]);
});

describe.each([
  { name: 'node-agent', dockerfile: 'node-agent/Dockerfile', args: ['--help'] },
  { name: 'operator', dockerfile: 'operator/Dockerfile', args: ['--help'] },
  { name: 'agent-app', dockerfile: 'test/apps/agent-app/Dockerfile', args: [] },
])('$name: what $dockerfile says', ({ name, dockerfile, args }) => {
  const plan = planDockerfile(readFileSync(join(REPO_ROOT, dockerfile), 'utf8'), dockerfile);
  let image: Image;
  let root: string;
  beforeAll(() => {
    image = readImage(name);
    root = mkdtempSync(join(tmpdir(), `image-${name}-`));
    const manifest = JSON.parse(member(image.tarball, 'manifest.json').toString()) as {
      Layers: string[];
    }[];
    for (const layer of manifest[0]?.Layers ?? []) {
      execFileSync('tar', ['-xz', '-C', root], {
        input: member(image.tarball, layer),
        maxBuffer: 1 << 30,
      });
    }
  }, 300_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('has the Dockerfile final stage config', () => {
    const { config } = image.config;
    expect(config.Entrypoint).toEqual(plan.final.entrypoint);
    // An ENTRYPOINT set without a CMD drops the base image's CMD.
    expect(config.Cmd ?? undefined).toEqual(plan.final.cmd);
    expect(config.User).toBe(plan.final.user);
    expect(config.WorkingDir).toBe(plan.final.workdir);
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual([...plan.final.exposed].sort());
    expect(config.Env).toEqual(
      expect.arrayContaining([
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        `NODE_VERSION=${plan.final.base.nodeVersion}`,
        ...plan.final.env.map(([k, v]) => `${k}=${v}`),
      ]),
    );
  });

  it('is the base plus one layer per final-stage COPY, each under its destination', () => {
    expect(image.layers).toHaveLength(1 + plan.final.copies.length);
    expect(image.layers[0]).toEqual(
      expect.arrayContaining(['usr/local/bin/node', 'etc/passwd', 'bin', 'tmp/']),
    );
    plan.final.copies.forEach((copy, i) => {
      const files = (image.layers[i + 1] ?? []).filter((f) => !f.endsWith('/'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(`/${f}`.startsWith(copy.dest)).toBe(true);
    });
    const script = plan.final.entrypoint.at(-1) ?? '';
    expect(image.layers.at(-1)).toContain(join(plan.final.workdir, script).slice(1));
  });

  it('runs its entrypoint from its own root filesystem', { timeout: 60_000 }, async () => {
    const env = Object.fromEntries(
      (image.config.config.Env ?? []).map((e) => [
        e.slice(0, e.indexOf('=')),
        e.slice(e.indexOf('=') + 1),
      ]),
    );
    const child = spawn(
      'unshare',
      [
        '--user',
        '--map-root-user',
        '--net',
        'chroot',
        root,
        '/bin/sh',
        '-c',
        'cd "$0" && exec "$@"',
        plan.final.workdir,
        ...plan.final.entrypoint,
        ...args,
      ],
      { env: { ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
      // agent-app serves until stopped: once it listens, stop it as the kubelet would.
      if (args.length === 0 && output.includes('"msg":"listening"')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    expect(code, output).toBe(0);
    expect(output).toMatch(args.length === 0 ? /spans flushed/ : /usage/i);
  });
});
