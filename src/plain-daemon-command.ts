/**
 * The daemon's own command line, recognised without the CLI's parser so that a daemon never loads
 * yargs and the commands' modules (main.ts).
 */

/**
 * `p2pd daemon`, `p2pd daemon --config <file>` or `--config=<file>` (what the service units and
 * `npm start` run): the config file to read, if one was named. Undefined for anything else, which
 * then goes to the CLI and its checks.
 */
export function plainDaemonCommand(argv: readonly string[]): { config?: string } | undefined {
  if (argv[0] !== 'daemon') return undefined;
  if (argv.length === 1) return {};
  const [, option, value] = argv;
  if (argv.length === 2 && option!.startsWith('--config=') && option!.length > '--config='.length) return { config: option!.slice('--config='.length) };
  if (argv.length === 3 && option === '--config' && !value!.startsWith('-')) return { config: value! };
  return undefined;
}
