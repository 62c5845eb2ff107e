/**
 * LocalSend discovery without multicast: announcements fed to the handler, answered by an HTTPS
 * register to a real server on 127.0.0.1, and the device table's defences against poisoning.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { LocalSendDevices, MAX_DEVICES_PER_ADDRESS } from '../../src/localsend/devices.js';
import { LocalSendDiscovery } from '../../src/localsend/discovery.js';
import { loadLocalSendIdentity, type LocalSendIdentity } from '../../src/localsend/identity.js';
import { LocalSendServer, type SeenDevice } from '../../src/localsend/server.js';
import { parseDeviceInfo } from '../../src/localsend/messages.js';
import type { InboxStore } from '../../src/transfer/ports.js';

let dir: string;
let ours: LocalSendIdentity;
let theirs: LocalSendIdentity;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2pd-lsd-'));
  ours = await loadLocalSendIdentity({ stateDir: join(dir, 'a') });
  theirs = await loadLocalSendIdentity({ stateDir: join(dir, 'b') });
});
after(async () => rm(dir, { recursive: true, force: true }));

const noInbox = {} as InboxStore;

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('an announcement is answered by an HTTPS register that proves the fingerprint, both ways', async (t) => {
  const registered: SeenDevice[] = [];
  const server = new LocalSendServer(
    { logger: silentLogger(), inbox: noInbox, identity: theirs, receive: async () => undefined, onDevice: (d) => registered.push(d) },
    { host: '127.0.0.1', port: 0, alias: 'phone', deviceModel: 'x', pin: '', idleTimeoutMs: 5000 },
  );
  await server.start({ signal: new AbortController().signal });
  t.after(() => server.stop());
  const devices = new LocalSendDevices();
  const discovery = new LocalSendDiscovery(
    {
      logger: silentLogger(),
      devices,
      identity: ours,
      info: () => ({ alias: 'box', version: '2.1', deviceModel: null, deviceType: 'headless', fingerprint: ours.fingerprint, download: false }),
    },
    { interfaces: ['lo'], port: 1, announceEveryMs: 60_000 },
  );
  const announce = (fingerprint: string): Buffer =>
    Buffer.from(JSON.stringify({ alias: 'phone', version: '2.1', deviceType: 'mobile', fingerprint, port: server.port, protocol: 'https', announce: true }));

  discovery.handle(announce(theirs.fingerprint), { address: '127.0.0.1' });
  await waitFor(() => devices.list().some((d) => d.verified));
  const d = devices.list().find((x) => x.verified)!;
  assert.equal(d.fingerprint, theirs.fingerprint);
  // The server side saw our client certificate: our fingerprint, proven.
  assert.equal(registered[0]?.verifiedFingerprint, ours.fingerprint);

  // An impostor announcing someone else's fingerprint from that address is never verified.
  const fake = 'AB'.repeat(32);
  discovery.handle(announce(fake), { address: '127.0.0.1' });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(devices.list().find((x) => x.fingerprint === fake)?.verified, false);
  // Our own announcement echoed back is ignored.
  discovery.handle(announce(ours.fingerprint), { address: '127.0.0.1' });
  assert.ok(!devices.list().some((x) => x.fingerprint === ours.fingerprint));
  await discovery.stop();
});

test('the device table: an unproven claim never replaces a proven device; per-address bound', () => {
  const devices = new LocalSendDevices();
  const info = parseDeviceInfo({ alias: 'phone', fingerprint: 'CD'.repeat(32), protocol: 'https', port: 53317 });
  assert.equal(devices.seen(info, { address: '10.0.0.2', port: 53317 }, 'CD'.repeat(32)), true);
  assert.equal(devices.seen({ ...info, alias: 'evil' }, { address: '10.0.0.9', port: 53317 }, null), false);
  assert.deepEqual(
    devices.list().map((d) => [d.alias, d.verified]),
    [['phone', true]],
  );
  let accepted = 0;
  for (let i = 0; i < 20; i++) if (devices.seen({ ...info, fingerprint: `F${i}` }, { address: '10.0.0.7', port: 1 }, null)) accepted++;
  assert.equal(accepted, MAX_DEVICES_PER_ADDRESS);
});
