// Connection settings for RestClient: the server, its TLS trust, and the credentials, read from a
// kubeconfig file or the in-cluster service account. Covers what a DaemonSet and a test control
// plane use (bearer tokens, token files, client certificates); exec plugins and auth providers
// are refused with a clear error rather than half-supported.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import {
  KubeConfigError,
  chooseKubeConfigSource,
  type LoadKubeConfigOptions,
} from './kubeconfig-source.ts';

export interface RestTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

export interface RestConfig {
  /** Scheme, host and port, plus any path prefix (a proxy in front of the apiserver). */
  readonly server: string;
  readonly tls: RestTls;
  /** Returns the bearer token to send now, or undefined for none (client certificates). */
  readonly token: () => string | undefined;
}

/** How often a token file is read again: kubelet rotates projected tokens well before expiry,
 * and client-go re-reads on the same one-minute period. */
const TOKEN_FILE_REFRESH_MS = 60_000;

/** A bearer token read from a file and re-read once it is a minute old. */
export function tokenFromFile(file: string, now: () => number = Date.now): () => string {
  let value = '';
  let readAt = -Infinity;
  return () => {
    if (now() - readAt >= TOKEN_FILE_REFRESH_MS) {
      try {
        value = readFileSync(file, 'utf8').trim();
        readAt = now();
      } catch (err) {
        // A failed re-read keeps the last token: it is usually still valid for a while.
        if (value === '') {
          throw new KubeConfigError(`cannot read token file ${file}: ${(err as Error).message}`, {
            cause: err,
          });
        }
      }
    }
    return value;
  };
}

export async function loadRestConfig(options: LoadKubeConfigOptions = {}): Promise<RestConfig> {
  const source = chooseKubeConfigSource(options);
  if (source.kind === 'in-cluster') {
    const host = source.host.includes(':') ? `[${source.host}]` : source.host;
    const token = tokenFromFile(join(source.dir, 'token'));
    token();
    return {
      server: `https://${host}:${source.port}`,
      tls: { ca: readPem(join(source.dir, 'ca.crt'), 'in-cluster CA'), rejectUnauthorized: true },
      token,
    };
  }
  const texts = source.files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (err) {
      throw new KubeConfigError(
        `${source.origin}: cannot load kubeconfig ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  });
  // The YAML parser is loaded only for a YAML file: in a pod the agent reads no kubeconfig, and
  // a JSON one (kubectl reads either) is plain JSON. yaml is CommonJS; `default` is its exports
  // object both in Node and in a bundle's lazy chunk.
  const parse = texts.every(({ text }) => text.trimStart().startsWith('{'))
    ? (text: string): unknown => JSON.parse(text)
    : (await import('yaml')).default.parse;
  const files = texts.map(({ file, text }) => {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new KubeConfigError(
        `${source.origin}: cannot load kubeconfig ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return { file, doc: asRecord(doc, `${file}`) };
  });
  return fromKubeconfig(files, source.origin);
}

interface Named {
  readonly name: string;
  readonly file: string;
  readonly value: Record<string, unknown>;
}

/** kubectl's merge: the first file to name a cluster, user or context wins, and so does the
 * first current-context. */
function fromKubeconfig(
  files: readonly { file: string; doc: Record<string, unknown> }[],
  origin: string,
): RestConfig {
  const clusters = new Map<string, Named>();
  const users = new Map<string, Named>();
  const contexts = new Map<string, Named>();
  let current: string | undefined;
  for (const { file, doc } of files) {
    collect(doc.clusters, 'cluster', file, clusters);
    collect(doc.users, 'user', file, users);
    collect(doc.contexts, 'context', file, contexts);
    if (
      current === undefined &&
      typeof doc['current-context'] === 'string' &&
      doc['current-context']
    )
      current = doc['current-context'];
  }
  if (current === undefined)
    throw new KubeConfigError(`${origin}: kubeconfig has no current-context`);
  const context = contexts.get(current);
  const clusterName = context?.value.cluster;
  const cluster = typeof clusterName === 'string' ? clusters.get(clusterName) : undefined;
  if (context === undefined || cluster === undefined) {
    throw new KubeConfigError(
      `${origin}: kubeconfig has no cluster for its current context "${current}"`,
    );
  }
  const server = cluster.value.server;
  if (typeof server !== 'string' || !/^https?:\/\//.test(server)) {
    throw new KubeConfigError(`${origin}: cluster "${String(clusterName)}" has no http(s) server`);
  }
  const userName = context.value.user;
  const user = typeof userName === 'string' ? users.get(userName) : undefined;
  // A misspelt user would otherwise mean running anonymously and failing later with 401s.
  if (typeof userName === 'string' && userName !== '' && user === undefined) {
    throw new KubeConfigError(
      `${origin}: user "${userName}" of context "${current}" is not defined`,
    );
  }
  return {
    server: server.replace(/\/+$/, ''),
    tls: clusterTls(cluster, user),
    token: userToken(user),
  };
}

function collect(list: unknown, field: string, file: string, into: Map<string, Named>): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new KubeConfigError(`${file}: ${field}s must be a list`);
  for (const item of list) {
    const entry = asRecord(item, `${file}: ${field}s[]`);
    const name = entry.name;
    if (typeof name !== 'string') throw new KubeConfigError(`${file}: a ${field} has no name`);
    if (!into.has(name)) {
      into.set(name, {
        name,
        file,
        value: asRecord(entry[field] ?? {}, `${file}: ${field} "${name}"`),
      });
    }
  }
}

function clusterTls(cluster: Named, user: Named | undefined): RestTls {
  const c = cluster.value;
  const ca = material(cluster, 'certificate-authority', 'cluster CA');
  const cert = user === undefined ? undefined : material(user, 'client-certificate', 'client cert');
  const key = user === undefined ? undefined : material(user, 'client-key', 'client key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeConfigError(`${user?.file}: a client certificate needs both a cert and a key`);
  }
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
    ...(typeof c['tls-server-name'] === 'string' ? { servername: c['tls-server-name'] } : {}),
  };
}

function userToken(user: Named | undefined): () => string | undefined {
  if (user === undefined) return () => undefined;
  const u = user.value;
  for (const unsupported of ['exec', 'auth-provider', 'username']) {
    if (u[unsupported] !== undefined) {
      throw new KubeConfigError(
        `${user.file}: user "${user.name}" uses ${unsupported}, which the agent does not support; ` +
          'use a token, a token file or a client certificate',
      );
    }
  }
  // As in client-go, a token file wins over a literal token: the file is what gets rotated.
  if (typeof u.tokenFile === 'string' && u.tokenFile !== '') {
    const read = tokenFromFile(relativeTo(user.file, u.tokenFile));
    read();
    return read;
  }
  if (typeof u.token === 'string' && u.token !== '') {
    const token = u.token;
    return () => token;
  }
  return () => undefined;
}

/** `<field>-data` (base64) or `<field>` (a path relative to the kubeconfig file). */
function material(named: Named, field: string, what: string): Buffer | undefined {
  const data = named.value[`${field}-data`];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const path = named.value[field];
  if (typeof path === 'string' && path !== '') return readPem(relativeTo(named.file, path), what);
  return undefined;
}

function relativeTo(kubeconfig: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(kubeconfig), path);
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KubeConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KubeConfigError(`${where}: expected a mapping`);
  }
  return value as Record<string, unknown>;
}
