/**
 * `--load`: another process keeps one core busy while a second set of rounds runs, as a build or
 * a browser would on a real machine. A Node process spinning in a loop; it checks now and then
 * that the bench (its parent) is still there, so it never outlives it.
 */
import type { Lifecycle } from './lifecycle.js';
import { Service } from './proc.js';

const SPIN = `
const parent = process.ppid;
for (;;) {
  for (let i = 0; i < 5e7; i++);
  if (process.ppid !== parent) process.exit(0);
}
`;

/** Runs `fn` while one core is kept busy. */
export async function underLoad<T>(life: Lifecycle, log: (msg: string) => void, fn: () => Promise<T>): Promise<T> {
  log('--load: a busy loop now keeps one core busy');
  const spinner = new Service(life, 'busy loop', process.execPath, ['-e', SPIN]);
  try {
    return await fn();
  } finally {
    await spinner.stop(500);
    log('--load: the busy loop is stopped');
  }
}
