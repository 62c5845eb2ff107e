/**
 * What every scenario shares: the run's context, one method's samples over the rounds, the
 * interleaved rounds themselves, and the flushes that make each timed step start clean.
 */
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { otherCpuBetween, type OtherCpu } from './contention.js';
import type { Lifecycle } from './lifecycle.js';
import type { BenchOptions } from './options.js';
import type { P2pdPair } from './p2pd.js';
import { runOk } from './proc.js';
import type { SshServer } from './ssh.js';
import type { Topology } from './topology.js';
import { median, type MethodId, type MethodResult, type ScenarioResult } from './types.js';

/** A run during which other processes took more than this share of one core is marked unreliable. */
const CONTENDED_SHARE = 0.1;
const GiB = 2 ** 30;

export type Log = (msg: string) => void;

export interface Context {
  life: Lifecycle;
  log: Log;
  options: BenchOptions;
  topo: Topology;
  work: string;
  p2pd: P2pdPair;
  ssh: SshServer | null;
  /** Why scp and rsync cannot run (null: they can). */
  sshSkipped: string | null;
  /** Why nc cannot run (null: it can). */
  ncSkipped: string | null;
  others: OtherCpu;
  /** Per-step time limit for moving `bytes`: a generous floor of 4 MiB/s plus a minute. */
  stepSignal(bytes: number): AbortSignal;
}

/** What one method gathered over the runs of one scenario. */
export class Samples {
  readonly seconds: number[] = [];
  readonly cpu: Array<{ sender: number; receiver: number }> = [];
  /** CPU seconds other processes used during each timed run (null: not measurable). */
  readonly otherCpu: Array<number | null> = [];
  readonly otherCommands = new Set<string>();
  readonly #notes: string[] = [];
  rss: { sender: number | null; receiver: number | null } | null = null;
  failed: string | null = null;
  skipped: string | null = null;

  constructor(
    readonly id: MethodId,
    readonly label: string,
    readonly durability: string,
  ) {}

