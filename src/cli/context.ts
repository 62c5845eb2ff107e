/** What every command gets: its streams and a way to reach the daemon, injected by main. */
import type { LoadedConfig } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import { ControlClient } from '../control/client.js';

export interface OutStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface CliDeps {
  /** For yes/no prompts; prompts are only shown when it is a terminal. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: OutStream;
  stderr: OutStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  hostname: string;
  version: string;
  /** process.platform: which service manager `p2pd service` writes for. */
  platform: NodeJS.Platform;
  /** Absolute path of node: what a service unit runs. */
  execPath: string;
  /** Absolute path of this package's dist/src/main.js: the script a service unit runs. */
  mainScript: string;
  /** The user running the CLI: process.getuid() (-1 where there is none) and the user name. */
  uid: number;
  userName: string;
  /**
   * Calls `handler` on Ctrl-C (SIGINT) instead of letting it kill the process, until the returned
   * function is called. Absent: Ctrl-C does what it always does.
   */
  onInterrupt?: (handler: () => void) => () => void;
  /** Runs the daemon in the foreground until it is told to stop; resolves with an exit status. */
  runDaemon: (loaded: LoadedConfig, reload: (file?: string) => LoadedConfig) => Promise<number>;
}

export interface GlobalArgs {
  config?: string;
  json?: boolean;
}

export class CliContext {
  readonly deps: CliDeps;
  readonly args: GlobalArgs;
  #loaded: LoadedConfig | undefined;

  constructor(deps: CliDeps, args: GlobalArgs) {
    this.deps = deps;
    this.args = args;
  }

  get json(): boolean {
    return this.args.json === true;
  }

  config(): LoadedConfig {
    this.#loaded ??= this.readConfig();
    return this.#loaded;
  }

  /** Reads the config file afresh (for a daemon's SIGHUP), or `file` instead when given. */
  readConfig(file?: string): LoadedConfig {
    return loadConfig({
      file: file ?? this.args.config,
      env: this.deps.env,
      home: this.deps.home,
      hostname: this.deps.hostname,
      cwd: this.deps.cwd,
    });
  }

  client(): ControlClient {
    return new ControlClient({ socketPath: this.config().config.controlSocket, uid: this.deps.uid });
  }

  out(text: string): void {
    this.deps.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  err(text: string): void {
    this.deps.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.deps.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
