/** Child processes with timing and cancellation, readings from /proc, and facts about the machine. */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Lifecycle } from './lifecycle.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to the process's exit. */
  seconds: number;
}

export interface RunOptions {
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** 'pipe': an open stdin that is never written to nor closed (the pipe children exit when it closes). */
  stdin?: 'pipe' | 'ignore';
  /** Its own process group, killed as a whole: for `sh -c` pipelines, whose members outlive a killed shell. */
  group?: boolean;
}

/** Sends `signal` to the child, or to its whole process group when it has one of its own. */
function kill(child: ChildProcess, group: boolean, signal: NodeJS.Signals): void {
  try {
    if (group && child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

/** Runs a command to its end. SIGKILLed when `signal` aborts (rejecting with its reason). */
export function run(life: Lifecycle, cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal, cmd));
      return;
    }
    const started = performance.now();
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      detached: options.group ?? false,
    });
    child.stdin?.on('error', () => undefined);
    const tracked = options.group === true && child.pid !== undefined ? -child.pid : child.pid;
    life.trackPid(tracked);
    let stdout = '';
    let stderr = '';
    let exitedAt = 0;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const onAbort = (): void => kill(child, options.group ?? false, 'SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('exit', () => {
      exitedAt = performance.now();
      life.untrackPid(tracked);
    });
    child.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) {
        reject(abortError(signal, cmd));
        return;
      }
      resolve({ code, signal: sig, stdout, stderr, seconds: ((exitedAt || performance.now()) - started) / 1000 });
    });
  });
}

