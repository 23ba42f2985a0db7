import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { KubeConfigError, SERVICE_ACCOUNT_DIR } from './kubeconfig-source.ts';
import type { LoadKubeConfigOptions } from './kubeconfig-source.ts';
import { loadRestConfig, tokenFromFile } from './rest-config.ts';

const root = mkdtempSync(join(tmpdir(), 'rest-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  vi.useRealTimers();
});

let seq = 0;
/** A fresh directory under the suite's temp root. */
function freshDir(): string {
  const dir = join(root, `d${++seq}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function write(dir: string, name: string, content: string | object): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

interface Doc {
  clusters?: unknown;
  users?: unknown;
  contexts?: unknown;
  'current-context'?: unknown;
}

/** A one-context kubeconfig (JSON is YAML) with the given cluster and user fields. */
function single(
  cluster: Record<string, unknown>,
  /** null: the context names no user. */
  user: Record<string, unknown> | null = { token: 't' },
  name = 'test',
): Doc {
  return {
    clusters: [{ name, cluster }],
    ...(user === null ? {} : { users: [{ name, user }] }),
    contexts: [{ name, context: { cluster: name, ...(user === null ? {} : { user: name }) } }],
    'current-context': name,
  };
}

function kubeconfig(doc: Doc | string, dir = freshDir(), name = 'config'): string {
  return write(dir, name, doc);
}

/** A service account directory under a prefix, as kubelet mounts it. */
function serviceAccount(files: Record<string, string> = { token: 'sa-token\n', 'ca.crt': 'CA' }) {
  const prefix = freshDir();
  const dir = join(prefix, SERVICE_ACCOUNT_DIR);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return { prefix, dir };
}

async function refused(options: LoadKubeConfigOptions): Promise<KubeConfigError> {
  const err: unknown = await loadRestConfig(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KubeConfigError);
  return err as KubeConfigError;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('loadRestConfig: choosing the source', () => {
  const a = kubeconfig(single({ server: 'https://a.example:6443' }));
  const b = kubeconfig(single({ server: 'https://b.example:6443' }));
  const sa = serviceAccount();
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443' };

  it('prefers the explicit path over KUBECONFIG and the service account', async () => {
    const config = await loadRestConfig({
      kubeconfig: b,
      env: { KUBECONFIG: a, ...inCluster },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.server).toBe('https://b.example:6443');
  });

  it('prefers KUBECONFIG over the service account', async () => {
    const config = await loadRestConfig({
      env: { KUBECONFIG: a, ...inCluster },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.server).toBe('https://a.example:6443');
  });

  it('falls back to the service account', async () => {
    const config = await loadRestConfig({ env: inCluster, serviceAccountPrefix: sa.prefix });
    expect(config.server).toBe('https://10.0.0.1:6443');
  });

  it('refuses when nothing is configured', async () => {
    const err = await refused({ env: {} });
    expect(err.message).toMatch(/no Kubernetes configuration/);
  });

  it('refuses a KUBECONFIG that names no file', async () => {
    const err = await refused({ env: { KUBECONFIG: `${delimiter}${delimiter}` } });
    expect(err.message).toMatch(/KUBECONFIG is set but names no file/);
  });
});

describe('loadRestConfig: in-cluster', () => {
  it('reads the token and CA of the service account', async () => {
    const sa = serviceAccount({ token: '  sa-token\n', 'ca.crt': 'CA PEM', namespace: 'ns' });
    const config = await loadRestConfig({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.server).toBe('https://10.96.0.1:443');
    expect(config.token()).toBe('sa-token');
    expect(config.tls.ca?.toString()).toBe('CA PEM');
    expect(config.tls.rejectUnauthorized).toBe(true);
    expect(config.tls.cert).toBeUndefined();
    expect(config.tls.key).toBeUndefined();
  });

  it('brackets an IPv6 service host', async () => {
    const sa = serviceAccount();
    const config = await loadRestConfig({
      env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '6443' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.server).toBe('https://[fd00:10:96::1]:6443');
    expect(() => new URL(config.server)).not.toThrow();
    expect(new URL(config.server).hostname).toBe('[fd00:10:96::1]');
  });

  it('defaults the port to 443', async () => {
    const sa = serviceAccount();
    const config = await loadRestConfig({
      env: { KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.server).toBe('https://kubernetes.default.svc:443');
  });

  it('refuses a missing token with a hint about automounting', async () => {
    const sa = serviceAccount({ 'ca.crt': 'CA' });
    const err = await refused({
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(err.message).toMatch(/service account token .*token is not readable/);
    expect(err.message).toMatch(/automountServiceAccountToken/);
  });

  it('refuses a missing CA', async () => {
    const sa = serviceAccount({ token: 't' });
    const err = await refused({
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(err.message).toMatch(/cannot read in-cluster CA .*ca\.crt/);
  });

  it('re-reads the rotated token after a minute', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const sa = serviceAccount({ token: 'first', 'ca.crt': 'CA' });
    const config = await loadRestConfig({
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      serviceAccountPrefix: sa.prefix,
    });
    expect(config.token()).toBe('first');
    writeFileSync(join(sa.dir, 'token'), 'second');
    vi.setSystemTime(1_000_000 + 59_999);
    expect(config.token()).toBe('first');
    vi.setSystemTime(1_000_000 + 60_000);
    expect(config.token()).toBe('second');
  });
});

describe('loadRestConfig: KUBECONFIG merge', () => {
  it('takes the first current-context and merges names first-wins', async () => {
    const dir = freshDir();
    const first = kubeconfig(
      {
        clusters: [{ name: 'shared', cluster: { server: 'https://first.example' } }],
        users: [{ name: 'u', user: { token: 'first-token' } }],
        contexts: [{ name: 'ctx', context: { cluster: 'shared', user: 'u' } }],
        'current-context': 'ctx',
      },
      dir,
      'first',
    );
    const second = kubeconfig(
      {
        clusters: [{ name: 'shared', cluster: { server: 'https://second.example' } }],
        users: [{ name: 'u', user: { token: 'second-token' } }],
        contexts: [{ name: 'ctx', context: { cluster: 'other', user: 'other' } }],
        'current-context': 'second-ctx',
      },
      dir,
      'second',
    );
    const config = await loadRestConfig({ env: { KUBECONFIG: [first, second].join(delimiter) } });
    expect(config.server).toBe('https://first.example');
    expect(config.token()).toBe('first-token');
  });

  it('takes current-context from a later file when the first sets none', async () => {
    const dir = freshDir();
    const first = kubeconfig(
      {
        clusters: [{ name: 'c1', cluster: { server: 'https://one.example' } }],
        contexts: [{ name: 'ctx1', context: { cluster: 'c1' } }],
        'current-context': '',
      },
      dir,
      'first',
    );
    const second = kubeconfig(
      {
        clusters: [{ name: 'c2', cluster: { server: 'https://two.example' } }],
        contexts: [{ name: 'ctx2', context: { cluster: 'c2' } }],
        'current-context': 'ctx1',
      },
      dir,
      'second',
    );
    // The second file's current-context names a context of the first file.
    const config = await loadRestConfig({ env: { KUBECONFIG: [first, second].join(delimiter) } });
    expect(config.server).toBe('https://one.example');
    expect(config.token()).toBeUndefined();
  });

  it('assembles a context from clusters and users of different files', async () => {
    const clusterDir = freshDir();
    const userDir = freshDir();
    write(clusterDir, 'pki/ca.crt', 'CLUSTER CA');
    write(userDir, 'creds/client.crt', 'CLIENT CERT');
    write(userDir, 'creds/client.key', 'CLIENT KEY');
    write(userDir, 'creds/token', 'file-token\n');
    const contexts = kubeconfig(
      {
        contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'ctx',
      },
      freshDir(),
    );
    const clusters = kubeconfig(
      {
        clusters: [
          {
            name: 'c',
            cluster: { server: 'https://c.example', 'certificate-authority': 'pki/ca.crt' },
          },
        ],
      },
      clusterDir,
    );
    const users = kubeconfig(
      {
        users: [
          {
            name: 'u',
            user: {
              'client-certificate': 'creds/client.crt',
              'client-key': 'creds/client.key',
              tokenFile: 'creds/token',
            },
          },
        ],
      },
      userDir,
    );
    const config = await loadRestConfig({
      env: { KUBECONFIG: ['', contexts, clusters, '', users].join(delimiter) },
    });
    expect(config.server).toBe('https://c.example');
    // Relative paths resolve against the file that names them, not the first file or the cwd.
    expect(config.tls.ca?.toString()).toBe('CLUSTER CA');
    expect(config.tls.cert?.toString()).toBe('CLIENT CERT');
    expect(config.tls.key?.toString()).toBe('CLIENT KEY');
    expect(config.token()).toBe('file-token');
  });

  it('tolerates files without some of the lists', async () => {
    const config = await loadRestConfig({
      env: {
        KUBECONFIG: [
          kubeconfig('apiVersion: v1\nkind: Config\nclusters: null\n'),
          kubeconfig(single({ server: 'http://plain.example:8080' })),
        ].join(delimiter),
      },
    });
    expect(config.server).toBe('http://plain.example:8080');
  });

  it('names KUBECONFIG in the error for a missing file', async () => {
    const good = kubeconfig(single({ server: 'https://a.example' }));
    const missing = join(freshDir(), 'missing');
    const err = await refused({ env: { KUBECONFIG: [good, missing].join(delimiter) } });
    expect(err.message).toMatch(/^KUBECONFIG: cannot load kubeconfig .*missing/);
  });
});

describe('loadRestConfig: credentials and TLS', () => {
  it('reads YAML, strips trailing slashes and keeps a path prefix', async () => {
    const file = kubeconfig(
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: c',
        '  cluster:',
        '    server: https://proxy.example:8443/k8s/clusters/c-1//',
        'users:',
        '- name: u',
        '  user:',
        '    token: yaml-token',
        'contexts:',
        '- name: ctx',
        '  context: {cluster: c, user: u}',
        'current-context: ctx',
      ].join('\n'),
    );
    const config = await loadRestConfig({ kubeconfig: file, env: {} });
    expect(config.server).toBe('https://proxy.example:8443/k8s/clusters/c-1');
    expect(config.token()).toBe('yaml-token');
    expect(config.tls).toEqual({ rejectUnauthorized: true });
  });

  it('returns a static token', async () => {
    const config = await loadRestConfig({
      kubeconfig: kubeconfig(single({ server: 'https://a' }, { token: 'static' })),
      env: {},
    });
    expect(config.token()).toBe('static');
    expect(config.token()).toBe('static');
  });

  it('re-reads a tokenFile once it is a minute old', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(5_000_000);
    const dir = freshDir();
    const tokenFile = write(dir, 'token', 'one\n');
    const config = await loadRestConfig({
      kubeconfig: kubeconfig(single({ server: 'https://a' }, { tokenFile: 'token' }), dir),
      env: {},
    });
    expect(config.token()).toBe('one');
    writeFileSync(tokenFile, 'two');
    expect(config.token()).toBe('one');
    vi.setSystemTime(5_000_000 + 60_000);
    expect(config.token()).toBe('two');
  });

  it('refuses an unreadable tokenFile at load time', async () => {
    const err = await refused({
      kubeconfig: kubeconfig(single({ server: 'https://a' }, { tokenFile: '/nonexistent/token' })),
      env: {},
    });
    expect(err.message).toMatch(/cannot read token file \/nonexistent\/token/);
  });

  it('sends no token for a user without credentials or a context without a user', async () => {
    for (const user of [{}, null]) {
      const config = await loadRestConfig({
        kubeconfig: kubeconfig(single({ server: 'https://a' }, user)),
        env: {},
      });
      expect(config.token()).toBeUndefined();
      expect(config.tls).toEqual({ rejectUnauthorized: true });
    }
  });

  it('decodes certificate and key data', async () => {
    const config = await loadRestConfig({
      kubeconfig: kubeconfig(
        single(
          { server: 'https://a', 'certificate-authority-data': b64('CA DATA') },
          { 'client-certificate-data': b64('CERT DATA'), 'client-key-data': b64('KEY DATA') },
        ),
      ),
      env: {},
    });
    expect(config.tls.ca?.toString()).toBe('CA DATA');
    expect(config.tls.cert?.toString()).toBe('CERT DATA');
    expect(config.tls.key?.toString()).toBe('KEY DATA');
    expect(config.token()).toBeUndefined();
  });

  it('prefers -data over a path', async () => {
    const config = await loadRestConfig({
      kubeconfig: kubeconfig(
        single(
          {
            server: 'https://a',
            'certificate-authority': '/nonexistent/ca.crt',
            'certificate-authority-data': b64('CA DATA'),
          },
          {
            'client-certificate': '/nonexistent/c.crt',
            'client-certificate-data': b64('CERT DATA'),
            'client-key': '/nonexistent/c.key',
            'client-key-data': b64('KEY DATA'),
          },
        ),
      ),
      env: {},
    });
    expect(config.tls.ca?.toString()).toBe('CA DATA');
    expect(config.tls.cert?.toString()).toBe('CERT DATA');
    expect(config.tls.key?.toString()).toBe('KEY DATA');
  });

  it('reads certificate files by absolute and relative path', async () => {
    const dir = freshDir();
    const ca = write(freshDir(), 'ca.crt', 'CA FILE');
    write(dir, 'sub/c.crt', 'CERT FILE');
    write(dir, 'sub/c.key', 'KEY FILE');
    const config = await loadRestConfig({
      kubeconfig: kubeconfig(
        single(
          { server: 'https://a', 'certificate-authority': ca },
          { 'client-certificate': 'sub/c.crt', 'client-key': './sub/c.key' },
        ),
        dir,
      ),
      env: {},
    });
    expect(config.tls.ca?.toString()).toBe('CA FILE');
    expect(config.tls.cert?.toString()).toBe('CERT FILE');
    expect(config.tls.key?.toString()).toBe('KEY FILE');
  });

  it('honours insecure-skip-tls-verify and tls-server-name', async () => {
    const insecure = await loadRestConfig({
      kubeconfig: kubeconfig(single({ server: 'https://a', 'insecure-skip-tls-verify': true })),
      env: {},
    });
    expect(insecure.tls.rejectUnauthorized).toBe(false);
    const named = await loadRestConfig({
      kubeconfig: kubeconfig(single({ server: 'https://10.0.0.1', 'tls-server-name': 'kube' })),
      env: {},
    });
    expect(named.tls).toEqual({ rejectUnauthorized: true, servername: 'kube' });
    // Only a YAML boolean true turns verification off.
    const stringly = await loadRestConfig({
      kubeconfig: kubeconfig(single({ server: 'https://a', 'insecure-skip-tls-verify': 'false' })),
      env: {},
    });
    expect(stringly.tls.rejectUnauthorized).toBe(true);
  });
});

describe('loadRestConfig: refusals', () => {
  const cases: [string, () => LoadKubeConfigOptions, RegExp][] = [
    [
      'a missing --kubeconfig file',
      () => ({ kubeconfig: join(freshDir(), 'missing.yaml'), env: {} }),
      /^--kubeconfig: cannot load kubeconfig .*missing\.yaml: ENOENT/,
    ],
    [
      'a file that is not YAML',
      () => ({ kubeconfig: kubeconfig('clusters: [unclosed\n  - x: {'), env: {} }),
      /^--kubeconfig: cannot load kubeconfig .*config: /,
    ],
    [
      'a document that is not a mapping',
      () => ({ kubeconfig: kubeconfig('- a\n- b\n'), env: {} }),
      /config: expected a mapping/,
    ],
    [
      'clusters that are not a list',
      () => ({ kubeconfig: kubeconfig({ clusters: { c: {} } }), env: {} }),
      /config: clusters must be a list/,
    ],
    [
      'a cluster without a name',
      () => ({ kubeconfig: kubeconfig({ clusters: [{ cluster: {} }] }), env: {} }),
      /config: a cluster has no name/,
    ],
    [
      'no current-context',
      () => {
        const doc = single({ server: 'https://a' });
        delete doc['current-context'];
        return { kubeconfig: kubeconfig(doc), env: {} };
      },
      /^--kubeconfig: kubeconfig has no current-context$/,
    ],
    [
      'a current-context that does not exist',
      () => ({
        kubeconfig: kubeconfig({ ...single({ server: 'https://a' }), 'current-context': 'nope' }),
        env: {},
      }),
      /no cluster for its current context "nope"/,
    ],
    [
      'a context without a cluster',
      () => ({
        kubeconfig: kubeconfig({
          contexts: [{ name: 'ctx', context: { user: 'u' } }],
          'current-context': 'ctx',
        }),
        env: {},
      }),
      /^--kubeconfig: kubeconfig has no cluster for its current context "ctx"$/,
    ],
    [
      'a context naming an unknown cluster',
      () => ({
        kubeconfig: kubeconfig({
          clusters: [{ name: 'c', cluster: { server: 'https://a' } }],
          contexts: [{ name: 'ctx', context: { cluster: 'typo' } }],
          'current-context': 'ctx',
        }),
        env: {},
      }),
      /no cluster for its current context "ctx"/,
    ],
    [
      'a context naming an unknown user',
      () => ({
        kubeconfig: kubeconfig({
          clusters: [{ name: 'c', cluster: { server: 'https://a' } }],
          contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'typo' } }],
          'current-context': 'ctx',
        }),
        env: {},
      }),
      /user "typo" of context "ctx" is not defined/,
    ],
    [
      'a cluster without a server',
      () => ({ kubeconfig: kubeconfig(single({})), env: {} }),
      /^--kubeconfig: cluster "test" has no http\(s\) server$/,
    ],
    [
      'a server that is not http(s)',
      () => ({ kubeconfig: kubeconfig(single({ server: 'unix:///run/k8s.sock' })), env: {} }),
      /cluster "test" has no http\(s\) server/,
    ],
    [
      'a server without a scheme',
      () => ({ kubeconfig: kubeconfig(single({ server: 'a.example:6443' })), env: {} }),
      /cluster "test" has no http\(s\) server/,
    ],
    [
      'an exec user',
      () => ({
        kubeconfig: kubeconfig(
          single(
            { server: 'https://a' },
            { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } },
          ),
        ),
        env: {},
      }),
      /user "test" uses exec, which the agent does not support; use a token, a token file or a client certificate/,
    ],
    [
      'an auth-provider user',
      () => ({
        kubeconfig: kubeconfig(
          single({ server: 'https://a' }, { 'auth-provider': { name: 'oidc' } }),
        ),
        env: {},
      }),
      /user "test" uses auth-provider, which the agent does not support/,
    ],
    [
      'a basic-auth user',
      () => ({
        kubeconfig: kubeconfig(
          single({ server: 'https://a' }, { username: 'admin', password: 'secret' }),
        ),
        env: {},
      }),
      /user "test" uses username, which the agent does not support/,
    ],
    [
      'a client certificate without a key',
      () => ({
        kubeconfig: kubeconfig(
          single({ server: 'https://a' }, { 'client-certificate-data': b64('CERT') }),
        ),
        env: {},
      }),
      /config: a client certificate needs both a cert and a key/,
    ],
    [
      'a client key without a certificate',
      () => ({
        kubeconfig: kubeconfig(single({ server: 'https://a' }, { 'client-key-data': b64('KEY') })),
        env: {},
      }),
      /a client certificate needs both a cert and a key/,
    ],
    [
      'an unreadable CA file',
      () => ({
        kubeconfig: kubeconfig(single({ server: 'https://a', 'certificate-authority': 'ca.crt' })),
        env: {},
      }),
      /^cannot read cluster CA .*ca\.crt: ENOENT/,
    ],
    [
      'an unreadable client key file',
      () => ({
        kubeconfig: kubeconfig(
          single(
            { server: 'https://a' },
            { 'client-certificate-data': b64('CERT'), 'client-key': '/nonexistent/key' },
          ),
        ),
        env: {},
      }),
      /^cannot read client key \/nonexistent\/key: ENOENT/,
    ],
  ];

  it.each(cases)('refuses %s', async (_name, options, message) => {
    const err = await refused(options());
    expect(err.message).toMatch(message);
  });
});

describe('tokenFromFile', () => {
  function clock(start = 0) {
    let t = start;
    return {
      now: () => t,
      advance: (ms: number) => {
        t += ms;
      },
    };
  }

  it('reads lazily, trims, and caches for a minute', () => {
    const file = write(freshDir(), 'token', '\n  abc \n');
    const c = clock(1_000);
    const token = tokenFromFile(file, c.now);
    writeFileSync(file, 'def');
    // Nothing was read before the first call.
    expect(token()).toBe('def');
    writeFileSync(file, 'ghi');
    c.advance(59_999);
    expect(token()).toBe('def');
    c.advance(1);
    expect(token()).toBe('ghi');
    writeFileSync(file, 'jkl');
    c.advance(30_000);
    expect(token()).toBe('ghi');
    c.advance(30_000);
    expect(token()).toBe('jkl');
  });

  it('keeps the last token when a re-read fails, and recovers', () => {
    const file = write(freshDir(), 'token', 'good');
    const c = clock();
    const token = tokenFromFile(file, c.now);
    expect(token()).toBe('good');
    unlinkSync(file);
    c.advance(60_000);
    expect(token()).toBe('good');
    c.advance(60_000);
    expect(token()).toBe('good');
    writeFileSync(file, 'rotated');
    // The failed read did not count as a read: the next call tries again.
    expect(token()).toBe('rotated');
  });

  it('throws a KubeConfigError when the first read fails', () => {
    const file = join(freshDir(), 'absent');
    const token = tokenFromFile(file, () => 0);
    expect(() => token()).toThrow(KubeConfigError);
    expect(() => token()).toThrow(/cannot read token file .*absent: ENOENT/);
    writeFileSync(file, 'late');
    expect(token()).toBe('late');
  });
});
