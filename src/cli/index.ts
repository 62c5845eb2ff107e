/**
 * The command line: a thin client of the daemon's control socket (and, for `p2pd daemon`, the
 * launcher main injects). Every failure ends as an exit status from the error's code.
 *
 * The whole command line is parsed and validated before anything happens: yargs' handlers only
 * record which command was chosen, and that command runs after a clean parse. yargs calls a
 * handler even when strict validation has failed (its fail callback does not stop it), so a
 * mistyped option would otherwise send, write or ask the daemon before the error is seen.
 */
import yargs, { type Argv } from 'yargs';
import { EXIT, P2pdError, toP2pdError } from '../errors.js';
import { CliContext, type CliDeps, type GlobalArgs } from './context.js';
import { idCommand, peersCommand } from './commands/info.js';
import { trustCommand, untrustCommand } from './commands/trust.js';
import { cancelCommand, sendCommand, statusCommand } from './commands/transfers.js';
import { SERVICE_SUBCOMMANDS, serviceCommands } from './commands/service.js';
import { answerCommand, incomingCommand } from './commands/incoming.js';
import { pairAnswerCommand, pairCommand, pairListCommand } from './commands/pair.js';
import { watchCommand } from './commands/watch.js';
import { GROUP_SUBCOMMANDS, groupCommands } from './commands/group.js';
import { sendManyCommand, splitPeers } from './commands/send-many.js';
import { safe } from './format.js';
import { usageError, wantsJson, type UsageContext } from './usage.js';
import { completeArgument } from './complete.js';
import { uiCommand } from './commands/ui.js';

export type { CliDeps } from './context.js';

type Command = (ctx: CliContext) => Promise<number>;
/** Wraps a command into a yargs handler that only records it. */
export type Wrap = (fn: Command) => (args: object) => void;
/** Wraps a yargs builder so that a usage error knows which command it is about. */
export type Track = (path: string[], usage: string, commands: readonly string[], build?: (y: Argv) => Argv) => (y: Argv) => Argv;

type Complete = (current: string, args: { _?: unknown[] }, defaults: Parameters<typeof completeArgument>[3], done: (list: string[]) => void) => void;

const TOP_COMMANDS = [
  'daemon',
  'id',
  'peers',
  'trust',
  'untrust',
  'send',
  'status',
  'incoming',
  'watch',
  'pair',
  'accept',
  'reject',
  'ui',
  'cancel',
  'group',
  'service',
  'completion',
] as const;
/** yargs' own completion command; `completion` is ours so that `completion --help` shows help. */
const COMPLETION_SCRIPT = 'completion-script';
/** The option the completion script calls p2pd with. */
const COMPLETION_KEY = 'get-yargs-completions';

interface Introspect {
  getOptions(): { key: Record<string, unknown>; boolean: string[]; string: string[]; array: string[] };
  showCompletionScript($0?: string, cmd?: string): unknown;
}

export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  const problems: string[] = [];
  let internal: unknown;
  let chosen: { fn: Command; args: object } | undefined;
  const where: UsageContext = { path: [], usage: '<command>', options: [], commands: [...TOP_COMMANDS] };

  const run: Wrap = (fn) => (args) => {
    chosen ??= { fn, args };
  };
  const track: Track = (path, usage, commands, build) => (y) => {
    Object.assign(where, { path, usage, commands: [...commands] });
    return build === undefined ? y : build(y);
  };
  let completing: Promise<void> | undefined;
  const complete: Complete = (current, args, defaults, done) => {
    completing = completeArgument(new CliContext(deps, args as GlobalArgs), current, (args._ ?? []).map(String), defaults, done);
  };
  const parser = buildParser(argv, deps, run, track).completion(COMPLETION_SCRIPT, false, complete);
  const introspect = parser as unknown as Introspect;
  parser.check((args) => checkValues(argv, args, introspect), true);
  parser.fail((msg, err) => {
    if (err !== undefined && err !== null && !isUsageProblem(err)) {
      internal ??= err;
      return;
    }
    // The options known where the parse stopped: global ones and the command's own.
    if (where.options.length === 0) where.options = optionNames(introspect, where.usage);
    problems.push(msg ?? (err as Error).message);
  });

  try {
    await parser.parseAsync();
    await completing;
  } catch (err) {
    internal ??= err;
  }
  // Tab completion runs nothing: yargs also parses the words typed so far as a command line,
  // and would find them incomplete (or complete enough to run).
  if (argv.includes(`--${COMPLETION_KEY}`)) return internal === undefined ? EXIT.OK : report(deps, false, internal);
  if (internal !== undefined) return report(deps, wantsJson(argv), internal);
  if (problems.length > 0) return report(deps, wantsJson(argv), usageError(problems, argv, where), where.path);
  if (chosen === undefined) return EXIT.OK; // --help, --version, the completion script
  const ctx = new CliContext(deps, chosen.args as GlobalArgs);
  try {
    return await chosen.fn(ctx);
  } catch (err) {
    return report(deps, ctx.json, err);
  }
}

