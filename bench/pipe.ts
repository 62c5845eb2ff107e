/**
 * The Node baselines: a receiver process listening on bob's address, port 0, and a sender process
 * streaming the file into it, plain TCP or mutual TLS 1.3 with SHA-256 on both ends.
 * Timed from the sender's spawn to the receiver's report that the file is fsynced.
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Lifecycle } from './lifecycle.js';
import { jsonLine, runOk, Service } from './proc.js';
import { onSide, type Topology } from './topology.js';

const CHILD = fileURLToPath(new URL('./pipe-child.js', import.meta.url));

export interface TlsFiles {
  receiver: { key: string; cert: string };
  sender: { key: string; cert: string };
}

export interface PipeResult {
  seconds: number;
  /** CPU seconds of each process, start-up included. */
  cpuSeconds: { sender: number; receiver: number };
  /** How long the receiver's fsync took (part of `seconds`). */
  fsyncSeconds: number;
  maxRssBytes: { sender: number; receiver: number };
  cipher: string | null;
}

interface Done {
  event: 'done';
  bytes: number;
  sha256: string | null;
  cipher: string | null;
  fsyncSeconds: number;
  cpuSeconds: number;
  maxRssBytes: number;
}
interface Sent {
  event: 'sent';
  bytes: number;
  sha256: string | null;
  cpuSeconds: number;
  maxRssBytes: number;
}

export async function runPipe(
  life: Lifecycle,
  topo: Topology,
  options: { file: string; out: string; bytes: number; sha256: string; tls: TlsFiles | null; signal: AbortSignal },
): Promise<PipeResult> {
  const { tls, signal } = options;
  const host = topo.receiver.address;
  const flags = (side: 'sender' | 'receiver'): string[] => (tls === null ? [] : ['--tls', '--hash', '--key', tls[side].key, '--cert', tls[side].cert]);
  const receiver = new Service(
    life,
    'pipe receiver',
    ...onSide(topo.receiver, process.execPath, [CHILD, 'receive', '--host', host, '--out', options.out, ...flags('receiver')]),
    { stdin: 'pipe' },
  );
  try {
    const { port } = await receiver.waitFor(jsonLine<{ event: 'listening'; port: number }>('listening'), signal, 'listening');
    const started = performance.now();
    const sending = runOk(
      life,
      ...onSide(topo.sender, process.execPath, [CHILD, 'send', '--host', host, '--port', String(port), '--file', options.file, ...flags('sender')]),
      {
        signal,
        stdin: 'pipe',
      },
    );
    const received = receiver.waitFor(jsonLine<Done>('done'), signal, 'the end of the transfer');
    // A sender that fails ends the wait at once; one that succeeds leaves it to the receiver.
    const done = await Promise.race([received, sending.then(() => received)]);
    const seconds = (performance.now() - started) / 1000;
    const sentLine = (await sending).stdout
      .split('\n')
      .map(jsonLine<Sent>('sent'))
      .find((v) => v !== undefined);
    if (sentLine === undefined) throw new Error('the pipe sender did not report');
    if (done.bytes !== options.bytes || sentLine.bytes !== options.bytes) {
      throw new Error(`the pipe moved ${sentLine.bytes} bytes out and ${done.bytes} in, not ${options.bytes}`);
    }
    if (tls !== null && (done.sha256 !== options.sha256 || sentLine.sha256 !== options.sha256)) {
      throw new Error('the SHA-256 computed by the pipe ends differs from the source file');
    }
    await receiver.exited();
    return {
      seconds,
      cpuSeconds: { sender: sentLine.cpuSeconds, receiver: done.cpuSeconds },
      fsyncSeconds: done.fsyncSeconds,
      maxRssBytes: { sender: sentLine.maxRssBytes, receiver: done.maxRssBytes },
      cipher: done.cipher,
    };
  } finally {
    await receiver.stop();
  }
}
