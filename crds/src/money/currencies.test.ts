import { describe, expect, it } from 'vitest';
import { CURRENCIES, CURRENCY_CODES, isCurrencyCode } from './currencies.ts';

describe('currencies', () => {
  it('lists codes sorted, unique, matching CURRENCIES', () => {
    expect([...CURRENCY_CODES]).toEqual(Object.keys(CURRENCIES).sort());
    expect(new Set(CURRENCY_CODES).size).toBe(CURRENCY_CODES.length);
    for (const code of CURRENCY_CODES) expect(code).toMatch(/^[A-Z]{3}$/);
    expect(CURRENCY_CODES.length).toBeGreaterThan(140);
  });

  it('has the ISO minor units for representative currencies', () => {
    const minor = (code: string) => CURRENCIES[code]?.minorUnits;
    expect([minor('USD'), minor('EUR'), minor('GBP'), minor('CNY')]).toEqual([2, 2, 2, 2]);
    expect([minor('JPY'), minor('KRW'), minor('CLP'), minor('ISK'), minor('XOF')]).toEqual([
      0, 0, 0, 0, 0,
    ]);
    expect([
      minor('BHD'),
      minor('KWD'),
      minor('OMR'),
      minor('JOD'),
      minor('TND'),
      minor('IQD'),
      minor('LYD'),
    ]).toEqual([3, 3, 3, 3, 3, 3, 3]);
    for (const code of CURRENCY_CODES) expect([0, 2, 3]).toContain(CURRENCIES[code]?.minorUnits);
  });

  it('excludes funds, metals, units of account and testing codes', () => {
    for (const code of [
      'XAU',
      'XAG',
      'XPD',
      'XPT',
      'XTS',
      'XXX',
      'XDR',
      'XSU',
      'XUA',
      'XBA',
      'CLF',
      'USN',
      'BOV',
      'CHE',
    ]) {
      expect(isCurrencyCode(code)).toBe(false);
    }
  });

  it('excludes withdrawn codes and keeps their replacements', () => {
    for (const code of ['HRK', 'CUC', 'SLL', 'ZWL', 'ANG', 'VEF', 'MRO', 'STD', 'BYR'])
      expect(isCurrencyCode(code)).toBe(false);
    for (const code of ['EUR', 'SLE', 'ZWG', 'XCG', 'VES', 'MRU', 'STN', 'BYN'])
      expect(isCurrencyCode(code)).toBe(true);
  });

  it('isCurrencyCode is exact and ignores inherited properties', () => {
    expect(isCurrencyCode('USD')).toBe(true);
    expect(isCurrencyCode('usd')).toBe(false);
    expect(isCurrencyCode(' USD')).toBe(false);
    expect(isCurrencyCode('toString')).toBe(false);
    expect(isCurrencyCode('__proto__')).toBe(false);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(CURRENCIES)).toBe(true);
    expect(Object.isFrozen(CURRENCY_CODES)).toBe(true);
    expect(Object.isFrozen(CURRENCIES['USD'])).toBe(true);
  });
});
