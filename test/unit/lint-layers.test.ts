/**
 * The architecture's import rule (tools/eslint/layers.js) with the project's own table from
 * eslint.config.js: a forbidden import is reported, an allowed one is not. Lints text under
 * made-up file names, so no type information is needed and the real tree is not read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';

const root = new URL('../../../', import.meta.url).pathname;

async function linter(): Promise<ESLint> {
  const plugin = (await import(pathToFileURL(join(root, 'tools/eslint/layers.js')).href)) as { default: NonNullable<Linter.Config['plugins']>[string] };
  const config = (await import(pathToFileURL(join(root, 'eslint.config.js')).href)) as { LAYERS: unknown };
  return new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { p2pd: plugin.default },
        rules: { 'p2pd/layers': ['error', config.LAYERS] },
      },
    ],
  });
}

/** The layer-rule messages for `code` placed at `file` (relative to the repository). */
async function problems(eslint: ESLint, file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

test('forbidden imports are reported, allowed ones are not', async () => {
  const eslint = await linter();
  const cases: Array<[file: string, code: string, reported: boolean]> = [
    ['src/protocol/x.ts', "import { readFile } from 'node:fs/promises';", true],
    ['src/protocol/x.ts', "import * as net from 'net';", true],
    ['src/protocol/x.ts', "import { createHash } from 'node:crypto';", false],
    ['src/protocol/x.ts', "import type { InboxStore } from '../transfer/ports.js';", true],
    ['src/protocol/x.ts', "import { P2pdError } from '../errors.js';", false],
    ['src/transfer/x.ts', "export { dialTls } from '../transport/tls.js';", true],
    ['src/transfer/x.ts', "const m = await import('../discovery/mdns.js');", true],
    ['src/transfer/x.ts', "import { FrameDecoder } from '../protocol/decoder.js';", false],
    ['src/store/x.ts', "import { Daemon } from '../daemon/daemon.js';", true],
    ['src/daemon/x.ts', "import { Daemon } from './daemon.js';", false],
    ['src/main.ts', "import { Daemon } from './daemon/index.js'; import { runCli } from './cli/index.js';", false],
    ['src/cli/commands/x.ts', "import type { TransferView } from '../../transfer/manager.js';", true],
    ['src/cli/commands/x.ts', "import { ControlClient } from '../../control/client.js'; import { P2pdError } from '../../errors.js';", false],
    ['src/cli/x.ts', "import { formatBytes } from '../format-bytes.js'; import { loadConfig } from '../config/load.js';", false],
    ['src/cli/x.ts', "import { displayName } from '../store/safe-name.js';", true],
    ['src/control/x.ts', "import type { OutboxItemView } from '../outbox/ports.js';", true],
    ['test/unit/x.ts', "import { Daemon } from '../../src/daemon/index.js';", false],
  ];
  for (const [file, code, reported] of cases) {
    const found = await problems(eslint, file, code);
    assert.ok(
      found.every((m) => m.startsWith('p2pd/layers')),
      `${file}: ${found.join('; ')}`,
    );
    assert.equal(found.length > 0, reported, `${file}: ${code} -> ${found.join('; ') || 'nothing reported'}`);
  }
});
