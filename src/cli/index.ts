/**
 * The command line: a thin client of the daemon's control socket (and, for `p2pd daemon`, the
 * launcher main injects). Every failure ends as an exit status from the error's code.
 */
import yargs from 'yargs';
import { EXIT, P2pdError, toP2pdError } from '../errors.js';
import { CliContext, type CliDeps, type GlobalArgs } from './context.js';
import { idCommand, peersCommand } from './commands/info.js';
import { trustCommand, untrustCommand } from './commands/trust.js';
import { cancelCommand, sendCommand, statusCommand } from './commands/transfers.js';
import { serviceCommands } from './commands/service.js';
import { answerCommand, incomingCommand } from './commands/incoming.js';
import { pairAnswerCommand, pairCommand, pairListCommand } from './commands/pair.js';
import { watchCommand } from './commands/watch.js';
import { safe } from './format.js';
import { uiCommand } from './commands/ui.js';

export type { CliDeps } from './context.js';

export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let status: number = EXIT.OK;
  let usageError: string | undefined;
  let currentJson = false;

  const run = (fn: (ctx: CliContext) => Promise<number>) => async (args: object) => {
    const ctx = new CliContext(deps, args as GlobalArgs);
    currentJson = ctx.json;
    status = await fn(ctx);
  };

  const parser = yargs(argv)
    .scriptName('p2pd')
    .usage('$0 <command> [options]\n\nSend files to the machines on your network, encrypted and verified.')
    .option('config', { type: 'string', describe: 'JSON config file (default: $P2PD_CONFIG, then $XDG_CONFIG_HOME/p2pd/config.json)', global: true })
    .option('json', { type: 'boolean', describe: 'print one JSON document on stdout (for scripts)', global: true })
    .command('daemon', 'run the daemon in the foreground (what the service runs)', {}, run(async (ctx) => deps.runDaemon(ctx.config(), (file) => ctx.readConfig(file))))
    .command('id', "show this daemon's name and identity fingerprint", {}, run(idCommand))
    .command('peers', 'list the peers this daemon sees and the trusted ones', {}, run(peersCommand))
    .command(
      'trust <peer>',
      "pin a peer's identity so it may send files here",
      (y) =>
        y
          .positional('peer', { type: 'string', demandOption: true, describe: 'name, name#short-id, or full id' })
          .option('name', { type: 'string', describe: 'the name to remember it by' }),
      run((ctx) => trustCommand(ctx, String(ctx.args['peer' as keyof GlobalArgs]), (ctx.args as { name?: string }).name)),
    )
    .command(
      'untrust <peer>',
      'forget a trusted peer',
      (y) => y.positional('peer', { type: 'string', demandOption: true }),
      run((ctx) => untrustCommand(ctx, String((ctx.args as { peer?: string }).peer))),
    )
    .command(
      'send <peer> <paths..>',
      'send files and directories to a peer; exits 0 only when every file arrived verified',
      (y) =>
        y
          .positional('peer', { type: 'string', demandOption: true, describe: 'name, name#short-id, full id, or host:port' })
          .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'files and directories' })
          .option('detach', { type: 'boolean', default: false, describe: 'start the transfer and return at once' })
          .option('queue', { type: 'boolean', default: false, describe: 'if the peer is offline, wait for it (retrying with backoff) instead of failing' }),
      run((ctx) => {
        const a = ctx.args as { peer?: string; paths?: string[]; detach?: boolean; queue?: boolean };
        return sendCommand(ctx, String(a.peer), (a.paths ?? []).map(String), a.detach === true, a.queue === true);
      }),
    )
    .command('status', 'show transfers in progress and recent ones, both directions', {}, run(statusCommand))
    .command('incoming', 'list offers waiting for your answer', {}, run(incomingCommand))
    .command('watch', 'follow peers, transfers, offers, pairings and the outbox as they change (until Ctrl-C)', {}, run((ctx) => watchCommand(ctx)))
    .command(
      'pair [peer]',
      'trust a peer by comparing a six-digit code on both screens',
      (y) =>
        y
          .positional('peer', { type: 'string', describe: 'name, name#short-id or id of the peer to pair with' })
          .option('confirm', { type: 'string', describe: 'confirm a waiting pairing: the codes match (id optional)' })
          .option('reject', { type: 'string', describe: 'reject a waiting pairing (id optional)' })
          .option('list', { type: 'boolean', describe: 'list pairings waiting for confirmation' })
          .option('name', { type: 'string', describe: 'the name to trust the peer under' }),
      run((ctx) => {
        const a = ctx.args as { peer?: string; confirm?: string; reject?: string; list?: boolean; name?: string };
        const id = (v: string): string | undefined => (v.trim() === '' ? undefined : v.trim());
        if (a.list === true) return pairListCommand(ctx);
        if (a.confirm !== undefined) return pairAnswerCommand(ctx, id(a.confirm), true);
        if (a.reject !== undefined) return pairAnswerCommand(ctx, id(a.reject), false);
        if (a.peer === undefined) throw new P2pdError('USAGE', 'name the peer to pair with, or use --confirm, --reject or --list');
        return pairCommand(ctx, a.peer, a.name === undefined ? {} : { name: a.name });
      }),
    )
    .command(
      'accept <offer-id>',
      'accept a waiting offer: its files land in the inbox',
      (y) =>
        y
          .positional('offer-id', { type: 'string', demandOption: true })
          .option('to', { type: 'string', describe: 'a folder inside the inbox to put the files in' })
          .option('rename', { type: 'string', array: true, describe: 'save file <index> under another name: <index>=<name> (repeatable)' })
          .option('skip', { type: 'string', array: true, describe: 'do not take file <index> (repeatable)' }),
      run((ctx) => {
        const a = ctx.args as { offerId?: string; to?: string; rename?: string[]; skip?: string[] };
        return answerCommand(ctx, String(a.offerId), true, {
          ...(a.to === undefined ? {} : { to: a.to }),
          ...(a.rename === undefined ? {} : { rename: a.rename.map(String) }),
          ...(a.skip === undefined ? {} : { skip: a.skip.map(String) }),
        });
      }),
    )
    .command(
      'ui',
      'print the address of the web dashboard, with a one-time login token',
      (y) => y.option('open', { type: 'boolean', default: false, describe: 'open it in the default browser' }),
      run((ctx) => uiCommand(ctx, (ctx.args as { open?: boolean }).open === true)),
    )
    .command(
      'reject <offer-id>',
      'refuse a waiting offer',
      (y) => y.positional('offer-id', { type: 'string', demandOption: true }),
      run((ctx) => answerCommand(ctx, String((ctx.args as { offerId?: string }).offerId), false)),
    )
    .command(
      'cancel <transfer-id>',
      'cancel a transfer (either direction)',
      (y) => y.positional('transfer-id', { type: 'string', demandOption: true }),
      run((ctx) => cancelCommand(ctx, String((ctx.args as { transferId?: string }).transferId))),
    )
    .command('service', 'install, remove or inspect p2pd as a service (systemd, launchd)', (y) => serviceCommands(y, run))
    .completion('completion', 'print a bash/zsh completion script')
    .demandCommand(1, 'name a command: p2pd --help lists them')
    .strict()
    .recommendCommands()
    .version(deps.version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, deps.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err !== undefined && err !== null) throw err;
      usageError = msg;
    });

  try {
    await parser.parseAsync();
  } catch (err) {
    const e = toP2pdError(err);
    if (currentJson || argv.includes('--json')) deps.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
    deps.stderr.write(`p2pd: ${safe(e.message)}\n`);
    if (e.code === 'INTERNAL' && err instanceof Error && err.stack) deps.stderr.write(`${err.stack}\n`);
    return e.exitStatus;
  }
  if (usageError !== undefined) {
    const e = new P2pdError('USAGE', usageError);
    if (argv.includes('--json')) deps.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
    deps.stderr.write(`p2pd: ${usageError}\nRun \`p2pd --help\` for the commands and their options.\n`);
    return EXIT.USAGE;
  }
  return status;
}
