/**
 * The hashing thread of HashWorker: SHA-256 of one block per request, in the order the requests
 * come. The block's bytes live in a SharedArrayBuffer the main thread filled, so nothing is copied
 * on the way here; the 32-byte digest goes back.
 */
import { createHash } from 'node:crypto';
import { serveRequests } from '../on-demand-worker.js';

export interface HashRequest {
  buffer: SharedArrayBuffer;
  length: number;
}

export type HashReply = Uint8Array;

serveRequests<HashRequest, HashReply>((request) =>
  createHash('sha256')
    .update(new Uint8Array(request.buffer, 0, request.length))
    .digest(),
);