/** `run` that insists on exit status 0. */
export async function runOk(life: Lifecycle, cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const r = await run(life, cmd, args, options);
  if (r.code !== 0) {
    const why = r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.code}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}\n${lastLines(r.stderr || r.stdout, 15)}`);
  }
  return r;
}

export function abortError(signal: AbortSignal, what: string): Error {
  const reason = signal.reason as unknown;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new Error(`${what}: timed out`);
  if (reason instanceof Error) return reason;
  return new Error(`${what}: aborted`);
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * A long-lived child (a server): its output is kept, line by line, for `waitFor`; it is stopped
 * at cleanup if nobody stopped it before.
 */
export class Service {
  readonly child: ChildProcess;
  readonly name: string;
  #output = '';
  readonly #lines: string[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #exited: Promise<void>;
  readonly #undefer: () => void;
  readonly #life: Lifecycle;
  readonly #group: boolean;
  /** What Lifecycle.killAll() kills: the pid, or the process group (a negative pid). */
  readonly #tracked: number | undefined;

  constructor(life: Lifecycle, name: string, cmd: string, args: readonly string[], options: { stdin?: 'pipe' | 'ignore'; group?: boolean } = {}) {
    this.name = name;
    this.#life = life;
    this.#group = options.group ?? false;
    this.child = spawn(cmd, args, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'], detached: this.#group });
    this.child.stdin?.on('error', () => undefined);
    this.#tracked = this.#group && this.child.pid !== undefined ? -this.child.pid : this.child.pid;
    life.trackPid(this.#tracked);
    this.#exited = new Promise((resolve) => {
      this.child.on('exit', () => {
        // A group's other members (a pipeline's) may still run: killAll keeps the group until stop().
        if (!this.#group) life.untrackPid(this.child.pid);
        this.#wake();
        resolve();
      });
      this.child.on('error', (err) => {
        this.#output += `\n${err.message}`;
        this.#wake();
        resolve();
      });
    });
    const onData = (stream: NodeJS.ReadableStream): void => {
      let partial = '';
      stream.on('data', (d: Buffer) => {
        const text = partial + d.toString();
        this.#output += d.toString();
        const parts = text.split('\n');
        partial = parts.pop()!;
        this.#lines.push(...parts);
        this.#wake();
      });
    };
    onData(this.child.stdout!);
    onData(this.child.stderr!);
    this.#undefer = life.defer(`stop ${name}`, () => this.stop());
  }

  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Resolves with the first line (seen so far or later) that `match` accepts. */
  async waitFor<T>(match: (line: string) => T | undefined, signal: AbortSignal, what: string): Promise<T> {
    let seen = 0;
    for (;;) {
      for (; seen < this.#lines.length; seen++) {
        const hit = match(this.#lines[seen]!);
        if (hit !== undefined) return hit;
      }
      if (!this.running) throw new Error(`${this.name} exited before ${what}:\n${lastLines(this.#output, 15)}`);
      if (signal.aborted) throw abortError(signal, `${this.name}: waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.#undefer();
    if (this.running) {
      kill(this.child, this.#group, 'SIGTERM');
      const timer = setTimeout(() => kill(this.child, this.#group, 'SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    // Whatever is left of a pipeline (a reader still waiting for its writer) goes too.
    if (this.#group) kill(this.child, true, 'SIGKILL');
    this.#life.untrackPid(this.#tracked);
  }

  exited(): Promise<void> {
    return this.#exited;
  }
}

/** Parses the JSON lines a child prints, skipping anything else. */
export function jsonLine<T extends { event: string }>(event: T['event']): (line: string) => T | undefined {
  return (line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const v = JSON.parse(line) as T;
      return v.event === event ? v : undefined;
    } catch {
      return undefined;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// /proc

async function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Peak resident set size of a live process so far (VmHWM), in bytes. */
export async function peakRssBytes(pid: number): Promise<number | null> {
  const kib = await statusKiB(pid, 'VmHWM');
  return kib === null ? null : kib * 1024;
}

export async function rssBytes(pid: number): Promise<number | null> {
  const kib = await statusKiB(pid, 'VmRSS');
  return kib === null ? null : kib * 1024;
}

/** Linux reports CPU time in USER_HZ ticks, which is 100 on every architecture Node runs on. */
export const USER_HZ = 100;

/** User + system CPU seconds a live process has used so far. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return null;
  }
}

/** Samples VmRSS of some processes every 100 ms; `stop()` gives each one's highest sample. */
export class RssSampler {
  readonly #pids: number[];
  readonly #max: number[];
  readonly #timer: NodeJS.Timeout;
  #stopped: Promise<void> | undefined;

  constructor(pids: number[], intervalMs = 100) {
    this.#pids = pids;
    this.#max = pids.map(() => 0);
    this.#timer = setInterval(() => void this.#sample(), intervalMs);
  }

  async #sample(): Promise<void> {
    await Promise.all(
      this.#pids.map(async (pid, i) => {
        const rss = await rssBytes(pid);
        if (rss !== null && rss > this.#max[i]!) this.#max[i] = rss;
      }),
    );
  }

  /** Stops sampling (once; later calls give the same figures). */
  async stop(): Promise<number[]> {
    if (this.#stopped === undefined) {
      clearInterval(this.#timer);
      this.#stopped = this.#sample();
    }
    await this.#stopped;
    return [...this.#max];
  }
}

// ---------------------------------------------------------------------------------------------
// The machine

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  node: string;
  tmpdir: string;
  tmpdirFs: string;
  /** Share of all cores busy (0 to 1) over half a second just before the bench, from /proc/stat. */
  busyBeforeStart: number | null;
  /** The same, measured once more at the end while the bench's own processes sit idle. */
  busyAtEnd: number | null;
  loadAverage1m: number;
}

async function cpuJiffies(): Promise<{ busy: number; total: number } | null> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** How busy the CPUs are (0 to 1) over `ms`: other work skews every figure on a small machine. */
export async function cpuBusy(ms: number): Promise<number | null> {
  const a = await cpuJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = await cpuJiffies();
  if (a === null || b === null || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

const FS_MAGIC: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x01021994: 'tmpfs',
  0x9123683e: 'btrfs',
  0x58465342: 'xfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
};

export async function machineFacts(): Promise<MachineFacts> {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(await readFile('/proc/cpuinfo', 'utf8'));
    if (m !== null) cpuModel = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() will do
  }
  let tmpdirFs = 'unknown';
  try {
    const type = (await statfs(os.tmpdir())).type;
    tmpdirFs = FS_MAGIC[type] ?? `0x${type.toString(16)}`;
  } catch {
    // leave it unknown
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    tmpdir: os.tmpdir(),
    tmpdirFs,
    busyBeforeStart: await cpuBusy(500),
    busyAtEnd: null,
    loadAverage1m: os.loadavg()[0]!,
  };
}

/** The absolute path of an executable on PATH (and in the sbin directories, where sshd lives). */
export async function which(name: string): Promise<string | null> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return null;
}
