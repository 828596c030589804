// The core (checkpoint, arch, surgery, analysis, training, shared) must never import vscode: it runs in the CLI,
// in worker threads and in tests without VS Code. Only commands/, views/, ui/, tasks/ and extension.ts may
// (layers: extension -> commands -> views -> ui -> core; test/unit/architecture.test.ts fails on a folder cycle).
// Beyond the boundaries, a few typed rules that catch real mistakes: a promise nobody awaits (its rejection is lost),
// a switch over a union that misses a member, and names that are declared but never used.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'out/**',
      'node_modules/**',
      '.venv/**',
      '.venv-torch2/**',
      '.tmp/**',
      'test/fixtures/**',
      'test/e2e/node_modules/**',
    ],
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          checkThenables: true,
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: [
      'src/checkpoint/**',
      'src/arch/**',
      'src/gpu/**',
      'src/fixtures/**',
      'src/surgery/**',
      'src/analysis/**',
      'src/training/**',
      'src/shared/**',
      'src/cli.ts',
      'webview/**',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'vscode', message: 'Core modules must not import vscode: move this to src/commands, src/views or src/tasks.' }] },
      ],
    },
  },
  {
    files: ['src/shared/**', 'webview/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads'],
              message: 'shared/ and webview/ are bundled for the browser: no Node modules.',
            },
          ],
          paths: [{ name: 'vscode', message: 'No vscode in the browser bundle.' }],
        },
      ],
    },
  },
);
