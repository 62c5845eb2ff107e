// dist/src/cli/bundle.js is index.js with yargs bundled in, made by tools/build-cli-bundle.mjs.
export { runCli } from './index.js';
