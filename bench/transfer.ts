/**
 * `npm run bench`: p2pd's throughput next to what else could move the same bytes on this machine,
 * measured side by side in one run over 127.0.0.1:
 *
 *   p2pd      two daemons (alice → bob), `p2pd send` timed from the CLI's start to its exit
 *   raw TCP   a Node sender process piping the file into a Node receiver process, which fsyncs
 *   TLS       the same over mutual TLS 1.3 (AES-128-GCM) with SHA-256 on both ends
 *   scp       OpenSSH over a throwaway sshd, then fsync         (when sshd, scp, rsync exist)
 *   rsync     rsync --whole-file over the same sshd, --fsync
 *
 * then the same for many small files (p2pd, scp -r, rsync -r). Prints a table (or --json), and
 * stops and removes everything it started on every way out. `npm run bench -- --help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hashTree, sha256File, writeRandomFile } from '../test/helpers/files.js';
import { identityPaths, loadOrCreateIdentity } from '../src/transport/index.js';
import { OtherCpu, otherCpuBetween } from './contention.js';
import { Lifecycle } from './lifecycle.js';
import { parseOptions, USAGE, type BenchOptions } from './options.js';
import { P2pdPair } from './p2pd.js';
import { runPipe, type TlsFiles } from './pipe.js';
import { cpuBusy, machineFacts, runOk } from './proc.js';
import { formatHuman, formatJson, median, type BenchResult, type MethodResult, type ScenarioResult } from './report.js';
import { findSshTools, SSH_CIPHER, SshServer, type SshTools } from './ssh.js';

const MiB = 1 << 20;
const RATIO_GOAL = 0.6;
const RSS_GOAL_BYTES = 150e6;
/** A run during which other processes took more than this share of one core is marked unreliable. */
const CONTENDED_SHARE = 0.1;

type Log = (msg: string) => void;

/** What one method gathered over the runs of one scenario. */
class Samples {
  readonly seconds: number[] = [];
  /** The part of each run's time spent in the final fsync, where it can be told apart. */
  readonly fsyncSeconds: number[] = [];
  readonly cpu: Array<{ sender: number; receiver: number }> = [];
  /** CPU seconds other processes used during each timed run (null: not measurable). */
  readonly otherCpu: Array<number | null> = [];
  /** What those other processes were running. */
  readonly otherCommands = new Set<string>();
  readonly #notes: string[] = [];
  rss: { sender: number | null; receiver: number | null } | null = null;
  failed: string | null = null;
  skipped: string | null = null;
  readonly id: MethodResult['id'];
  readonly label: string;
  readonly durability: string;

  constructor(id: MethodResult['id'], label: string, durability: string) {
    this.id = id;
    this.label = label;
    this.durability = durability;
  }

