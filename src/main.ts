#!/usr/bin/env node
/**
 * The executable: argv to the CLI, or to the daemon for `p2pd daemon`. The only module that
 * reads process.* or exits.
 */
import { readFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { P2pdError, toP2pdError } from './errors.js';
import type { LoadedConfig } from './config/types.js';
import { plainDaemonCommand } from './plain-daemon-command.js';

// V8 grows its young generation (two semi-spaces, 1 MiB each at start) up to 2 × 16 MiB when much
// survives a scavenge, which loading this program's modules does: a daemon would keep 16 MiB of
// young generation for 2 MiB of work, and 32 MiB during a send. Where p2pd starts the daemon
// itself (service units, npm start) node gets --max-semi-space-size=1; for any other start this
// holds the young generation at 1 MiB, set before anything else is loaded (the modules below are
// imported only after this line), until V8 resets it when a worker thread starts. A re-exec with
// the flag would cost a second node process. See docs/PERFORMANCE.md#memory.
setFlagsFromString('--semi-space-growth-factor=1');
// After each major collection V8 lets the old generation grow to a multiple (1.1 to 4, from its
// own speed measurements) of what survived before it collects again. A send of many small files
// promotes garbage steadily (about 50 KiB of objects per file on the receiver), so a daemon's heap
// filled up to that limit and glibc kept the high-water mark resident: 130 to 160 MB at the peak
// of a send of 10,000 files. A factor of 1.25 holds both daemons near 85 to 115 MB with no CPU
// cost measured (docs/PERFORMANCE.md). Unlike the growth factor above, this one stays set when a
// worker thread starts.
setFlagsFromString('--heap-growing-percent=25');

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function runDaemon(loaded: LoadedConfig, reloadConfig: (file?: string) => LoadedConfig): Promise<number> {
  // Loaded only here: the other commands need neither.
  const [{ Daemon }, { createLogger }] = await Promise.all([import('./daemon/index.js'), import('./log.js')]);
  const logger = createLogger({ level: loaded.config.logLevel, pretty: process.stdout.isTTY === true });
  const daemon = new Daemon({ logger, version, pid: process.pid, loadConfigFile: (file) => reloadConfig(file) }, loaded);
  const root = new AbortController();
  let firstSignalAt = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      // A signal that arrives twice at once (sent to the process and to its group) counts once;
      // only a later second signal from a person (Ctrl-C twice) means "exit now".
      if (firstSignalAt !== 0) {
        if (Date.now() - firstSignalAt < 500) return;
        logger.warn({ signal: sig }, 'second signal: exiting at once');
        resolve(1);
        return;
      }
      firstSignalAt = Date.now();
      logger.info({ signal: sig }, 'stopping: finishing or cancelling transfers, sending mDNS goodbyes');
      root.abort(new P2pdError('TRANSFER_CANCELLED', `the daemon got ${sig}`));
      void daemon.stop().then(() => resolve(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    let lastReload = 0;
    process.on('SIGHUP', () => {
      // The same signal arriving twice at once would reload twice.
      if (Date.now() - lastReload < 500) return;
      lastReload = Date.now();
      try {
        daemon.reload(reloadConfig());
      } catch (err) {
        const e = toP2pdError(err);
        logger.error({ code: e.code, err: e.message }, 'config not reloaded: the old settings stay in force');
      }
    });
  });
  try {
    await daemon.start({ signal: root.signal });
  } catch (err) {
    const e = toP2pdError(err);
    logger.fatal({ code: e.code, err: e.message, details: e.details }, `cannot start: ${e.message}`);
    logger.flush?.();
    return e.exitStatus;
  }
  return stopped;
}

process.on('uncaughtException', (err) => {
  // A bug must not pass silently; the unit's Restart=on-failure brings the daemon back.
  process.stderr.write(`p2pd: internal error: ${err.stack ?? String(err)}\n`);
  process.exit(70);
});

/**
 * A reader that went away (`p2pd peers | head -1`) is not a bug: what is left to print goes
 * nowhere and the command ends as it would have, without a stack trace.
 */
function quietWhenClosed(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}
quietWhenClosed(process.stdout);
quietWhenClosed(process.stderr);

function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    // no passwd entry for this uid (a container with an arbitrary uid)
    return process.env.USER ?? process.env.LOGNAME ?? String(process.getuid?.() ?? 'user');
  }
}

/**
 * Starts the daemon without loading the CLI (yargs and every command's module): about 5 MB less
 * resident for as long as it runs (docs/PERFORMANCE.md#memory). Undefined when the config does not
 * load: the CLI then reads it again and reports the problem as for any command.
 */
async function runPlainDaemon(args: { config?: string }): Promise<number | undefined> {
  const { loadConfig } = await import('./config/load.js');
  const read = (file?: string): LoadedConfig =>
    loadConfig({ file: file ?? args.config, env: process.env, home: homedir(), hostname: hostname(), cwd: process.cwd() });
  let loaded: LoadedConfig;
  try {
    loaded = read();
  } catch {
    return undefined;
  }
  return runDaemon(loaded, read);
}

async function runCommandLine(argv: string[]): Promise<number> {
  const plain = plainDaemonCommand(argv);
  const direct = plain === undefined ? undefined : await runPlainDaemon(plain);
  if (direct !== undefined) return direct;
  // The CLI with its third-party modules in one file (tools/build-cli-bundle.mjs): a faster start.
  const { runCli } = await import('./cli/bundle.js');
  return runCli(argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    home: homedir(),
    hostname: hostname(),
    version,
    platform: process.platform,
    execPath: process.execPath,
    mainScript: fileURLToPath(import.meta.url),
    uid: process.getuid?.() ?? -1,
    userName: currentUserName(),
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
    runDaemon,
  });
}

const status = await runCommandLine(process.argv.slice(2));
process.exitCode = status;
// The daemon's sockets and timers are closed by now; anything left must not keep the CLI alive.
setTimeout(() => process.exit(status), 200).unref();
