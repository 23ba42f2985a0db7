/**
 * The one definition of what a money string looks like. The CRD schema uses
 * DECIMAL_PATTERN_SOURCE and MAX_DECIMAL_LENGTH so the apiserver refuses exactly what
 * parseMoney refuses.
 *
 * Scale is 9 fractional digits (nano-units): per-unit rates such as 0.000000021 per token need
 * it, and it is the internal unit, so every accepted string converts exactly. 18 integer digits
 * (< 10^18 currency units) is far beyond any real bill yet keeps strings short.
 */
export const NANO_SCALE = 9;
export const NANO_PER_UNIT = 10n ** 9n;
export const MAX_INTEGER_DIGITS = 18;
export const MAX_DECIMAL_LENGTH = MAX_INTEGER_DIGITS + 1 + NANO_SCALE;

export const DECIMAL_PATTERN_SOURCE = `^(0|[1-9][0-9]{0,${MAX_INTEGER_DIGITS - 1}})(\\.[0-9]{1,${NANO_SCALE}})?$`;
