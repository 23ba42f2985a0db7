import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      'hack/testbins/**',
      'test/fixtures/**',
      'coverage/**',
      'dist/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      // Money and usage must never pass through floats; parseFloat is the usual way they sneak in.
      'no-restricted-globals': [
        'error',
        { name: 'parseFloat', message: 'Use BigInt decimal arithmetic (crds/src/money).' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['hack/**', 'test/bench/**'],
    rules: { 'no-console': 'off' },
  },
);
