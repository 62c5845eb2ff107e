/**
 * p2pd's LocalSend receiver on 127.0.0.1 (port 0) for tests: the real server, admission gate,
 * manager and inbox, accepting verified senders at once and asking about the others.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { AdmissionGate, type IncomingPolicy } from '../../src/transfer/admission.js';
import { TransferManager } from '../../src/transfer/manager.js';
import { Inbox } from '../../src/store/inbox.js';
import type { LocalSendIdentity } from '../../src/localsend/identity.js';
import { LocalSendServer } from '../../src/localsend/server.js';
import { MemoryHistory } from './memory-history.js';

export interface TestLocalSendReceiver {
  server: LocalSendServer;
  manager: TransferManager;
  gate: AdmissionGate;
  history: MemoryHistory;
  /** Paths saved, relative to the inbox, in the order the manager reported them. */
  received: string[];
  inboxDir: string;
}

/** Started in a fresh folder under `dir`; stopped when the test `t` ends. */
export async function startLocalSendReceiver(
  t: { after: (fn: () => Promise<void>) => void },
  dir: string,
  identity: LocalSendIdentity,
  options: { pin?: string } = {},
): Promise<TestLocalSendReceiver> {
  const sub = await mkdtemp(join(dir, 'node-'));
  const history = new MemoryHistory();
  const policy: IncomingPolicy = { decide: (p) => (p.verified === false ? 'ask' : 'auto'), displayName: (p) => p.helloName || p.id };
  const gate = new AdmissionGate(
    { logger: silentLogger(), policy, history },
    { localName: 'box', askTimeoutMs: 5000, minFreeSpace: 0, maxConcurrentIncoming: 4, limits: { maxOfferFiles: 100, maxOfferBytes: 0, maxFileSize: 0 } },
  );
  const manager = new TransferManager(
    { logger: silentLogger(), connector: { resolve: (q) => ({ protocol: 'p2pd', id: q, name: q }) }, history, gate, drivers: [] },
    { maxConcurrentOutgoing: 1, retry: { minDelayMs: 10, maxDelayMs: 20, giveUpMs: 1000 } },
  );
  const inboxDir = join(sub, 'inbox');
  const inbox = new Inbox({}, { dir: inboxDir });
  await inbox.start();
  const received: string[] = [];
  manager.on('received', (f) => received.push(f.savedAs));
  const server = new LocalSendServer(
    { logger: silentLogger(), inbox, identity, receive: (peer, run, o) => manager.receiveSession(peer, run, o) },
    { host: '127.0.0.1', port: 0, alias: 'box', deviceModel: 'p2pd', pin: options.pin ?? '', idleTimeoutMs: 5000 },
  );
  await server.start({ signal: new AbortController().signal });
  t.after(async () => {
    await server.stop();
    await manager.stop();
  });
  return { server, manager, gate, history, received, inboxDir };
}
