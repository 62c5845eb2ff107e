/**
 * The hashing thread of HashWorker: SHA-256 of one block per message, in the order the messages
 * come. The block's bytes live in a SharedArrayBuffer the main thread filled, so nothing is copied
 * on the way here; the 32-byte digest goes back with the request's id.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface HashRequest {
  id: number;
  buffer: SharedArrayBuffer;
  length: number;
}

export interface HashReply {
  id: number;
  digest: Uint8Array;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (request: HashRequest) => {
    const digest = createHash('sha256')
      .update(new Uint8Array(request.buffer, 0, request.length))
      .digest();
    const reply: HashReply = { id: request.id, digest };
    port.postMessage(reply);
  });
}