  note(text: string): void {
    if (!this.#notes.includes(text)) this.#notes.push(text);
  }

  addRss(sender: number | null, receiver: number | null): void {
    const max = (a: number | null | undefined, b: number | null): number | null => (a == null ? b : b === null ? a : Math.max(a, b));
    this.rss = { sender: max(this.rss?.sender, sender), receiver: max(this.rss?.receiver, receiver) };
  }

  result(bytes: number, files: number, p2pdSeconds: number | null): MethodResult {
    const seconds = this.failed === null && this.skipped === null ? median(this.seconds) : null;
    const fsync = median(this.fsyncSeconds);
    const runs = this.seconds.length;
    return {
      id: this.id,
      label: this.label,
      status: this.skipped !== null ? 'skipped' : this.failed !== null ? 'failed' : 'ok',
      reason: this.skipped ?? this.failed,
      runs: this.seconds,
      seconds,
      bytesPerSecond: seconds === null ? null : bytes / seconds,
      filesPerSecond: seconds === null ? null : files / seconds,
      p2pdRatio: seconds === null || p2pdSeconds === null ? null : seconds / p2pdSeconds,
      cpuSeconds: this.cpu.length === 0 ? null : { sender: median(this.cpu.map((c) => c.sender))!, receiver: median(this.cpu.map((c) => c.receiver))! },
      peakRssBytes: this.rss,
      otherCpuSeconds: this.otherCpu,
      otherCommands: [...this.otherCommands],
      contended: this.otherCpu.some((c, i) => c !== null && c > CONTENDED_SHARE * (this.seconds[i] ?? Infinity)),
      durability: this.durability,
      notes: [...(fsync === null ? [] : [`the final fsync took ${fsync.toFixed(2)} s of that${runs > 1 ? ' (median)' : ''}`]), ...this.#notes],
    };
  }
}

/**
 * Starts counting the CPU time of processes that are not the bench's; the function it returns
 * stops counting and records the figure with the run. Called around the timed part only.
 */
async function watchOthers(ctx: Context, s: Samples): Promise<() => Promise<void>> {
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
interface Method {
  samples: Samples;
  once: (tag: string) => Promise<void>;
}

/** Runs every method `runs` times, starting each round one method later so no method always goes first. */
async function rounds(ctx: Context, methods: Method[]): Promise<void> {
  const runs = ctx.options.runs;
  for (let run = 0; run < runs; run++) {
    const tag = runs > 1 ? ` (run ${run + 1}/${runs})` : '';
    const order = [...methods.slice(run % methods.length), ...methods.slice(0, run % methods.length)];
    for (const m of order) await attempt(ctx, m.samples, () => m.once(tag));
  }
}

interface Context {
  life: Lifecycle;
  log: Log;
  options: BenchOptions;
  work: string;
  p2pd: P2pdPair;
  ssh: SshServer | null;
  sshSkipped: string | null;
  others: OtherCpu;
  /** Per-step time limit for moving `bytes`: a generous floor of 4 MiB/s plus a minute. */
  stepSignal(bytes: number): AbortSignal;
}

/** Flushes everything written so far on the file system of `dir` (syncfs): no step inherits dirty pages from the one before. */
async function syncfs(ctx: Context, dir: string): Promise<number> {
  const started = performance.now();
  await runOk(ctx.life, 'sync', ['-f', dir], { signal: ctx.stepSignal(0) });
  return (performance.now() - started) / 1000;
}

async function fsyncFile(path: string): Promise<number> {
  const started = performance.now();
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return (performance.now() - started) / 1000;
}

/**
 * Runs one measurement. p2pd and the Node pipes must work (a failure ends the bench); scp and
 * rsync depend on the machine, so their failure is recorded and the bench goes on.
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

function sshSamples(ctx: Context, recursive: boolean): [Samples, Samples] {
  const rsyncFsync = ctx.ssh?.tools.rsyncHasFsync ?? true;
  const scp = new Samples(
    'scp',
    `scp (${SSH_CIPHER.replace('@openssh.com', '')})`,
    recursive ? 'the bench (sync -f) after scp exits' : 'the bench after scp exits',
  );
  const rsync = new Samples(
    'rsync',
    'rsync --whole-file over ssh',
    rsyncFsync ? 'rsync itself (--fsync)' : recursive ? 'the bench (sync -f) after rsync exits' : 'the bench after rsync exits',
  );
  for (const x of [scp, rsync]) if (ctx.ssh === null) x.skipped = ctx.sshSkipped;
  return [scp, rsync];
}

// ---------------------------------------------------------------------------------------------

async function largeScenario(ctx: Context): Promise<{ scenario: ScenarioResult; daemonRate: number | null }> {
  const { life, log, options, work } = ctx;
  const bytes = options.sizeMiB * MiB;
  const src = join(work, `random-${options.sizeMiB}MiB.bin`);
  log(`writing ${options.sizeMiB} MiB of random data to ${src}`);
  await writeRandomFile(src, bytes);
  await fsyncFile(src);
  const sha256 = await sha256File(src);

  const tlsFiles = await makeTlsIdentities(work);
  const tcp = new Samples('tcp', 'raw TCP (Node, 2 processes)', 'the receiver process');
  const tls = new Samples('tls', 'TLS 1.3 + SHA-256 (Node)', 'the receiver process');
  const p2pd = new Samples('p2pd', 'p2pd send', 'p2pd (then renamed into place)');
  const [scp, rsync] = sshSamples(ctx, false);
  const daemonRates: number[] = [];
  const step = (): AbortSignal => ctx.stepSignal(bytes);
  const check = async (path: string, what: string): Promise<void> => {
    if ((await sha256File(path)) !== sha256) throw new Error(`${what}: the received file's SHA-256 differs from the source's`);
    await rm(path, { force: true });
  };
  const pipe = (s: Samples, name: string, out: string, tlsFilesOrNull: TlsFiles | null): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${name}${tag}`);
      const watched = await watchOthers(ctx, s);
      const r = await runPipe(life, { file: src, out, bytes, sha256, tls: tlsFilesOrNull, signal: step() });
      await watched();
      s.seconds.push(r.seconds);
      s.fsyncSeconds.push(r.fsyncSeconds);
      s.cpu.push(r.cpuSeconds);
      s.addRss(r.maxRssBytes.sender, r.maxRssBytes.receiver);
      if (r.cipher !== null) s.note(`negotiated ${r.cipher}, mutual TLS, SHA-256 computed by both processes`);
      await check(out, name);
    },
  });
  /** scp, and rsync without --fsync, leave the data in the page cache: the bench fsyncs it, timed. */
  const viaSsh = (s: Samples, out: string): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${s.id}${tag}`);
      const watched = await watchOthers(ctx, s);
      const r = await ctx.ssh![s.id as 'scp' | 'rsync'](src, out, { recursive: false, signal: step() });
      let seconds = r.seconds;
      if (!(s.id === 'rsync' && ctx.ssh!.tools.rsyncHasFsync)) {
        const fsyncSeconds = await fsyncFile(out);
        s.fsyncSeconds.push(fsyncSeconds);
        seconds += fsyncSeconds;
      }
      await watched();
      s.seconds.push(seconds);
      await check(out, s.id);
    },
  });

  await rounds(ctx, [
    pipe(tcp, 'raw TCP', join(work, 'out-tcp.bin'), null),
    pipe(tls, 'TLS 1.3 + SHA-256', join(work, 'out-tls.bin'), tlsFiles),
    {
      samples: p2pd,
      once: async (tag) => {
        await syncfs(ctx, work);
        log(`p2pd send bob ${basename(src)}${tag}`);
        const watched = await watchOthers(ctx, p2pd);
        const r = await ctx.p2pd.send(src, step());
        await watched();
        if (r.bytes !== bytes || r.files !== 1) throw new Error(`p2pd reported ${r.files} files, ${r.bytes} bytes`);
        p2pd.seconds.push(r.seconds);
        if (r.cpuSeconds.alice !== null && r.cpuSeconds.bob !== null) p2pd.cpu.push({ sender: r.cpuSeconds.alice, receiver: r.cpuSeconds.bob });
        daemonRates.push(r.daemonBytesPerSecond);
        p2pd.note("CPU is each daemon's during the send (the CLI's not counted); peak RSS is each daemon's VmHWM");
        await check(join(ctx.p2pd.bob.inbox, basename(src)), 'p2pd');
      },
    },
    viaSsh(scp, join(work, 'out-scp.bin')),
    viaSsh(rsync, join(work, 'out-rsync.bin')),
  ]);
  scp.note('OpenSSH 9 scp speaks SFTP; sshd runs on this machine too');
  await rm(src, { force: true });

  const p2pdSeconds = median(p2pd.seconds);
  const p2pdResult = p2pd.result(bytes, 1, p2pdSeconds);
  const peak = await ctx.p2pd.peakRss();
  p2pdResult.peakRssBytes = { sender: peak.alice, receiver: peak.bob };
  return {
    scenario: {
      id: 'large',
      title: `One file of ${options.sizeMiB} MiB (${(bytes / 1e6).toFixed(1)} MB) of random data`,
      bytes,
      files: 1,
      methods: [p2pdResult, ...[tcp, tls, scp, rsync].map((s) => s.result(bytes, 1, p2pdSeconds))],
    },
    daemonRate: median(daemonRates),
  };
}

async function smallScenario(ctx: Context): Promise<ScenarioResult> {
  const { log, options, work } = ctx;
  const files = options.smallFiles;
  const size = options.smallKiB * 1024;
  const bytes = files * size;
  const src = join(work, 'many');
  log(`writing ${files} files of ${options.smallKiB} KiB to ${src}`);
  await mkdir(src);
  const width = String(files - 1).length;
  for (let i = 0; i < files; i++) await writeFile(join(src, `file-${String(i).padStart(width, '0')}.bin`), randomBytes(size));
  await syncfs(ctx, work);
  const expected = JSON.stringify(await hashTree(src));
  const check = async (path: string, what: string): Promise<void> => {
    if (JSON.stringify(await hashTree(path)) !== expected) throw new Error(`${what}: the received tree differs from the source`);
    await rm(path, { recursive: true, force: true });
  };

  const p2pd = new Samples('p2pd', 'p2pd send', 'p2pd (each file, then renamed into place)');
  const [scp, rsync] = sshSamples(ctx, true);
  const step = (): AbortSignal => ctx.stepSignal(bytes + files * 64 * 1024);
  /** scp, and rsync without --fsync, leave the files in the page cache: one sync -f, timed. */
  const viaSsh = (s: Samples, out: string): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${s.id} -r${tag}`);
      // rsync copies the contents of "src/" into "out/"; scp -r makes "out" a copy of "src".
      const [from, to] = s.id === 'rsync' ? [`${src}/`, `${out}/`] : [src, out];
      const watched = await watchOthers(ctx, s);
      const r = await ctx.ssh![s.id as 'scp' | 'rsync'](from, to, { recursive: true, signal: step() });
      let seconds = r.seconds;
      if (!(s.id === 'rsync' && ctx.ssh!.tools.rsyncHasFsync)) {
        const syncSeconds = await syncfs(ctx, out);
        s.fsyncSeconds.push(syncSeconds);
        seconds += syncSeconds;
      }
      await watched();
      s.seconds.push(seconds);
      await check(out, `${s.id} -r`);
    },
  });
  await rounds(ctx, [
    {
      samples: p2pd,
      once: async (tag) => {
        await syncfs(ctx, work);
        log(`p2pd send bob many/ (${files} files)${tag}`);
        const watched = await watchOthers(ctx, p2pd);
        const r = await ctx.p2pd.send(src, step());
        await watched();
        if (r.bytes !== bytes || r.files !== files) throw new Error(`p2pd reported ${r.files} files, ${r.bytes} bytes`);
        p2pd.seconds.push(r.seconds);
        if (r.cpuSeconds.alice !== null && r.cpuSeconds.bob !== null) p2pd.cpu.push({ sender: r.cpuSeconds.alice, receiver: r.cpuSeconds.bob });
        p2pd.addRss(r.sampledRssBytes.alice, r.sampledRssBytes.bob);
        p2pd.note('one connection, no round trip per file; peak RSS here is the highest VmRSS sampled every 100 ms');
        await check(join(ctx.p2pd.bob.inbox, 'many'), 'p2pd');
      },
    },
    viaSsh(scp, join(work, 'out-scp-many')),
    viaSsh(rsync, join(work, 'out-rsync-many')),
  ]);
  await rm(src, { recursive: true, force: true });
  const p2pdSeconds = median(p2pd.seconds);
  return {
    id: 'small',
    title: `${files} files of ${options.smallKiB} KiB (${(bytes / 1e6).toFixed(1)} MB) in one directory`,
    bytes,
    files,
    methods: [p2pd, scp, rsync].map((s) => s.result(bytes, files, p2pdSeconds)),
  };
}

