/**
 * The user's onReceive program, run for each verified received file with the file's path and the
 * sender as arguments. Never through a shell (a file name cannot become a command), never more
 * than a few at once, killed after a timeout; its failures are logged and never touch a transfer.
 *
 * A received name may begin with `-`: the file is always passed as an absolute path, so no
 * program can read it as an option. The sender's name comes after it and may begin with `-`
 * too: programs read their arguments by position (docs/GUIDE.md says so).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Logger } from '../log.js';
import type { Service } from '../lifecycle.js';

const MAX_RUNNING = 2;
const MAX_QUEUED = 1000;
const OUTPUT_LOGGED = 2000;

export interface ReceivedFile {
  path: string;
  peer: { id: string; name: string };
}

export class OnReceiveRunner implements Service {
  readonly name = 'onReceive';
  readonly #log: Logger;
  #command: readonly string[];
  #timeoutMs: number;
  #running = 0;
  readonly #queue: ReceivedFile[] = [];
  #stopped = false;

  constructor(deps: { logger: Logger }, options: { command: readonly string[]; timeoutMs: number }) {
    this.#log = deps.logger;
    this.#command = options.command;
    this.#timeoutMs = options.timeoutMs;
  }

  configure(options: { command: readonly string[]; timeoutMs: number }): void {
    this.#command = options.command;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Queues a run; returns at once. */
  received(file: ReceivedFile): void {
    if (this.#command.length === 0 || this.#stopped) return;
    if (this.#queue.length >= MAX_QUEUED) {
      this.#log.warn({ path: file.path }, 'onReceive queue is full; not running it for this file');
      return;
    }
    this.#queue.push(file);
    this.#next();
  }

  /** Nothing to start: runs begin as files arrive. */
  async start(_options: { signal: AbortSignal }): Promise<void> {}

  /** Drops queued runs; running programs are not waited for (their timeout still applies). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue.length = 0;
  }

  #next(): void {
    while (this.#running < MAX_RUNNING && this.#queue.length > 0) {
      const file = this.#queue.shift()!;
      this.#running++;
      void this.#run(file).finally(() => {
        this.#running--;
        this.#next();
      });
    }
  }

  #run(file: ReceivedFile): Promise<void> {
    const [program, ...args] = this.#command;
    const path = resolve(file.path);
    const argv = [...args, path, file.peer.name, file.peer.id];
    const log = this.#log.child({ onReceive: program, path: file.path });
    return new Promise((resolve) => {
      let output = '';
      const child = spawn(program!, argv, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
      const collect = (d: Buffer): void => {
        if (output.length < OUTPUT_LOGGED) output += d.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const timer = setTimeout(() => {
        log.warn({ timeoutMs: this.#timeoutMs }, 'onReceive took too long; killing it');
        child.kill('SIGKILL');
      }, this.#timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        log.warn({ err: err.message }, 'onReceive could not be started');
        resolve();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const out = output.slice(0, OUTPUT_LOGGED).trim();
        if (code === 0) log.info({ output: out || undefined }, 'onReceive done');
        else log.warn({ code, signal, output: out || undefined }, 'onReceive failed');
        resolve();
      });
    });
  }
}
