#!/usr/bin/env node
// Builds the dashboard's client into dist/web: one bundled app.js (preact and htm included, so
// they are build-time dependencies only), plus index.html and app.css copied as they are.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const out = here('../dist/web/');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [here('./src/main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  outfile: `${out}app.js`,
  logLevel: 'warning',
});
await copyFile(here('./index.html'), `${out}index.html`);
await copyFile(here('./app.css'), `${out}app.css`);
