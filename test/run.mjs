#!/usr/bin/env node
// Runs the compiled test files of the chosen suites with node's test runner.
// Node 20's --test takes no globs, so this lists the files itself: a suite with no files fails
// loudly instead of passing with zero tests.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const suites = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
const chosen = suites.length > 0 ? suites : ['unit', 'integration', 'lan', 'browser'];

function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

let failed = false;
for (const suite of chosen) {
  const files = collect(join(root, suite)).sort();
  if (files.length === 0) {
    console.error(`test suite "${suite}": no test files under ${join(root, suite)} (did the build run?)`);
    failed = true;
    continue;
  }
  console.log(`\n# suite ${suite}: ${files.length} files`);
  // Integration suites start daemons: run files one at a time to keep timings honest on 2 cores.
  const concurrency = suite === 'unit' ? [] : ['--test-concurrency=1'];
  const res = spawnSync(process.execPath, ['--test', ...concurrency, ...extra, ...files], { stdio: 'inherit' });
  if (res.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
