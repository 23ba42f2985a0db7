/** A cgroup, proc or sysfs file whose contents do not have the documented format. */
export class CgroupParseError extends Error {
  override readonly name = 'CgroupParseError';
  readonly file: string;
  /** 1-based line number; 0 when the problem is the file as a whole (e.g. empty). */
  readonly line: number;
  readonly reason: string;

  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/** What a failed read was for; a bounded set so callers can use it as a metric label. */
export type CgroupResource = 'cpu' | 'memory' | 'io' | 'net' | 'pids' | 'identity' | 'discovery';

/**
 * Bounded failure class, usable as a metric label:
 * - `missing`: file or directory absent (cgroup removed, controller not mounted or not enabled)
 * - `unreadable`: permission denied
 * - `not-a-directory`: a path component is a file where a directory was expected (or vice versa)
 * - `parse`: contents are garbage ({@link CgroupParseError} in `cause`)
 * - `io`: any other errno
 */
export type CgroupReadErrorCode = 'missing' | 'unreadable' | 'not-a-directory' | 'parse' | 'io';

/** A per-resource read failure. Returned in lists, never thrown from the readers. */
export class CgroupReadError extends Error {
  override readonly name = 'CgroupReadError';
  readonly resource: CgroupResource;
  readonly code: CgroupReadErrorCode;
  readonly path: string;

  constructor(resource: CgroupResource, code: CgroupReadErrorCode, path: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    // errno and parse messages usually name the path already.
    super(`${resource}: ${code}: ${detail.includes(path) ? detail : `${path}: ${detail}`}`, {
      cause,
    });
    this.resource = resource;
    this.code = code;
    this.path = path;
  }
}

/** Thrown by layout detection when no usable cgroup hierarchy is mounted. */
export class CgroupLayoutError extends Error {
  override readonly name = 'CgroupLayoutError';
  readonly mountinfoPath: string;

  constructor(mountinfoPath: string, reason: string, options?: ErrorOptions) {
    super(`${mountinfoPath}: ${reason}`, options);
    this.mountinfoPath = mountinfoPath;
  }
}

/** Maps a filesystem or parse failure to its bounded code. */
export function classifyError(err: unknown): CgroupReadErrorCode {
  if (err instanceof CgroupParseError) return 'parse';
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ESRCH':
      return 'missing';
    case 'EACCES':
    case 'EPERM':
      return 'unreadable';
    case 'ENOTDIR':
    case 'EISDIR':
      return 'not-a-directory';
    default:
      return 'io';
  }
}

export function toReadError(resource: CgroupResource, path: string, err: unknown): CgroupReadError {
  return new CgroupReadError(resource, classifyError(err), path, err);
}

/** A controller (or the cgroup2 mount) that the layout does not have. */
export function controllerMissing(resource: CgroupResource, controller: string): CgroupReadError {
  return new CgroupReadError(
    resource,
    'missing',
    controller,
    new Error(`${controller} controller not mounted`),
  );
}
