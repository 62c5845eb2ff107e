/**
 * Real daemons for integration tests: each in its own temp dir with its own config, state, inbox
 * and control socket, listening on port 0 and announcing over mDNS on loopback only, so no packet
 * leaves the machine. The CLI is driven as a user would: the real executable in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `p2pd ...args` (inside `prefix`, e.g. `ip netns exec ns`) and collects its output; killed after `timeoutMs`. */
export function cli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; prefix?: string[] } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...rest] = [...(options.prefix ?? []), process.execPath, MAIN, ...args];
    const child = spawn(cmd!, rest, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd ?? process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface DaemonOptions {
  name: string;
  accept?: 'trusted' | 'all' | 'ask';
  interfaces?: string[];
  extra?: Record<string, unknown>;
  /** Wraps the command, e.g. ['ip', 'netns', 'exec', 'ns1'] for a namespace. */
  prefix?: string[];
}

export class TestDaemon {
  readonly name: string;
  readonly dir: string;
  readonly configPath: string;
  readonly inbox: string;
  #child: ChildProcess | undefined;
  #log = '';
  readonly #prefix: string[];

  private constructor(name: string, dir: string, prefix: string[]) {
    this.name = name;
    this.dir = dir;
    this.configPath = join(dir, 'config.json');
    this.inbox = join(dir, 'inbox');
    this.#prefix = prefix;
  }

  static async create(options: DaemonOptions): Promise<TestDaemon> {
    // Short paths: a Unix socket path must stay under 108 bytes.
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-'));
    const d = new TestDaemon(options.name, dir, options.prefix ?? []);
    await mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
    const config = {
      name: options.name,
      port: 0,
      inbox: './inbox',
      outbox: './outbox',
      stateDir: './state',
      accept: options.accept ?? 'trusted',
      interfaces: options.interfaces ?? ['lo'],
      logLevel: 'debug',
      discovery: { enabled: true, refreshSeconds: 1, expireSeconds: 5 },
      // Port 0 like every test socket; the dashboard tests read the address from `p2pd ui --json`.
      dashboard: { port: 0 },
      ...options.extra,
    };
    await writeFile(d.configPath, JSON.stringify(config, null, 2));
    return d;
  }

  get log(): string {
    return this.#log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Starts the daemon and waits until its control socket answers. With `fromLog`, waits for its
   * "ready" log line instead of asking over the CLI every 100 ms: the cheap way when dozens start
   * at once (each CLI call is a Node process of its own).
   */
  async start(timeoutMs = 20_000, options: { fromLog?: boolean } = {}): Promise<void> {
    // The node flags `p2pd service install` and `npm start` give the daemon (DAEMON_NODE_FLAGS).
    const [cmd, ...rest] = [...this.#prefix, process.execPath, '--max-semi-space-size=1', MAIN, 'daemon', '--config', this.configPath];
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout!.on('data', (d: Buffer) => (this.#log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.#log += d.toString()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`daemon ${this.name} exited with ${child.exitCode}:\n${this.#log}`);
      if (options.fromLog === true) {
        if (/"msg":"p2pd [^"]* ready: /.test(this.#log)) return;
        await sleep(100);
        continue;
      }
      const r = await this.cli(['id', '--json'], 5000);
      if (r.code === 0) return;
      await sleep(100);
    }
    throw new Error(`daemon ${this.name} did not start in time:\n${this.#log}`);
  }

  cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return cli([...args, '--config', this.configPath], { timeoutMs, prefix: this.#prefix });
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`p2pd ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  async id(): Promise<string> {
    return (await this.json<{ id: string }>(['id'])).id;
  }

  /** Waits until `peerName` shows in this daemon's peer table (over real mDNS). */
  async waitForPeer(peerName: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        const { peers } = await this.json<{ peers: Array<{ name: string; online: boolean }> }>(['peers']);
        return peers.some((p) => p.name === peerName && p.online);
      },
      timeoutMs,
      `${this.name} to see ${peerName}`,
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  async destroy(): Promise<void> {
    const child = this.#child;
    if (child !== undefined && child.exitCode !== null && child.exitCode !== 0) {
      // A daemon that died on its own during a test is a bug: show why.
      console.error(`--- daemon ${this.name} exited with ${child.exitCode}; its log:\n${this.#log.split('\n').slice(-40).join('\n')}`);
    }
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${what}`);
}
