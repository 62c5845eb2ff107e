/**
 * A folder of many files, alice → bob: p2pd, tar | nc | tar -x, rsync -a and scp -r. Every
 * method but p2pd writes into the page cache and is followed by one `sync -f`, timed: the tree is
 * durable when each clock stops (p2pd makes it durable itself before it answers "done").
 *
 *   small    10,000 files of 4 KiB spread over 100 nested folders (10 × 10)
 *   medium   100 files of 10 MiB in one folder
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashTree, writeRandomFile } from '../test/helpers/files.js';
import { ncTree } from './nc.js';
import { p2pdMethod, rounds, Samples, scenarioResult, sshSamples, syncfs, watchOthers, type Context, type Method } from './samples.js';
import type { ScenarioResult } from './types.js';

const MiB = 1 << 20;

export interface TreeSpec {
  id: 'small' | 'medium';
  files: number;
  fileBytes: number;
  /** Folders the files are spread over: 100 nested ones (10 × 10), or 1. */
  nested: boolean;
}

function describe(spec: TreeSpec): { title: string; short: string } {
  const size = spec.fileBytes >= MiB ? `${spec.fileBytes / MiB} MiB` : `${spec.fileBytes / 1024} KiB`;
  const where = spec.nested ? 'in 100 nested folders' : 'in one folder';
  const count = spec.files.toLocaleString('en-US');
  return { title: `${count} files of ${size} (${((spec.files * spec.fileBytes) / 1e6).toFixed(1)} MB) ${where}`, short: `${count} × ${size}` };
}

async function makeTree(ctx: Context, spec: TreeSpec, root: string): Promise<void> {
  ctx.log(`writing ${describe(spec).title} to ${root}`);
  const width = String(spec.files - 1).length;
  for (let i = 0; i < spec.files; i++) {
    const dir = spec.nested ? join(root, `d${Math.floor(i / 10) % 10}`, `d${i % 10}`) : root;
    if (i < (spec.nested ? 100 : 1)) await mkdir(dir, { recursive: true });
    const path = join(dir, `f-${String(i).padStart(width, '0')}.bin`);
    if (spec.fileBytes >= MiB) await writeRandomFile(path, spec.fileBytes);
    else await writeFile(path, randomBytes(spec.fileBytes));
  }
}

export async function treeScenario(ctx: Context, spec: TreeSpec): Promise<ScenarioResult> {
  const { life, log, work, topo } = ctx;
  const bytes = spec.files * spec.fileBytes;
  const src = join(work, spec.id);
  await makeTree(ctx, spec, src);
  await syncfs(ctx, work);
  const expected = JSON.stringify(await hashTree(src));
  const check = async (path: string, what: string): Promise<void> => {
    if (JSON.stringify(await hashTree(path)) !== expected) throw new Error(`${what}: the received tree differs from the source`);
    await rm(path, { recursive: true, force: true });
  };
  const step = (): AbortSignal => ctx.stepSignal(bytes + spec.files * 64 * 1024);
  /** Runs `copy`, then one sync -f of the received tree, both timed. */
  const thenSync = (s: Samples, out: string, copy: () => Promise<number>): Method => ({
    samples: s,
    once: async (tag) => {
      await syncfs(ctx, work);
      log(`${s.label}${tag}`);
      const watched = await watchOthers(ctx, s);
      const seconds = (await copy()) + (await syncfs(ctx, out));
      await watched();
      s.seconds.push(seconds);
      await check(out, s.label);
    },
  });

  const p2pd = p2pdMethod(
    ctx,
    new Samples('p2pd', 'p2pd send', 'p2pd (each file, then renamed into place)'),
    src,
    `${spec.id}/ (${spec.files} files)`,
    { bytes, files: spec.files },
    () => check(join(ctx.p2pd.bob.inbox, spec.id), 'p2pd'),
  );
  const nc = new Samples('nc', 'tar | nc | tar -x (no crypto)', 'one sync -f after tar -x exits');
  if (ctx.ncSkipped !== null) nc.skipped = ctx.ncSkipped;
  const [scp, rsync] = sshSamples(ctx, true);
  const ncOut = join(work, `out-nc-${spec.id}`);
  const scpOut = join(work, `out-scp-${spec.id}`);
  const rsyncOut = join(work, `out-rsync-${spec.id}`);
  await rounds(ctx, [
    p2pd,
    thenSync(nc, ncOut, () => ncTree(life, topo, { src, out: ncOut, signal: step() })),
    // rsync copies the contents of "src/" into "out/"; scp -r makes "out" a copy of "src".
    thenSync(rsync, rsyncOut, async () => (await ctx.ssh!.rsync(`${src}/`, `${rsyncOut}/`, { recursive: true, signal: step() })).seconds),
    thenSync(scp, scpOut, async () => (await ctx.ssh!.scp(src, scpOut, { recursive: true, signal: step() })).seconds),
  ]);
  p2pd.samples.note('one connection for the whole tree');
  await rm(src, { recursive: true, force: true });
  return scenarioResult({ id: spec.id, ...describe(spec), bytes, files: spec.files, linkMbit: null }, [p2pd.samples, nc, rsync, scp]);
}
