export * from './money/index.ts';
export * from './units/index.ts';
