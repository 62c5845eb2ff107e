/**
 * The hash list of feature "resume": SHA-256 of each BLOCK_SIZE block at its place in the file,
 * and the file's hash = SHA-256 over those digests. Data may arrive in any chunking.
 */
import { createHash, type Hash } from 'node:crypto';
import { BLOCK_SIZE } from '../protocol/messages.js';
import { OffloadedBlockHasher, type HashWorker } from './hash-offload.js';

export class BlockHasher {
  readonly #digests: Buffer[] = [];
  #current: Hash = createHash('sha256');
  #fill = 0;
  readonly #onBlock: ((digest: Buffer) => void) | undefined;

  /** `prefix`: digests of blocks already known (a resumed file), in order. */
  constructor(options: { prefix?: readonly Buffer[]; onBlock?: (digest: Buffer) => void } = {}) {
    if (options.prefix !== undefined) this.#digests.push(...options.prefix);
    this.#onBlock = options.onBlock;
  }

  /** Bytes covered so far (complete blocks plus the current partial one). */
  get length(): number {
    return this.#digests.length * BLOCK_SIZE + this.#fill;
  }

  update(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(BLOCK_SIZE - this.#fill, chunk.length - at);
      this.#current.update(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take));
      this.#fill += take;
      at += take;
      if (this.#fill === BLOCK_SIZE) this.#closeBlock();
    }
  }

  /** The file's hash: SHA-256 over every block digest, the last (short) block included. */
  root(): string {
    if (this.#fill > 0) this.#closeBlock(false);
    const h = createHash('sha256');
    for (const d of this.#digests) h.update(d);
    return h.digest('hex');
  }

  /** Only whole blocks are reported: a short last block is never a resume point. */
  #closeBlock(notify = true): void {
    const digest = this.#current.digest();
    this.#digests.push(digest);
    this.#current = createHash('sha256');
    this.#fill = 0;
    if (notify) this.#onBlock?.(digest);
  }
}

/** A file's running hash: the hash list when "resume" is in use on the connection, else plain SHA-256. */
export interface FileHash {
  /** A promise when the caller must wait before handing more: the hashing thread is behind. */
  update(chunk: Buffer): Promise<void> | undefined;
  /** Lower-case hex, as FILE_END carries it. */
  final(): Promise<string>;
}

/** Below this many bytes to hash a thread's round trips cost more than hashing in place. */
export const OFFLOAD_MIN_BYTES = 2 * BLOCK_SIZE;

export function fileHash(
  resume: boolean,
  options: { prefix?: readonly Buffer[]; onBlock?: (digest: Buffer) => void; worker?: HashWorker | undefined; bytes?: number } = {},
): FileHash {
  const { worker, bytes, ...blocks } = options;
  if (resume && worker !== undefined && (bytes ?? 0) >= OFFLOAD_MIN_BYTES) return new OffloadedBlockHasher(worker, blocks);
  if (resume) {
    const h = new BlockHasher(blocks);
    return {
      update: (c) => void h.update(c),
      final: async () => h.root(),
    };
  }
  const h = createHash('sha256');
  return {
    update: (c) => void h.update(c),
    final: async () => h.digest('hex'),
  };
}
