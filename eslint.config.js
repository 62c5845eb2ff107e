// Lint for src/, test/ and bench/: typescript-eslint with type information, and the
// architecture's import rules (tools/eslint/layers.js). `npm run lint` runs it.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import layers from './tools/eslint/layers.js';

/** Who may import whom under src/; docs/ARCHITECTURE.md draws the same arrows. */
export const LAYERS = {
  root: 'src',
  // The executable is the only file that may reach the daemon and the CLI.
  entry: ['main.ts'],
  internal: ['daemon', 'cli'],
  modules: {
    protocol: {
      forbid: ['transfer', 'store', 'transport', 'discovery', 'outbox', 'control', 'daemon', 'cli'],
      forbidBuiltins: ['fs', 'net', 'tls', 'dgram', 'child_process', 'http', 'https', 'http2'],
    },
    // The CLI talks to the daemon only through the control socket.
    cli: { allow: ['control', 'config', 'service', 'errors.ts', 'format-bytes.ts', 'log.ts', 'display-text.ts'] },
    // Sessions run over any Duplex: no sockets, no peer lookup.
    transfer: { forbid: ['transport', 'discovery', 'control', 'daemon', 'cli'] },
    // LocalSend is a second protocol beside p2pd's: it reaches the gate, manager and inbox through
    // their types and the seams the daemon hands it, never the daemon, the CLI or the control API.
    localsend: { forbid: ['daemon', 'cli', 'control', 'outbox', 'discovery'] },
    // The control API is types, a dispatcher and a socket: the daemon wires it to the parts.
    control: { forbid: ['transfer', 'store', 'outbox', 'discovery', 'transport', 'daemon'] },
  },
};

const NODE_GLOBALS = {
  process: 'readonly',
  console: 'readonly',
  URL: 'readonly',
  Buffer: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
};

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'tmp/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          // `const { type, ...rest } = msg` is how a field is left out of a copy.
          ignoreRestSiblings: true,
        },
      ],
      // Where the recommended set fights the code's style:
      // - indexed reads carry `!` (`rows[i]!`) as if noUncheckedIndexedAccess were on; the rule
      //   calls those unnecessary under today's tsconfig.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // - methods that implement a Promise-returning interface are `async` even without an
      //   await, so that a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
      // - matching control characters is the point of the name and terminal-output cleaning.
      'no-control-regex': 'off',
      // - a promise rejected with an AbortSignal's reason passes on whatever the aborter chose
      //   (a P2pdError here, by convention); wrapping it would hide the code.
      // - parts built later are reached through a `let` that closures built earlier read.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
    },
  },
  {
    // Tests read JSON documents (CLI output, control answers) as `any` on purpose: the
    // assertions are what check their shape.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // The dashboard's client renders with htm's tagged templates, which are untyped (`any`), and
    // reads the daemon's JSON; the daemon checks everything it is sent, whatever the page does.
    files: ['web/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { p2pd: layers },
    rules: { 'p2pd/layers': ['error', LAYERS] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: NODE_GLOBALS },
  },
);
