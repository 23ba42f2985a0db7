import { describe, expect, it } from 'vitest';
import { TIME_ZONES } from './time-zones.ts';

describe('TIME_ZONES', () => {
  it('holds only zones this runtime can compute period boundaries in', () => {
    const unusable = TIME_ZONES.filter((zone) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return false;
      } catch {
        return true;
      }
    });
    expect(unusable).toEqual([]);
  });

  it('accepts current IANA names and common links as well as ICU canonical ones', () => {
    expect(TIME_ZONES).toEqual(
      expect.arrayContaining([
        'UTC',
        'Etc/UTC',
        'Europe/Berlin',
        'Asia/Kolkata',
        'Asia/Calcutta',
        'Europe/Kyiv',
        'US/Eastern',
      ]),
    );
  });

  it('is sorted and free of duplicates, so the generated enum is stable', () => {
    expect([...TIME_ZONES]).toEqual([...new Set(TIME_ZONES)].sort());
  });
});
