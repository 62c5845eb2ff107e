/**
 * `npm run bench`: p2pd's throughput next to what else could move the same bytes, measured side
 * by side in one run, in interleaved rounds, from alice to bob. As root, alice and bob are two
 * network namespaces joined by a bridge (the LAN suite's harness); otherwise both sit on 127.0.0.1.
 *
 *   p2pd      two daemons, `p2pd send bob <path>` timed from the CLI's start to its exit
 *   nc        nc → dd conv=fsync (one file), tar | nc | tar -x and one sync (a tree): the wire, no crypto
 *   raw TCP   a Node sender process piping the file into a Node receiver process, which fsyncs
 *   TLS       the same over mutual TLS 1.3 (AES-128-GCM) with SHA-256 on both ends
 *   scp       OpenSSH to a throwaway sshd on bob's side, aes128-gcm, then fsync / sync
 *   rsync     rsync over the same sshd
 *
 * Shapes: one large file; many small files in nested folders; a hundred medium files; optionally
 * the large file again with one core kept busy (--load) and over a rate-limited link (--tbf).
 * Prints a table (or --json), writes bench/RESULTS.md and an SVG chart, and stops and removes
 * everything it started on every way out. `npm run bench -- --help`.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatChart } from './chart.js';
import { OtherCpu } from './contention.js';
import { Lifecycle } from './lifecycle.js';
import { underLoad } from './load.js';
import { formatMarkdown } from './markdown.js';
import { ncMissing } from './nc.js';
import { parseOptions, USAGE, type BenchOptions } from './options.js';
import { P2pdPair } from './p2pd.js';
import { cpuBusy, machineFacts } from './proc.js';
import { formatHuman, formatJson } from './report.js';
import type { Context, Log } from './samples.js';
import { fileScenario, makeSourceFile } from './scenario-file.js';
import { treeScenario } from './scenario-tree.js';
import { findSshTools, SshServer } from './ssh.js';
import { checkTargets } from './targets.js';
import { makeTopology, type Topology } from './topology.js';
import type { BenchResult, MethodId, ScenarioResult } from './types.js';

const MiB = 1 << 20;

/** The sshd on bob's side, or why scp and rsync cannot run. */
async function startSsh(life: Lifecycle, topo: Topology, options: BenchOptions, work: string, log: Log): Promise<SshServer | string> {
  if (!options.ssh) return 'skipped: --no-ssh';
  const tools = await findSshTools(life);
  if (typeof tools === 'string') return tools;
  log(`starting a throwaway sshd on ${topo.receiver.address}`);
  try {
    return await SshServer.start(life, topo, tools, join(work, 'ssh'), log, life.step(30_000));
  } catch (err) {
    if (life.signal.aborted) throw err;
    return `failed: could not start sshd: ${(err as Error).message}`;
  }
}

async function scenarios(ctx: Context): Promise<{ results: ScenarioResult[]; daemonRate: number | null }> {
  const { options: o, log } = ctx;
  const results: ScenarioResult[] = [];
  let daemonRate: number | null = null;
  const src = o.large ? await makeSourceFile(ctx) : null;
  const size = `${o.sizeMiB} MiB`;
  const title = (what: string): string => `One file of ${size} (${((o.sizeMiB * MiB) / 1e6).toFixed(1)} MB) of random data${what}`;
  if (src !== null) {
    const methods: MethodId[] = ['p2pd', 'nc', 'tcp', ...(o.tls ? (['tls'] as const) : []), 'scp', 'rsync'];
    const r = await fileScenario(ctx, src, { id: 'large', title: title(''), short: `1 file of ${size}`, methods });
    results.push(r.scenario);
    daemonRate = r.daemonRate;
  }
  if (o.small) results.push(await treeScenario(ctx, { id: 'small', files: o.smallFiles, fileBytes: o.smallKiB * 1024, nested: true }));
  if (o.medium) results.push(await treeScenario(ctx, { id: 'medium', files: o.mediumFiles, fileBytes: o.mediumMiB * MiB, nested: false }));
  if (src !== null && o.load) {
    const spec = {
      id: 'large-load',
      title: title(', one core kept busy by another process'),
      short: `1 file of ${size}, one core busy`,
      methods: ['p2pd', 'nc', 'scp'],
    } as const;
    results.push((await underLoad(ctx.life, log, () => fileScenario(ctx, src, spec))).scenario);
  }
  if (src !== null && o.tbfMbit !== null && ctx.topo.kind === 'loopback') log('--tbf needs the namespace LAN (run as root): skipped');
  if (src !== null && o.tbfMbit !== null && ctx.topo.kind === 'lan') {
    log(`--tbf: limiting the link to ${o.tbfMbit} Mbit/s each way (tc tbf on both ends of both cables)`);
    ctx.topo.limit(o.tbfMbit);
    const undo = ctx.life.defer('remove the tbf limit', () => ctx.topo.limit(null));
    const spec = {
      id: 'large-tbf',
      title: title(`, over a link limited to ${o.tbfMbit} Mbit/s`),
      short: `1 file of ${size}`,
      linkMbit: o.tbfMbit,
      methods: ['p2pd', 'nc', 'scp'],
    } as const;
    results.push((await fileScenario(ctx, src, spec)).scenario);
    undo();
    ctx.topo.limit(null);
  }
  if (src !== null) await rm(src.path, { force: true });
  return { results, daemonRate };
}