function buildParser(argv: string[], deps: CliDeps, run: Wrap, track: Track): Argv {
  const leaf = (name: string, usage = name, build?: (y: Argv) => Argv): ((y: Argv) => Argv) => track([name], usage, [], build);
  // With --group or --all-trusted, `send` takes no peer: every word after it is a path.
  const fanout = isFanoutSend(argv);
  const parser: Argv = yargs(argv)
    .scriptName('p2pd')
    // Every message of p2pd's own is English; yargs' few (usage lines, "Options:") match them, in
    // any environment, and bundled it finds no translations anyway (tools/build-cli-bundle.mjs).
    .locale('en')
    .usage('$0 <command> [options]\n\nSend files to the machines on your network, encrypted and verified.')
    .option('config', {
      type: 'string',
      requiresArg: true,
      describe: 'JSON config file (default: $P2PD_CONFIG, then $XDG_CONFIG_HOME/p2pd/config.json)',
      global: true,
    })
    .option('json', { type: 'boolean', describe: 'print one JSON document on stdout (for scripts)', global: true })
    .command(
      'daemon',
      'run the daemon in the foreground (what the service runs)',
      leaf('daemon'),
      run(async (ctx) => deps.runDaemon(ctx.config(), (file) => ctx.readConfig(file))),
    )
    .command('id', "show this daemon's name and identity fingerprint", leaf('id'), run(idCommand))
    .command('peers', 'list the peers this daemon sees and the trusted ones', leaf('peers'), run(peersCommand))
    .command(
      'trust <peer>',
      "pin a peer's identity so it may send files here",
      leaf('trust', 'trust <peer>', (y) =>
        y
          .positional('peer', { type: 'string', demandOption: true, describe: 'name, name#short-id, or full id' })
          .option('name', { type: 'string', requiresArg: true, describe: 'the name to remember it by' }),
      ),
      run((ctx) => trustCommand(ctx, String(arg(ctx, 'peer')), arg(ctx, 'name') as string | undefined)),
    )
    .command(
      'untrust <peer>',
      'forget a trusted peer',
      leaf('untrust', 'untrust <peer>', (y) => y.positional('peer', { type: 'string', demandOption: true })),
      run((ctx) => untrustCommand(ctx, String(arg(ctx, 'peer')))),
    )
    .command(
      fanout ? 'send <paths..>' : 'send <peer> <paths..>',
      'send files and directories to a peer (or several: a,b,c, --group, --all-trusted); exits 0 only when every file arrived verified',
      leaf('send', fanout ? 'send <paths..>' : 'send <peer> <paths..>', (y) =>
        (fanout ? y : y.positional('peer', { type: 'string', demandOption: true, describe: 'name, name#short-id, full id, or host:port; several as a,b,c' }))
          // default: undefined, or the help shows "[required] [default: []]"
          .positional('paths', { type: 'string', array: true, demandOption: true, default: undefined, describe: 'files and directories' })
          .option('detach', { type: 'boolean', default: false, describe: 'start the transfer and return at once' })
          .option('queue', { type: 'boolean', default: false, describe: 'if the peer is offline, wait for it (retrying with backoff) instead of failing' })
          .option('pin', { type: 'string', requiresArg: true, describe: 'the PIN a LocalSend device asks for (asked on a terminal when missing)' })
          .option('allow-http', { type: 'boolean', describe: 'send to a LocalSend device that speaks plain HTTP: the files cross the LAN unencrypted' })
          .option('group', { type: 'string', requiresArg: true, describe: 'send to every member of this group (then no <peer>)' })
          .option('all-trusted', { type: 'boolean', describe: 'send to every trusted peer (then no <peer>)' }),
      ),
      run((ctx) => sendHandler(ctx, fanout)),
    )
    .command('status', 'show transfers in progress and recent ones, both directions', leaf('status'), run(statusCommand))
    .command(
      'incoming [offer-id]',
      'list offers waiting for your answer; with an id, that offer file by file with the indexes --rename and --skip take',
      leaf('incoming', 'incoming [offer-id]', (y) => y.positional('offer-id', { type: 'string', describe: 'show this offer file by file' })),
      run((ctx) => incomingCommand(ctx, arg(ctx, 'offerId') as string | undefined)),
    )
    .command(
      'watch',
      'follow peers, transfers, offers, pairings and the outbox as they change (until Ctrl-C)',
      leaf('watch'),
      run((ctx) => watchCommand(ctx)),
    )
    .command('pair [peer]', 'trust a peer by comparing a six-digit code on both screens', leaf('pair', 'pair [peer]', pairOptions), run(pairHandler))
    .command(
      'accept <offer-id>',
      'accept a waiting offer: its files land in the inbox',
      leaf('accept', 'accept <offer-id>', (y) =>
        y
          .positional('offer-id', { type: 'string', demandOption: true })
          .option('to', { type: 'string', requiresArg: true, describe: 'a folder inside the inbox to put the files in' })
          .option('rename', { type: 'string', array: true, requiresArg: true, describe: 'save file <index> under another name: <index>=<name> (repeatable)' })
          .option('skip', { type: 'string', array: true, requiresArg: true, describe: 'do not take file <index> (repeatable)' }),
      ),
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
      leaf('ui', 'ui', (y) => y.option('open', { type: 'boolean', default: false, describe: 'open it in the default browser' })),
      run((ctx) => uiCommand(ctx, (ctx.args as { open?: boolean }).open === true)),
    )
    .command(
      'reject <offer-id>',
      'refuse a waiting offer',
      leaf('reject', 'reject <offer-id>', (y) => y.positional('offer-id', { type: 'string', demandOption: true })),
      run((ctx) => answerCommand(ctx, String(arg(ctx, 'offerId')), false)),
    )
    .command(
      'cancel <transfer-id>',
      'cancel a transfer (either direction)',
      leaf('cancel', 'cancel <transfer-id>', (y) => y.positional('transfer-id', { type: 'string', demandOption: true })),
      run((ctx) => cancelCommand(ctx, String(arg(ctx, 'transferId')))),
    )
    .command(
      'group',
      'manage groups of peers to send to at once (send --group, outbox/@<group>/)',
      track(['group'], 'group <add|remove|list>', GROUP_SUBCOMMANDS, (y) => groupCommands(y, run, track)),
    )
    .command(
      'service',
      'install, remove or inspect p2pd as a service (systemd, launchd)',
      track(['service'], 'service <install|uninstall|status>', SERVICE_SUBCOMMANDS, (y) => serviceCommands(y, run, track)),
    )
    .command(
      'completion',
      'print a bash/zsh completion script',
      leaf('completion'),
      run(async () => {
        (parser as unknown as Introspect).showCompletionScript('p2pd', 'completion');
        return EXIT.OK;
      }),
    )
    .demandCommand(1, 'name a command: p2pd --help lists them')
    .strict()
    .version(deps.version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, deps.stdout.columns ?? 100))
    .exitProcess(false);
  return parser;
}

