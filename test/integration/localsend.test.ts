/**
 * LocalSend in a real daemon: the independent `localsend` CLI (npm) sends to p2pd's LocalSend
 * receiver on 127.0.0.1 over HTTPS without a client certificate; the offer waits for `p2pd
 * accept` (even under accept "all") and lands in the inbox. Multicast is off (discovery disabled),
 * so nothing but loopback traffic is made.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemons.js';

const root = new URL('../../../', import.meta.url).pathname;
let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create({
    name: 'ls-box',
    accept: 'all',
    extra: { discovery: { enabled: false, refreshSeconds: 1, expireSeconds: 5 }, localsend: { enabled: true, port: 0 } },
  });
  await d.start();
});
after(async () => d.destroy());

test('a LocalSend CLI sends to the daemon; the unverified offer waits for accept, then lands', async () => {
  let port = 0;
  await waitFor(
    () => {
      const m = /"port":(\d+),"fingerprint":"[0-9A-F]{64}","msg":"LocalSend receiver listening"/.exec(d.log);
      port = m === null ? 0 : Number(m[1]);
      return port > 0;
    },
    10_000,
    'the LocalSend port in the log',
  );
  const file = join(d.dir, 'from-phone.txt');
  await writeFile(file, 'hello from a LocalSend app\n');
  const cli = join(root, 'node_modules', 'localsend', 'dist', 'cli.js');
  const child = execFile(process.execPath, [cli, 'send', '127.0.0.1', file, '--port', String(port), '--protocol', 'https'], {
    timeout: 30_000,
    env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let offerId = '';
  await waitFor(
    async () => {
      const offers = await d.json<Array<{ id: string; peer: { id: string } }> | { offers: Array<{ id: string; peer: { id: string } }> }>(['incoming']);
      const list = Array.isArray(offers) ? offers : offers.offers;
      offerId = list[0]?.id ?? '';
      return offerId !== '';
    },
    15_000,
    'the offer to wait for accept',
  );
  const r = await d.cli(['accept', offerId]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exited, 0);
  await waitFor(
    async () => (await readFile(join(d.inbox, 'from-phone.txt'), 'utf8').catch(() => '')) === 'hello from a LocalSend app\n',
    10_000,
    'the file in the inbox',
  );
  const peers = await d.json<{ peers: Array<{ protocol?: string }> }>(['peers']);
  assert.ok(peers.peers.every((p) => p.protocol !== undefined));
});
