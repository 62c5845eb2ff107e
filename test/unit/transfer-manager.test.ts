/**
 * The transfer manager with a second protocol: a fake session driver ("fake", JSON lines over an
 * in-memory pipe) registered beside nothing else. Sends and receives go through the manager's
 * public API only: records, history, retries, the admission gate and its waiting offers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { P2pdError, toP2pdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { OfferEntry } from '../../src/protocol/messages.js';
import {
  AdmissionGate,
  TransferManager,
  type AttemptResult,
  type FileOutcome,
  type FileSource,
  type InboundConnection,
  type InboundResult,
  type InboundSession,
  type IncomingPolicy,
  type OutgoingAttempt,
  type PendingOffer,
  type SessionDriver,
  type TransferRecord,
} from '../../src/transfer/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { MemoryHistory } from '../helpers/memory-history.js';

/** Who listens where on the in-memory network; `down` makes the next dials fail. */
class FakeNet {
  readonly nodes = new Map<string, TransferManager>();
  down = 0;
}

/** The wire of "fake": the sender writes one line with the offer and the data, the receiver one line back. */
class FakeDriver implements SessionDriver {
  readonly protocol = 'fake';
  /** What arrived here, by path. */
  readonly received = new Map<string, string>();

  constructor(
    readonly net: FakeNet,
    readonly self: { id: string; name: string },
  ) {}

  async send(attempt: OutgoingAttempt): Promise<AttemptResult> {
    const remote = this.net.nodes.get(attempt.query);
    if (remote === undefined || this.net.down > 0) {
      this.net.down = Math.max(0, this.net.down - 1);
      throw new P2pdError('PEER_UNREACHABLE', `${attempt.query} does not answer`);
    }
    const [here, there] = duplexPair();
    void remote.receive({ protocol: 'fake', stream: there, peer: { id: this.self.id, address: 'memory', verified: true } });
    attempt.onConnected({ id: attempt.query, name: attempt.query });
    const files: Array<{ path: string; data: string }> = [];
    for (const [i, e] of attempt.source.entries.entries()) {
      if (e.kind !== 'file') continue;
      const chunks: Buffer[] = [];
      for await (const c of attempt.source.read(i, { signal: attempt.signal })) chunks.push(c);
      files.push({ path: e.path, data: Buffer.concat(chunks).toString('base64') });
    }
    here.write(`${JSON.stringify({ from: this.self.name, transferId: attempt.transferId, files })}\n`);
    const answer = JSON.parse(await firstLine(here)) as { ok: boolean; code?: string; message?: string };
    here.end();
    if (!answer.ok) throw P2pdError.fromJSON({ code: answer.code, message: answer.message });
    const outcomes: FileOutcome[] = files.map((f, index) => ({ index, path: f.path, ok: true, bytes: Buffer.from(f.data, 'base64').length }));
    for (const o of outcomes) attempt.onFileResult(o);
    const bytes = outcomes.reduce((n, o) => n + (o.bytes ?? 0), 0);
    attempt.onProgress({ phase: 'done', filesTotal: outcomes.length, filesDone: outcomes.length, filesFailed: 0, bytesTotal: bytes, bytesDone: bytes });
    return { ok: true, files: outcomes };
  }

  async receive(connection: InboundConnection, session: InboundSession): Promise<InboundResult> {
    const stream = connection.stream;
    try {
      const offer = JSON.parse(await firstLine(stream)) as { from: string; transferId: string; files: Array<{ path: string; data: string }> };
      session.greet({ id: connection.peer.id, claimedName: offer.from, protocol: this.protocol, verified: connection.peer.verified });
      const sizes = offer.files.map((f) => Buffer.from(f.data, 'base64').length);
      const bytes = sizes.reduce((n, s) => n + s, 0);
      await session.offer({
        transferId: offer.transferId,
        files: offer.files.length,
        bytes,
        largestFile: Math.max(0, ...sizes),
        names: offer.files.map((f) => f.path),
      });
      const outcomes: FileOutcome[] = [];
      for (const [index, f] of offer.files.entries()) {
        this.received.set(f.path, Buffer.from(f.data, 'base64').toString());
        const o: FileOutcome = { index, path: f.path, ok: true, savedAs: f.path };
        outcomes.push(o);
        session.onFile(o);
      }
      session.onProgress({ phase: 'done', filesTotal: outcomes.length, filesDone: outcomes.length, filesFailed: 0, bytesTotal: bytes, bytesDone: bytes });
      stream.end(`${JSON.stringify({ ok: true })}\n`);
      return { files: outcomes, bytes };
    } catch (err) {
      const e = toP2pdError(err);
      stream.end(`${JSON.stringify({ ok: false, code: e.code, message: e.message })}\n`);
      throw e;
    }
  }
}

/** The first line the stream carries (the rest of the stream is not read). */
function firstLine(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const end = text.indexOf('\n');
      if (end < 0) return;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
      resolve(text.slice(0, end));
    };
    const onEnd = (): void => reject(new P2pdError('CONNECTION_LOST', 'closed before a line'));
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

