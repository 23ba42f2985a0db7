// Suites that make real cgroups, mounts or links need root. Without it they fail at once and say
// so, rather than skipping or failing later on an EACCES that hides the cause.

/** Throws unless this process runs as root; `needs` says what the caller would do with it. */
export function requireRoot(needs: string): void {
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(
      `this suite needs root to ${needs}, but runs as uid ${uid ?? '(unknown)'}: run it as root (the README's test command does)`,
    );
  }
}
