/** Test data: trees of files and their hashes, streamed so large files stay out of memory. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, lstat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file of `size` pseudo-random bytes, written in 1 MiB pieces. */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const block = randomBytes(1 << 20);
    let written = 0;
    let n = 0;
    while (written < size) {
      const len = Math.min(block.length, size - written);
      // Vary each block so the file is not periodic.
      block.writeUInt32LE(n++, 0);
      await fh.write(block, 0, len);
      written += len;
    }
  } finally {
    await fh.close();
  }
}

export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  }
}

/** Relative path → sha256 for every regular file under root (dirs listed with "/" suffix). */
export async function hashTree(root: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const rel = relative(root, path);
      if (skip(rel)) continue;
      const st = await lstat(path);
      if (st.isDirectory()) {
        out[`${rel}/`] = 'dir';
        await walk(path);
      } else if (st.isFile()) {
        out[rel] = await sha256File(path);
      } else {
        out[rel] = 'other';
      }
    }
  }
  await walk(root);
  return out;
}
