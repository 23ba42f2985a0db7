import type { ChildProcess } from 'node:child_process';

/** Appends each complete stdout/stderr line of a child to `lines` (the components log JSON). */
export function collectLines(child: ChildProcess, lines: string[]): void {
  let buffer = '';
  const collect = (chunk: Buffer): void => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
}
