/**
 * The wire's own pace, without crypto or hashing: OpenBSD netcat from alice to bob.
 *
 *   one file   nc -N <bob> <port> < file    →   nc -l | dd of=… bs=1M conv=fsync
 *   a tree     tar -c | nc -N <bob> <port>  →   nc -l | tar -x, then one `sync -f` (timed by the caller)
 *
 * Timed from the sender's spawn to the receiving pipeline's exit (dd's fsync returned, or tar
 * has written the last file).
 */
import { performance } from 'node:perf_hooks';
import type { Lifecycle } from './lifecycle.js';
import { lastLines, runOk, Service, which } from './proc.js';
import { freePort } from './ssh.js';
import { onSide, type Topology } from './topology.js';

/** Why nc cannot be used here, or null. */
export async function ncMissing(): Promise<string | null> {
  const missing = [];
  for (const tool of ['nc', 'dd', 'tar']) if ((await which(tool)) === null) missing.push(tool);
  return missing.length === 0 ? null : `skipped: install netcat-openbsd (missing: ${missing.join(', ')})`;
}

/**
 * Starts `receive` (a shell pipeline reading `nc -l` on bob's side), waits until it listens, then
 * runs `send` on alice's side; resolves with the seconds from the send's spawn to the receiver's exit.
 */
async function ncRun(life: Lifecycle, topo: Topology, receive: (port: string) => string, send: (port: string) => string, signal: AbortSignal): Promise<number> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = String(await freePort(topo));
    const receiver = new Service(life, 'nc receiver', ...onSide(topo.receiver, 'sh', ['-c', receive(port)]), { group: true });
    try {
      try {
        await receiver.waitFor((line) => (line.startsWith('Listening on') ? true : undefined), signal, 'listening');
      } catch (err) {
        // A port taken meanwhile: try another.
        lastError = err;
        if (signal.aborted) throw err;
        continue;
      }
      const started = performance.now();
      const sending = runOk(life, ...onSide(topo.sender, 'sh', ['-c', send(port)]), { signal, group: true });
      await Promise.race([receiver.exited(), sending.then(() => receiver.exited())]);
      const seconds = (performance.now() - started) / 1000;
      await sending;
      if (receiver.child.exitCode !== 0)
        throw new Error(`the nc receiver exited with ${receiver.child.exitCode ?? receiver.child.signalCode}: ${lastLines(receiver.output, 5)}`);
      return seconds;
    } finally {
      await receiver.stop();
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Shell words, quoted for `sh -c`. */
function q(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** nc → dd with conv=fsync: the seconds until dd's fsync returned. */
export function ncFile(life: Lifecycle, topo: Topology, options: { src: string; out: string; signal: AbortSignal }): Promise<number> {
  const bob = q(topo.receiver.address);
  return ncRun(
    life,
    topo,
    // nc -v says "Listening on" (stderr, which the Service reads) once the socket listens.
    (port) => `set -e; nc -lvn ${bob} ${port} | dd of=${q(options.out)} bs=1M iflag=fullblock conv=fsync status=none`,
    (port) => `exec nc -N ${bob} ${port} < ${q(options.src)}`,
    options.signal,
  );
}

/** tar | nc | tar -x into `out` (made by the receiver): the seconds until the last file is written, not synced. */
export function ncTree(life: Lifecycle, topo: Topology, options: { src: string; out: string; signal: AbortSignal }): Promise<number> {
  const bob = q(topo.receiver.address);
  return ncRun(
    life,
    topo,
    (port) => `set -e; mkdir -p ${q(options.out)}; nc -lvn ${bob} ${port} | tar -x -C ${q(options.out)}`,
    (port) => `tar -c -C ${q(options.src)} . | nc -N ${bob} ${port}`,
    options.signal,
  );
}
