/**
 * One large file of random data, alice → bob, by every method: p2pd, nc → dd, the Node pipes
 * (raw TCP, TLS + SHA-256), scp and rsync. The same file serves the variants under load and over
 * a rate-limited link, which run a subset of the methods.
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256File, writeRandomFile } from '../test/helpers/files.js';
import { identityPaths, loadOrCreateIdentity } from '../src/transport/index.js';
import { ncFile } from './nc.js';
import { runPipe, type TlsFiles } from './pipe.js';
import { fsyncFile, p2pdMethod, rounds, Samples, scenarioResult, sshSamples, syncfs, watchOthers, type Context, type Method } from './samples.js';
import type { MethodId, ScenarioId, ScenarioResult } from './types.js';

const MiB = 1 << 20;

export interface SourceFile {
  path: string;
  bytes: number;
  sha256: string;
}

export async function makeSourceFile(ctx: Context): Promise<SourceFile> {
  const bytes = ctx.options.sizeMiB * MiB;
  const path = join(ctx.work, `random-${ctx.options.sizeMiB}MiB.bin`);
  ctx.log(`writing ${ctx.options.sizeMiB} MiB of random data to ${path}`);
  await writeRandomFile(path, bytes);
  await fsyncFile(path);
  return { path, bytes, sha256: await sha256File(path) };
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

export interface FileScenario {
  id: ScenarioId;
  title: string;
  short: string;
  methods: readonly MethodId[];
  linkMbit?: number;
}

export async function fileScenario(ctx: Context, src: SourceFile, spec: FileScenario): Promise<{ scenario: ScenarioResult; daemonRate: number | null }> {
  const { life, log, work, topo } = ctx;
  const { bytes, sha256 } = src;
  const step = (): AbortSignal => ctx.stepSignal(bytes);
  const check = async (path: string, what: string): Promise<void> => {
    if ((await sha256File(path)) !== sha256) throw new Error(`${what}: the received file's SHA-256 differs from the source's`);
    await rm(path, { force: true });
  };
  const timed = (s: Samples, name: string, fn: () => Promise<number>, out: string): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${name}${tag}`);
      const watched = await watchOthers(ctx, s);
      const seconds = await fn();
      await watched();
      s.seconds.push(seconds);
      await check(out, name);
    },
  });
  const pipe = (s: Samples, name: string, out: string, tls: TlsFiles | null): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${name}${tag}`);
      const watched = await watchOthers(ctx, s);
      const r = await runPipe(life, topo, { file: src.path, out, bytes, sha256, tls, signal: step() });
      await watched();
      s.seconds.push(r.seconds);
      s.cpu.push(r.cpuSeconds);
      s.addRss(r.maxRssBytes.sender, r.maxRssBytes.receiver);
      s.note(`the receiver's fsync took ${r.fsyncSeconds.toFixed(2)} s of the last run`);
      if (r.cipher !== null) s.note(`negotiated ${r.cipher}, mutual TLS, SHA-256 computed by both processes`);
      await check(out, name);
    },
  });
  /** scp, and rsync without --fsync, leave the data in the page cache: the bench fsyncs it, timed. */
  const viaSsh = (s: Samples, out: string): Method =>
    timed(
      s,
      s.label,
      async () => {
        const r = await ctx.ssh![s.id as 'scp' | 'rsync'](src.path, out, { recursive: false, signal: step() });
        const fsyncs = !(s.id === 'rsync' && ctx.ssh!.tools.rsyncHasFsync);
        return r.seconds + (fsyncs ? await fsyncFile(out) : 0);
      },
      out,
    );

  const daemonRates: number[] = [];
  const all: Array<[MethodId, () => Method]> = [
    [
      'p2pd',
      () => {
        const s = new Samples('p2pd', 'p2pd send', 'p2pd (then renamed into place)');
        const inbox = join(ctx.p2pd.bob.inbox, basename(src.path));
        return p2pdMethod(
          ctx,
          s,
          src.path,
          basename(src.path),
          { bytes, files: 1 },
          () => check(inbox, 'p2pd'),
          (r) => daemonRates.push(r),
        );
      },
    ],
    [
      'nc',
      () => {
        const s = new Samples('nc', 'nc → dd (no crypto, no hash)', 'dd conv=fsync');
        if (ctx.ncSkipped !== null) s.skipped = ctx.ncSkipped;
        const out = join(work, 'out-nc.bin');
        return timed(s, 'nc → dd', () => ncFile(life, topo, { src: src.path, out, signal: step() }), out);
      },
    ],
    ['tcp', () => pipe(new Samples('tcp', 'raw TCP (Node, 2 processes)', 'the receiver process'), 'raw TCP', join(work, 'out-tcp.bin'), null)],
    ['scp', () => viaSsh(sshSamples(ctx, false)[0], join(work, 'out-scp.bin'))],
    ['rsync', () => viaSsh(sshSamples(ctx, false)[1], join(work, 'out-rsync.bin'))],
  ];
  if (spec.methods.includes('tls')) {
    const tlsFiles = await makeTlsIdentities(work);
    all.push([
      'tls',
      () => pipe(new Samples('tls', 'TLS 1.3 + SHA-256 (Node)', 'the receiver process'), 'TLS 1.3 + SHA-256', join(work, 'out-tls.bin'), tlsFiles),
    ]);
  }
  const methods = spec.methods.map((id) => all.find(([x]) => x === id)![1]());
  await rounds(ctx, methods);
  const scenario = scenarioResult(
    { id: spec.id, title: spec.title, short: spec.short, bytes, files: 1, linkMbit: spec.linkMbit ?? null },
    methods.map((m) => m.samples),
  );
  return { scenario, daemonRate: daemonRates.length === 0 ? null : daemonRates.sort((a, b) => a - b)[daemonRates.length >> 1]! };
}
