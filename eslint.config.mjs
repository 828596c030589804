// The core (checkpoint, arch, surgery, analysis, training, shared) must never import vscode: it runs in the CLI,
// in worker threads and in tests without VS Code. Only commands/, views/, ui/, tasks/ and extension.ts may
// (layers: extension -> commands -> views -> ui -> core; test/unit/architecture.test.ts fails on a folder cycle).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.venv/**', 'test/fixtures/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {},
  },
  {
    files: ['src/checkpoint/**', 'src/arch/**', 'src/gpu/**', 'src/fixtures/**', 'src/surgery/**', 'src/analysis/**', 'src/training/**', 'src/shared/**', 'src/cli.ts', 'webview/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Core modules must not import vscode: move this to src/commands, src/views or src/tasks.' }] }],
    },
  },
  {
    files: ['src/shared/**', 'webview/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads'], message: 'shared/ and webview/ are bundled for the browser: no Node modules.' }], paths: [{ name: 'vscode', message: 'No vscode in the browser bundle.' }] }],
    },
  },
);
