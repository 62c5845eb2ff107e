/**
 * One end of a baseline pipe, run as its own process so that the baselines, like p2pd, have a
 * sender and a receiver process (two cores, two event loops):
 *
 *   node pipe-child.js receive --host <addr> --out <file> [--tls --key <pem> --cert <pem>] [--hash]
 *   node pipe-child.js send --host <addr> --port <n> --file <file> [--tls --key <pem> --cert <pem>] [--hash]
 *
 * Node built-ins only, so that start-up costs what a bare `node` costs. Reports are JSON lines
 * on stdout. Exits when its stdin closes (the bench died), so it never outlives the bench.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';

/** The suite p2pd negotiates (first in its list): AES-128-GCM, TLS 1.3 only. */
const CIPHERS = 'TLS_AES_128_GCM_SHA256';
const LOOPBACK = '127.0.0.1';
const READ_CHUNK = 1 << 20;

interface Args {
  role: 'receive' | 'send';
  out?: string;
  file?: string;
  port?: number;
  tls: boolean;
  key?: string;
  cert?: string;
  hash: boolean;
  /** The receiver's address: 127.0.0.1, or its address on the namespace LAN. */
  host: string;
}

function parse(argv: string[]): Args {
  const role = argv[0];
  if (role !== 'receive' && role !== 'send') throw new Error(`pipe-child: unknown role ${role}`);
  const a: Args = { role, tls: false, hash: false, host: LOOPBACK };
  for (let i = 1; i < argv.length; i++) {
    switch (argv[i]) {
      case '--out':
        a.out = argv[++i];
        break;
      case '--file':
        a.file = argv[++i];
        break;
      case '--host':
        a.host = argv[++i]!;
        break;
      case '--port':
        a.port = Number(argv[++i]);
        break;
      case '--key':
        a.key = argv[++i];
        break;
      case '--cert':
        a.cert = argv[++i];
        break;
      case '--tls':
        a.tls = true;
        break;
      case '--hash':
        a.hash = true;
        break;
      default:
        throw new Error(`pipe-child: unknown option ${argv[i]}`);
    }
  }
  return a;
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function stats(): { cpuSeconds: number; maxRssBytes: number } {
  const cpu = process.cpuUsage();
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** A pipeline stage that hashes what passes through, without copying it. */
function hashing(hash: Hash): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  };
}

async function tlsOptions(a: Args): Promise<tls.SecureContextOptions> {
  if (a.key === undefined || a.cert === undefined) throw new Error('pipe-child: --tls needs --key and --cert');
  return {
    key: await readFile(a.key, 'utf8'),
    cert: await readFile(a.cert, 'utf8'),
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: CIPHERS,
  };
}

async function receive(a: Args): Promise<void> {
  if (a.out === undefined) throw new Error('pipe-child: receive needs --out');
  const handle = await open(a.out, 'wx');
  // Mutual TLS, as between two p2pd daemons; the identity check itself is not what is measured.
  const server = a.tls ? tls.createServer({ ...(await tlsOptions(a)), requestCert: true, rejectUnauthorized: false }) : net.createServer();
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    server.once(a.tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
      server.close();
      resolve(s);
    });
    server.once('error', reject);
    server.listen(0, a.host, () => emit({ event: 'listening', port: (server.address() as net.AddressInfo).port }));
  });
  const cipher = socket instanceof tls.TLSSocket ? socket.getCipher().standardName : null;
  const hash = a.hash ? createHash('sha256') : undefined;
  const out = handle.createWriteStream({ autoClose: false });
  if (hash === undefined) await pipeline(socket, out);
  else await pipeline(socket, hashing(hash), out);
  const bytes = out.bytesWritten;
  const syncStarted = performance.now();
  await handle.sync();
  const fsyncSeconds = (performance.now() - syncStarted) / 1000;
  // The stream holds a reference on the handle (handle.close() would wait for it): destroying
  // the stream closes the descriptor.
  await new Promise<void>((resolve) => {
    out.once('close', () => resolve());
    out.destroy();
  });
  emit({
    event: 'done',
    bytes,
    sha256: hash?.digest('hex') ?? null,
    cipher,
    fsyncSeconds,
    ...stats(),
  });
}

async function send(a: Args): Promise<void> {
  if (a.file === undefined || a.port === undefined) throw new Error('pipe-child: send needs --file and --port');
  const opts = a.tls ? await tlsOptions(a) : undefined;
  const socket =
    opts === undefined ? net.connect({ host: a.host, port: a.port }) : tls.connect({ ...opts, host: a.host, port: a.port, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once(opts === undefined ? 'connect' : 'secureConnect', resolve);
    socket.once('error', reject);
  });
  const hash = a.hash ? createHash('sha256') : undefined;
  const input = createReadStream(a.file, { highWaterMark: READ_CHUNK });
  if (hash === undefined) await pipeline(input, socket);
  else await pipeline(input, hashing(hash), socket);
  emit({ event: 'sent', bytes: input.bytesRead, sha256: hash?.digest('hex') ?? null, ...stats() });
  socket.destroy();
}

process.stdin.on('close', () => process.exit(3));
process.stdin.resume();
const args = parse(process.argv.slice(2));
(args.role === 'receive' ? receive(args) : send(args)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`pipe-child ${args.role}: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