async function bench(options: BenchOptions, life: Lifecycle, log: Log, t0: number): Promise<BenchResult> {
  const machine = await machineFacts();
  const work = await mkdtemp(join(tmpdir(), 'p2pd-bench-'));
  life.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }));
  life.atExit(() => rmSync(work, { recursive: true, force: true }));
  log(`work directory ${work}`);
  const topo = makeTopology(life, !options.loopback, log);
  log(`network: ${topo.description}`);

  const others = new OtherCpu();
  await others.start();
  life.defer('stop watching other processes', () => others.stop());
  const p2pd = await P2pdPair.start(life, topo, log);
  const ssh = await startSsh(life, topo, options, work, log);
  if (typeof ssh === 'string') log(`scp and rsync ${ssh}`);
  const ncSkipped = await ncMissing();
  if (ncSkipped !== null) log(`nc ${ncSkipped}`);

  const ctx: Context = {
    life,
    log,
    options,
    topo,
    work,
    p2pd,
    ssh: typeof ssh === 'string' ? null : ssh,
    sshSkipped: typeof ssh === 'string' ? ssh : null,
    ncSkipped,
    others,
    stepSignal: (bytes) => life.step(60_000 + Math.ceil(bytes / (4 * MiB)) * 1000),
  };
  const { results, daemonRate } = await scenarios(ctx);
  await ctx.ssh?.stop();
  machine.busyAtEnd = await cpuBusy(500);
  const p2pdFacts = { idleRssBytes: p2pd.idleRssBytes, peakRssBytesAtEnd: await p2pd.peakRss(), daemonBytesPerSecond: daemonRate };
  const { help: _help, json: _json, ...settings } = options;
  return {
    date: new Date().toISOString(),
    commandLine: process.argv.slice(2).join(' '),
    machine,
    network: { kind: topo.kind, description: topo.description },
    settings,
    scenarios: results,
    p2pd: p2pdFacts,
    targets: checkTargets(results, p2pdFacts),
    totalSeconds: (performance.now() - t0) / 1000,
  };
}

async function writeOutputs(result: BenchResult, options: BenchOptions, log: Log): Promise<void> {
  const write = async (path: string, text: string): Promise<void> => {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    log(`wrote ${path}`);
  };
  if (options.chartPath !== null) await write(options.chartPath, formatChart(result));
  if (options.resultsPath !== null) await write(options.resultsPath, formatMarkdown(result, options.resultsPath, options.chartPath));
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
  log(`time limit ${options.timeoutSeconds} s (--timeout)`);
  let status = 0;
  try {
    const result = await Promise.race([
      bench(options, life, log, t0),
      // Ctrl-C or the time limit ends the wait at once; cleanup then stops whatever is still running.
      new Promise<never>((_, reject) => life.signal.addEventListener('abort', () => reject(life.signal.reason as Error), { once: true })),
    ]);
    process.stdout.write(options.json ? formatJson(result) : formatHuman(result));
    await writeOutputs(result, options, log);
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
