#!/usr/bin/env node
// Fails when a source file under src/ is longer than the limit: a long file is a sign that it
// holds more than one responsibility (STYLE.md). tools/file-lines-allow.txt lists exceptions, one
// path a line with the reason after a '#'; an entry that is no longer needed is an error too.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const LIMIT = 400;
const root = new URL('..', import.meta.url).pathname;
const allowFile = join(root, 'tools/file-lines-allow.txt');
const allowed = new Set(
  readFileSync(allowFile, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== ''),
);

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.[cm]?[jt]s$/.test(name) ? [path] : [];
  });
}

const problems = [];
for (const path of sources(join(root, 'src'))) {
  const rel = relative(root, path);
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > LIMIT && !allowed.has(rel)) problems.push(`${rel}: ${lines} lines (limit ${LIMIT}): split it by responsibility`);
  if (lines <= LIMIT && allowed.has(rel)) problems.push(`${rel}: ${lines} lines, no longer needs its entry in tools/file-lines-allow.txt`);
}
for (const rel of allowed) {
  try {
    statSync(join(root, rel));
  } catch {
    problems.push(`tools/file-lines-allow.txt: ${rel} does not exist`);
  }
}
for (const p of problems) console.error(p);
process.exit(problems.length === 0 ? 0 : 1);
