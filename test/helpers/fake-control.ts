/**
 * A stand-in for the daemon's control socket: records every connection and request, and answers
 * as the test says. With a config file that points the CLI at it, a test sees exactly what a
 * command asked of the daemon (or that it asked nothing).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeRequest {
  method: string;
  params: Record<string, unknown>;
}

/** Answers a request: write event and result lines to `reply`; leave it open to keep the CLI waiting. */
export type Answer = (req: FakeRequest, reply: (line: Record<string, unknown>) => void, socket: Socket) => void;

export class FakeControl {
  readonly dir: string;
  readonly socketPath: string;
  readonly configPath: string;
  readonly requests: FakeRequest[] = [];
  connections = 0;
  /** Connections that the CLI closed (hung up). */
  hangups = 0;
  answer: Answer = defaultAnswer;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(dir: string) {
    this.dir = dir;
    this.socketPath = join(dir, 'control.sock');
    this.configPath = join(dir, 'config.json');
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /** In a fresh 0700 temp dir (the client refuses a socket in a directory others can write to). */
  static async start(): Promise<FakeControl> {
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-fake-'));
    const f = new FakeControl(dir);
    await writeFile(f.configPath, JSON.stringify({ stateDir: join(dir, 'state'), inbox: join(dir, 'inbox'), controlSocket: f.socketPath }));
    await new Promise<void>((resolve, reject) => {
      f.#server.once('error', reject);
      f.#server.listen(f.socketPath, resolve);
    });
    return f;
  }

  #accept(socket: Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    let buffered = '';
    let ended = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (!ended) this.hangups++;
    });
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buffered.slice(0, nl)) as { id: number; method: string; params?: Record<string, unknown> };
        buffered = buffered.slice(nl + 1);
        const req = { method: msg.method, params: msg.params ?? {} };
        this.requests.push(req);
        this.answer(
          req,
          (line) => {
            if ('result' in line || 'error' in line) ended = true;
            socket.write(`${JSON.stringify({ id: msg.id, ...line })}\n`);
          },
          socket,
        );
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Something for every method; `send` answers as a detached send does. */
export const defaultAnswer: Answer = (req, reply) =>
  reply({ result: req.method === 'send' ? { transfer: transferView({ state: 'queued', bytesDone: 0 }), skipped: [] } : { ok: true, method: req.method } });

/** A transfer as the daemon's progress events show it. */
export function transferView(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 't1',
    direction: 'out',
    peer: { id: null, name: 'bob' },
    state: 'sending',
    filesTotal: 1,
    filesDone: 0,
    filesFailed: 0,
    bytesTotal: 1000,
    bytesDone: 400,
    bytesPerSecond: 100,
    startedAt: new Date().toISOString(),
    endedAt: null,
    error: null,
    attempts: 1,
    resumedFrom: 0,
    nextAttemptAt: null,
    ...over,
  };
}

/** A FakeControl with an empty home folder and a small file to send, as the CLI tests start from. */
export async function fakeCliWorld(): Promise<{ fake: FakeControl; home: string; file: string }> {
  const fake = await FakeControl.start();
  const home = join(fake.dir, 'home');
  await mkdir(home);
  const file = join(fake.dir, 'a.txt');
  await writeFile(file, 'hello');
  return { fake, home, file };
}
