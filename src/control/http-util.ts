/** Small HTTP helpers shared by the dashboard's transport and its uploads. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { P2pdError } from '../errors.js';

/** Reads a JSON object body of at most `max` bytes. */
export async function readJson(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new P2pdError('CONTROL_BAD_REQUEST', `a request body may hold at most ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new P2pdError('CONTROL_BAD_REQUEST', `a request body may hold at most ${max} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new P2pdError('CONTROL_BAD_REQUEST', 'the request body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new P2pdError('CONTROL_BAD_REQUEST', '"params" must be an object');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