  note(text: string): void {
    if (!this.#notes.includes(text)) this.#notes.push(text);
  }

  addRss(sender: number | null, receiver: number | null): void {
    const max = (a: number | null | undefined, b: number | null): number | null => (a == null ? b : b === null ? a : Math.max(a, b));
    this.rss = { sender: max(this.rss?.sender, sender), receiver: max(this.rss?.receiver, receiver) };
  }

  result(bytes: number, files: number): MethodResult {
    const seconds = this.failed === null && this.skipped === null ? median(this.seconds) : null;
    const cpu = this.cpu.length === 0 ? null : { sender: median(this.cpu.map((c) => c.sender))!, receiver: median(this.cpu.map((c) => c.receiver))! };
    return {
      id: this.id,
      label: this.label,
      status: this.skipped !== null ? 'skipped' : this.failed !== null ? 'failed' : 'ok',
      reason: this.skipped ?? this.failed,
      runs: this.seconds,
      seconds,
      bytesPerSecond: seconds === null ? null : bytes / seconds,
      filesPerSecond: seconds === null ? null : files / seconds,
      vsNc: null,
      vsScp: null,
      cpuSeconds: cpu,
      cpuSecondsPerGiB: cpu === null ? null : { sender: (cpu.sender * GiB) / bytes, receiver: (cpu.receiver * GiB) / bytes },
      peakRssBytes: this.rss,
      otherCpuSeconds: this.otherCpu,
      otherCommands: [...this.otherCommands],
      contended: this.otherCpu.some((c, i) => c !== null && c > CONTENDED_SHARE * (this.seconds[i] ?? Infinity)),
      durability: this.durability,
      notes: [...this.#notes],
    };
  }
}

/** The scenario's results, each method's rate set against nc's and scp's. */
export function scenarioResult(base: Omit<ScenarioResult, 'methods'>, samples: Samples[]): ScenarioResult {
  const methods = samples.map((s) => s.result(base.bytes, base.files));
  const rate = (id: MethodId): number | null => methods.find((m) => m.id === id)?.bytesPerSecond ?? null;
  const nc = rate('nc');
  const scp = rate('scp');
  for (const m of methods) {
    if (m.bytesPerSecond === null) continue;
    m.vsNc = nc === null ? null : m.bytesPerSecond / nc;
    m.vsScp = scp === null ? null : m.bytesPerSecond / scp;
  }
  return { ...base, methods };
}

/**
 * Starts counting the CPU time of processes that are not the bench's; the function it returns
 * stops counting and records the figure with the run. Called around the timed part only.
 */
export async function watchOthers(ctx: Context, s: Samples): Promise<() => Promise<void>> {
  const before = await ctx.others.sample();
  return async () => {
    const after = await ctx.others.sample();
    if (before === null || after === null) {
      s.otherCpu.push(null);
      return;
    }
    const { seconds, top } = otherCpuBetween(before, after);
    s.otherCpu.push(seconds);
    for (const [command] of top) s.otherCommands.add(command);
  };
}

/** One method of a scenario: its samples and how to measure it once. */
export interface Method {
  samples: Samples;
  once: (tag: string) => Promise<void>;
}

/** Runs every method `runs` times, starting each round one method later so no method always goes first. */
export async function rounds(ctx: Context, methods: Method[], runs = ctx.options.runs): Promise<void> {
  for (let run = 0; run < runs; run++) {
    const tag = runs > 1 ? ` (run ${run + 1}/${runs})` : '';
    const order = [...methods.slice(run % methods.length), ...methods.slice(0, run % methods.length)];
    for (const m of order) await attempt(ctx, m.samples, () => m.once(tag));
  }
}

/**
 * Runs one measurement. p2pd and the Node pipes must work (a failure ends the bench); the other
 * tools depend on the machine, so their failure is recorded and the bench goes on.
 */
async function attempt(ctx: Context, s: Samples, fn: () => Promise<void>): Promise<void> {
  if (s.failed !== null || s.skipped !== null) return;
  ctx.life.signal.throwIfAborted();
  try {
    await fn();
  } catch (err) {
    if (ctx.life.signal.aborted || s.id === 'p2pd' || s.id === 'tcp' || s.id === 'tls') throw err;
    s.failed = `failed: ${(err as Error).message}`;
    ctx.log(`${s.label} ${s.failed}`);
  }
}

/** Flushes everything written so far on the file system of `dir` (syncfs); returns the seconds it took. */
export async function syncfs(ctx: Context, dir: string): Promise<number> {
  const started = performance.now();
  await runOk(ctx.life, 'sync', ['-f', dir], { signal: ctx.stepSignal(0) });
  return (performance.now() - started) / 1000;
}

export async function fsyncFile(path: string): Promise<number> {
  const started = performance.now();
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return (performance.now() - started) / 1000;
}

/** Samples for scp and rsync, skipped together when the tools or the sshd are missing. */
export function sshSamples(ctx: Context, tree: boolean): [Samples, Samples] {
  const rsyncFsync = !tree && (ctx.ssh?.tools.rsyncHasFsync ?? true);
  const scp = new Samples('scp', tree ? 'scp -r (aes128-gcm)' : 'scp (aes128-gcm)', tree ? 'one sync -f after scp exits' : 'the bench (fsync) after scp exits');
  const rsync = new Samples(
    'rsync',
    tree ? 'rsync -a over ssh' : 'rsync over ssh',
    rsyncFsync ? 'rsync itself (--fsync)' : tree ? 'one sync -f after rsync exits' : 'the bench (fsync) after rsync exits',
  );
  for (const x of [scp, rsync]) if (ctx.ssh === null) x.skipped = ctx.sshSkipped;
  return [scp, rsync];
}

/** Records one p2pd send: its seconds, each daemon's CPU and sampled peak RSS. */
export function p2pdMethod(
  ctx: Context,
  s: Samples,
  src: string,
  what: string,
  expect: { bytes: number; files: number },
  check: () => Promise<void>,
  onDone?: (rate: number) => void,
): Method {
  return {
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, ctx.work);
      ctx.log(`p2pd send bob ${what}${tag}`);
      const watched = await watchOthers(ctx, s);
      const r = await ctx.p2pd.send(src, ctx.stepSignal(expect.bytes + expect.files * 64 * 1024));
      await watched();
      if (r.bytes !== expect.bytes || r.files !== expect.files) throw new Error(`p2pd reported ${r.files} files, ${r.bytes} bytes`);
      s.seconds.push(r.seconds);
      if (r.cpuSeconds.alice !== null && r.cpuSeconds.bob !== null) s.cpu.push({ sender: r.cpuSeconds.alice, receiver: r.cpuSeconds.bob });
      s.addRss(r.sampledRssBytes.alice, r.sampledRssBytes.bob);
      s.note("CPU is each daemon's during the send (the CLI's not counted); peak RSS is each daemon's VmRSS sampled every 100 ms");
      onDone?.(r.daemonBytesPerSecond);
      await check();
    },
  };
}