function sendHandler(ctx: CliContext, fanout: boolean): Promise<number> {
  const a = ctx.args as {
    peer?: string;
    paths?: string[];
    detach?: boolean;
    queue?: boolean;
    group?: string;
    allTrusted?: boolean;
    pin?: string;
    allowHttp?: boolean;
  };
  const paths = (a.paths ?? []).map(String);
  const detach = a.detach === true;
  const queue = a.queue === true;
  const ls = { ...(a.pin === undefined ? {} : { pin: String(a.pin) }), ...(a.allowHttp === true ? { allowHttp: true } : {}) };
  if ((fanout || String(a.peer).includes(',')) && Object.keys(ls).length > 0) {
    throw new P2pdError('USAGE', '--pin and --allow-http are for a send to one LocalSend device');
  }
  if (fanout) {
    if (a.group !== undefined && a.allTrusted === true) throw new P2pdError('USAGE', '--group and --all-trusted do not go together: use one');
    if (a.group === undefined && a.allTrusted !== true) throw new P2pdError('USAGE', 'name the peer to send to, --group <group>, or --all-trusted');
    return sendManyCommand(ctx, a.group !== undefined ? { group: String(a.group) } : { allTrusted: true }, paths, detach, queue);
  }
  const peer = String(a.peer);
  if (peer.includes(',')) return sendManyCommand(ctx, { peers: splitPeers(peer) }, paths, detach, queue);
  return sendCommand(ctx, peer, paths, detach, queue, ls);
}

