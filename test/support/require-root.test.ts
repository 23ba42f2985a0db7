import { afterEach, describe, expect, it, vi } from 'vitest';
import { requireRoot } from './require-root.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('requireRoot', () => {
  it('fails with the reason and the uid when not root', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    expect(() => requireRoot('create cgroups')).toThrow(
      /needs root to create cgroups, but runs as uid 1000/,
    );
  });

  it('lets root through', () => {
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    expect(() => requireRoot('create cgroups')).not.toThrow();
  });
});
