/** What the CLI gets from main.ts, for a test: captured output, a fixed host, no daemon to start. */
import { join } from 'node:path';
import type { CliDeps } from '../../src/cli/index.js';
import { CapturedOutput } from './captured-output.js';

/** `dir`: the test's scratch folder (main.js is said to live there); `home`: its home folder. */
export function testCliDeps(dir: string, home: string, over: Partial<CliDeps> = {}): CliDeps & { stdout: CapturedOutput; stderr: CapturedOutput } {
  return {
    stdout: new CapturedOutput(),
    stderr: new CapturedOutput(),
    env: { HOME: home, PATH: '' },
    cwd: dir,
    home,
    hostname: 'test-host',
    version: '0.0.0-test',
    platform: 'linux',
    execPath: process.execPath,
    mainScript: join(dir, 'main.js'),
    uid: process.getuid?.() ?? -1,
    userName: 'tester',
    runDaemon: async () => {
      throw new Error('the daemon must not start');
    },
    ...over,
  } as CliDeps & { stdout: CapturedOutput; stderr: CapturedOutput };
}