/** Whether the command line is a `send` to a group or to every trusted peer (no <peer> word then). */
function isFanoutSend(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const words = end === -1 ? argv : argv.slice(0, end);
  return words.some((w) => /^--(group|all-trusted|allTrusted)(=|$)/.test(w) && !/=false$/.test(w));
}

function arg(ctx: CliContext, name: string): unknown {
  return (ctx.args as Record<string, unknown>)[name];
}

function pairOptions(y: Argv): Argv {
  return y
    .positional('peer', { type: 'string', describe: 'name, name#short-id or id of the peer to pair with' })
    .option('confirm', { type: 'string', describe: 'confirm a waiting pairing: the codes match (id optional)' })
    .option('reject', { type: 'string', describe: 'reject a waiting pairing (id optional)' })
    .option('list', { type: 'boolean', describe: 'list pairings waiting for confirmation' })
    .option('name', { type: 'string', requiresArg: true, describe: 'the name to trust the peer under' })
    .check((a) => {
      const asked = [
        a.peer !== undefined && '<peer>',
        a.confirm !== undefined && '--confirm',
        a.reject !== undefined && '--reject',
        a.list === true && '--list',
      ].filter((x) => x !== false);
      if (asked.length === 0) throw new P2pdError('USAGE', 'name the peer to pair with, or use --confirm, --reject or --list');
      if (asked.length > 1) throw new P2pdError('USAGE', `${asked.join(' and ')} do not go together: use one of <peer>, --confirm, --reject or --list`);
      if (a.name !== undefined && a.peer === undefined) throw new P2pdError('USAGE', '--name goes with the peer to pair with: p2pd pair <peer> --name <name>');
      return true;
    }, false);
}

function pairHandler(ctx: CliContext): Promise<number> {
  const a = ctx.args as { peer?: string; confirm?: string; reject?: string; list?: boolean; name?: string };
  const id = (v: string): string | undefined => (v.trim() === '' ? undefined : v.trim());
  if (a.list === true) return pairListCommand(ctx);
  if (a.confirm !== undefined) return pairAnswerCommand(ctx, id(a.confirm), true);
  if (a.reject !== undefined) return pairAnswerCommand(ctx, id(a.reject), false);
  return pairCommand(ctx, String(a.peer), a.name === undefined ? {} : { name: a.name });
}

/** What yargs lets through: `--detach=maybe` (read as false) and an option given twice. */
function checkValues(argv: readonly string[], args: Record<string, unknown>, y: Introspect): true {
  const o = y.getOptions();
  for (const token of argv) {
    if (token === '--') break;
    const m = /^--([^=]+)=(.*)$/s.exec(token);
    if (m !== null && o.boolean.includes(m[1]!) && m[2] !== 'true' && m[2] !== 'false') {
      throw new P2pdError('USAGE', `--${m[1]} takes no value (or true/false), not "${safe(m[2]!)}"`);
    }
  }
  for (const key of o.string) {
    if (!o.array.includes(key) && Array.isArray(args[key])) throw new P2pdError('USAGE', `--${key} is given more than once`);
  }
  return true;
}

function optionNames(y: Introspect, usage: string): string[] {
  const positional = new Set([...usage.matchAll(/[<[]([^>\]]+?)(?:\.\.)?[>\]]/g)].map((m) => m[1]));
  return Object.keys(y.getOptions().key).filter((k) => k !== '$0' && !/[A-Z]/.test(k) && !positional.has(k));
}

function isUsageProblem(err: unknown): boolean {
  return (err instanceof P2pdError && err.code === 'USAGE') || (err instanceof Error && err.name === 'YError');
}

/** One error, said once: on stderr, and as the one document on stdout with --json. */
function report(deps: CliDeps, json: boolean, err: unknown, usagePath?: string[]): number {
  const e = toP2pdError(err);
  if (json) deps.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
  deps.stderr.write(`p2pd: ${safe(e.message)}\n`);
  if (usagePath !== undefined) {
    const help = ['p2pd', ...usagePath, '--help'].join(' ');
    deps.stderr.write(`Run \`${help}\` for ${usagePath.length === 0 ? 'the commands and their options' : 'its arguments and options'}.\n`);
  }
  if (e.code === 'INTERNAL' && err instanceof Error && err.stack) deps.stderr.write(`${err.stack}\n`);
  return e.exitStatus;
}