/** Two Ed25519 identities made the way p2pd makes its own, for the TLS baseline's two ends. */
async function makeTlsIdentities(work: string): Promise<TlsFiles> {
  const side = async (name: string): Promise<{ key: string; cert: string }> => {
    const dir = join(work, `tls-${name}`);
    await loadOrCreateIdentity({ dir });
    const paths = identityPaths(dir);
    return { key: paths.key, cert: paths.cert };
  };
  return { receiver: await side('receiver'), sender: await side('sender') };
}

// ---------------------------------------------------------------------------------------------

async function bench(options: BenchOptions, life: Lifecycle, log: Log): Promise<BenchResult> {
  const machine = await machineFacts();
  const work = await mkdtemp(join(tmpdir(), 'p2pd-bench-'));
  life.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }));
  log(`work directory ${work}`);

  const others = new OtherCpu();
  await others.start();
  life.defer('stop watching other processes', () => others.stop());
  const p2pd = await P2pdPair.start(life, log);

  let ssh: SshServer | null = null;
  let sshSkipped: string | null = null;
  if (!options.ssh) {
    sshSkipped = 'skipped: --no-ssh';
  } else {
    const tools: SshTools | string = await findSshTools(life);
    if (typeof tools === 'string') {
      sshSkipped = tools;
    } else {
      log('starting a throwaway sshd on 127.0.0.1');
      try {
        ssh = await SshServer.start(life, tools, join(work, 'ssh'), log, life.step(30_000));
      } catch (err) {
        if (life.signal.aborted) throw err;
        sshSkipped = `failed: could not start sshd: ${(err as Error).message}`;
      }
    }
    if (sshSkipped !== null) log(`scp and rsync ${sshSkipped}`);
  }

  const ctx: Context = {
    life,
    log,
    options,
    work,
    p2pd,
    ssh,
    sshSkipped,
    others,
    stepSignal: (bytes) => life.step(60_000 + Math.ceil(bytes / (4 * MiB)) * 1000),
  };
  const { scenario: large, daemonRate } = await largeScenario(ctx);
  const scenarios = [large];
  if (options.small) scenarios.push(await smallScenario(ctx));
  await ssh?.stop();
  machine.busyAtEnd = await cpuBusy(500);

  const peakRss = large.methods.find((m) => m.id === 'p2pd')!.peakRssBytes!;
  const tcp = large.methods.find((m) => m.id === 'tcp')!;
  const rssKnown = peakRss.sender !== null && peakRss.receiver !== null;
  return {
    date: new Date().toISOString(),
    machine,
    settings: {
      sizeMiB: options.sizeMiB,
      runs: options.runs,
      small: options.small,
      smallFiles: options.smallFiles,
      smallKiB: options.smallKiB,
      timeoutSeconds: options.timeoutSeconds,
    },
    scenarios,
    p2pd: {
      daemonBytesPerSecond: daemonRate,
      idleRssBytes: p2pd.idleRssBytes,
      peakRssBytes: { alice: peakRss.sender, bob: peakRss.receiver },
      peakRssBytesAtEnd: await p2pd.peakRss(),
    },
    goals: {
      ratioOverRawTcp: tcp.p2pdRatio,
      ratioGoal: RATIO_GOAL,
      ratioMet: tcp.p2pdRatio === null ? null : tcp.p2pdRatio >= RATIO_GOAL,
      rssGoalBytes: RSS_GOAL_BYTES,
      rssMet: rssKnown ? Math.max(peakRss.sender!, peakRss.receiver!) < RSS_GOAL_BYTES : null,
    },
  };
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const t0 = performance.now();
  const log: Log = (msg) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
  const life = new Lifecycle(log);
  life.install(options.timeoutSeconds);
  let status = 0;
  try {
    const result = await Promise.race([
      bench(options, life, log),
      // Ctrl-C or the time limit ends the wait at once; cleanup then stops whatever is still running.
      new Promise<never>((_, reject) => life.signal.addEventListener('abort', () => reject(life.signal.reason as Error), { once: true })),
    ]);
    process.stdout.write(options.json ? formatJson(result) : formatHuman(result));
  } catch (err) {
    log(`failed: ${(err as Error).message}`);
    status = life.interrupted ? 130 : 1;
  } finally {
    life.abort(new Error('the bench is over'));
    log('cleaning up');
    await life.cleanup();
  }
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return status;
}

process.exitCode = await main();
process.exit();
