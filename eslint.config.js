// @ts-check
/**
 * The second half of `npm run lint` (the first is dependency-cruiser, .dependency-cruiser.cjs):
 * only src/cli.ts touches `process` (argv, exit, env, pid, signals, the terminal). Everything
 * below it gets cwd, env, pid, clock and output as arguments (src/commands/io.ts), so tests can
 * call it and nothing deep inside reads the environment behind the caller's back.
 * docs/development.md has the whole picture.
 */
import tseslint from 'typescript-eslint';

const why = 'only src/cli.ts touches process: take cwd/env/pid/clock/output as arguments (CommandIO in src/commands/io.ts)';

export default [
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli.ts'],
    languageOptions: { parser: tseslint.parser, sourceType: 'module' },
    // No eslint-disable comments: the rule has no exceptions below src/cli.ts.
    linterOptions: { noInlineConfig: true },
    rules: {
      'no-restricted-globals': ['error', { name: 'process', message: why }],
      'no-restricted-properties': ['error', { object: 'globalThis', property: 'process', message: why }],
      'no-restricted-imports': ['error', { paths: [{ name: 'process', message: why }, { name: 'node:process', message: why }] }],
    },
  },
];
