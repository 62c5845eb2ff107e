/** A partial file kept in memory, for stores in unit tests: its bytes go to `save` on commit. */
import { Writable } from 'node:stream';
import type { PartialFile } from '../../src/transfer/ports.js';

export function memoryPartialFile(path: string, save: (data: Buffer) => void, onDiscard: () => void = () => undefined): PartialFile {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    commit: async () => {
      save(Buffer.concat(chunks));
      return path;
    },
    discard: async () => onDiscard(),
  };
}
