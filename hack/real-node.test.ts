import { describe, expect, it } from 'vitest';
import { parseNameLines } from './real-node.ts';

describe('parseNameLines', () => {
  it('reads the `NAME VALUE...` lines of the build scripts and ignores blank ones', () => {
    const lines = parseNameLines(
      'kubelet /c/kubelet\ncni /c/cni-plugins\n\npause agentmeter.local/pause:3.10 /c/pause.tar\n',
    );
    expect(lines.get('kubelet')).toEqual(['/c/kubelet']);
    expect(lines.get('cni')).toEqual(['/c/cni-plugins']);
    expect(lines.get('pause')).toEqual(['agentmeter.local/pause:3.10', '/c/pause.tar']);
    expect(lines.size).toBe(3);
  });

  it('skips a line with a name alone, so a missing value is reported by name', () => {
    expect(parseNameLines('coredns\n').has('coredns')).toBe(false);
  });
});