function node(net: FakeNet, id: string, decision: 'auto' | 'ask') {
  const policy: IncomingPolicy = { decide: () => decision, displayName: (p) => `${p.helloName} (${p.id})` };
  const history = new MemoryHistory();
  const gate = new AdmissionGate(
    { logger: silentLogger(), policy, history },
    { localName: id, askTimeoutMs: 5000, minFreeSpace: 0, maxConcurrentIncoming: 4, limits: { maxOfferFiles: 100, maxOfferBytes: 0, maxFileSize: 0 } },
  );
  const driver = new FakeDriver(net, { id, name: id });
  const manager = new TransferManager(
    {
      logger: silentLogger(),
      connector: { resolve: (q) => ({ protocol: q.startsWith('p2pd:') ? 'p2pd' : 'fake', id: q, name: q }) },
      history,
      gate,
      drivers: [driver],
    },
    { maxConcurrentOutgoing: 2, retry: { minDelayMs: 10, maxDelayMs: 20, giveUpMs: 10_000 } },
  );
  net.nodes.set(id, manager);
  return { manager, driver, history };
}

function source(files: Record<string, string>): FileSource {
  const names = Object.keys(files);
  const entries: OfferEntry[] = names.map((path) => ({ path, kind: 'file', size: Buffer.byteLength(files[path]!), mode: 0o644, mtimeMs: 0 }));
  return {
    entries,
    async *read(index) {
      yield Buffer.from(files[names[index]!]!);
    },
  };
}

/** The next record the manager ends, by direction. */
function ended(m: TransferManager, direction: 'in' | 'out'): Promise<TransferRecord> {
  return new Promise((resolve) => {
    const on = (r: TransferRecord): void => {
      if (r.direction !== direction) return;
      m.off('end', on);
      resolve(r);
    };
    m.on('end', on);
  });
}

describe('transfer manager with a second protocol', () => {
  it('sends and receives through a fake driver: records, history and received files on both sides', async () => {
    const net = new FakeNet();
    const alice = node(net, 'alice', 'auto');
    const bob = node(net, 'bob', 'auto');
    const arrived: string[] = [];
    bob.manager.on('received', (f) => arrived.push(f.savedAs));
    const bobEnd = ended(bob.manager, 'in');
    const sent = alice.manager.send({ peer: 'bob', source: source({ 'a.txt': 'hello', 'b.txt': 'world!' }) });
    const out = await sent.done;
    const inn = await bobEnd;
    assert.equal(out.state, 'done');
    assert.equal(out.direction, 'out');
    assert.deepEqual(out.peer, { id: 'bob', name: 'bob' });
    assert.equal(out.filesDone, 2);
    assert.equal(out.bytesDone, 11);
    assert.equal(inn.state, 'done');
    assert.equal(inn.id, sent.id);
    assert.deepEqual(inn.peer, { id: 'alice', name: 'alice (alice)' });
    assert.deepEqual(Object.fromEntries(bob.driver.received), { 'a.txt': 'hello', 'b.txt': 'world!' });
    assert.deepEqual(arrived, ['a.txt', 'b.txt']);
    assert.equal(alice.manager.get(sent.id)?.state, 'done');
    assert.deepEqual(
      bob.history.list().map((r) => [r.id, r.state]),
      [[sent.id, 'done']],
    );
  });

  it('an offer through the fake driver waits for a person; a rejection fails the send without a retry', async () => {
    const net = new FakeNet();
    const alice = node(net, 'alice', 'auto');
    const bob = node(net, 'bob', 'ask');
    const waitingOffer = (): Promise<PendingOffer> =>
      new Promise((resolve) => {
        const poll = (): void => {
          const [first] = bob.manager.incoming();
          if (first !== undefined) resolve(first);
          else setImmediate(poll);
        };
        poll();
      });

    const first = alice.manager.send({ peer: 'bob', source: source({ 'x.bin': 'xx' }) });
    const offer = await waitingOffer();
    assert.equal(offer.id, first.id);
    assert.deepEqual(offer.names, ['x.bin']);
    assert.equal(bob.manager.list().find((r) => r.id === first.id)?.state, 'waiting');
    bob.manager.answer(offer.id, true);
    assert.equal((await first.done).state, 'done');

    const second = alice.manager.send({ peer: 'bob', source: source({ 'y.bin': 'yy' }), retry: 'always' });
    bob.manager.answer((await waitingOffer()).id, false);
    const out = await second.done;
    assert.equal(out.state, 'failed');
    assert.equal(out.error?.code, 'PEER_REFUSED');
    assert.equal(out.attempts, 1);
    assert.equal(bob.driver.received.has('y.bin'), false);
  });

  it('retries a failure that may heal, through the same driver', async () => {
    const net = new FakeNet();
    const alice = node(net, 'alice', 'auto');
    node(net, 'bob', 'auto');
    net.down = 2;
    const out = await alice.manager.send({ peer: 'bob', source: source({ 'r.txt': 'again' }), retry: 'always' }).done;
    assert.equal(out.state, 'done');
    assert.equal(out.attempts, 3);
  });

  it('a peer of a protocol no driver speaks is refused at once', () => {
    const net = new FakeNet();
    const alice = node(net, 'alice', 'auto');
    assert.throws(() => alice.manager.send({ peer: 'p2pd:bob', source: source({ a: 'a' }) }), { code: 'INTERNAL' });
  });
});
