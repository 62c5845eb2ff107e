/**
 * Bundles the command line's third-party modules (yargs and the dozen packages under it) into
 * dist/src/cli/bundle.js, the module main.js loads for every command but the daemon. Node resolves,
 * reads and compiles each of those files one by one: about 145 ms of every command here, 75 ms
 * from one bundle (docs/PERFORMANCE.md#the-command-lines-start). p2pd's own modules stay
 * separate files, imported from the bundle as before, so the daemon and the CLI share one copy of
 * each (one P2pdError class, one config loader).
 */
import { build } from 'esbuild';

const keepOwnModulesApart = {
  name: 'p2pd-modules-apart',
  setup(b) {
    // A relative import from one of p2pd's modules is another of them: left as an import. The
    // bundle sits beside cli/index.js, so the paths stay right.
    const own = (importer) => importer.includes('/dist/src/') && !importer.includes('/node_modules/');
    b.onResolve({ filter: /^\.\.?\// }, (args) => (args.kind !== 'entry-point' && own(args.importer) ? { path: args.path, external: true } : undefined));
  },
};

// yargs' help layout measures text with string-width, whose module builds an emoji pattern and an
// Intl.Segmenter as it loads (28 ms); cli/text-width.js builds them only when a string needs them.
const ownTextWidth = {
  name: 'p2pd-text-width',
  setup(b) {
    const path = new URL('../dist/src/cli/text-width.js', import.meta.url).pathname;
    b.onResolve({ filter: /^string-width$/ }, () => ({ path }));
  },
};

await build({
  entryPoints: [new URL('../dist/src/cli/index.js', import.meta.url).pathname],
  outfile: new URL('../dist/src/cli/bundle.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [keepOwnModulesApart, ownTextWidth],
  logLevel: 'warning',
});
