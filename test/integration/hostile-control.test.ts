/**
 * A runaway client of the control socket against a real daemon (issue 10, item 7): hundreds of
 * connections each holding an unfinished line of almost 4 MiB, and connections that pipeline
 * hundreds of thousands of requests and never read an answer. The daemon must stay within
 * bounded memory, and a normal `p2pd` command must still be answered meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { TestDaemon, sleep } from '../helpers/daemons.js';
import { rssOf } from '../helpers/hostile-client.js';

const MiB = 1024 * 1024;

function connect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.on('error', () => resolve(undefined));
    s.once('connect', () => resolve(s));
    s.once('close', () => resolve(undefined));
  });
}

describe('hostile control-socket clients', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.create({ name: 'ctl', extra: { discovery: { enabled: false } } });
    await d.start();
  });
  after(async () => {
    await d.destroy();
  });

  it('keeps memory bounded under long unfinished lines and unread pipelined requests, and serves a normal client', async () => {
    const pid = d.pid!;
    const socketPath = join(d.dir, 'state', 'control.sock');
    const baseline = await rssOf(pid);
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssOf(pid).catch(() => 0));
        await sleep(25);
      }
    })();

    const sockets: Socket[] = [];
    try {
      // 200 connections, each writing a line of almost 4 MiB that never ends.
      const line = Buffer.alloc(4 * MiB - 16, 0x61);
      for (let i = 0; i < 200; i++) {
        const s = await connect(socketPath);
        if (s === undefined) continue;
        sockets.push(s);
        s.write(line);
        if (i % 20 === 19) await sleep(20);
      }
      // 20 connections, each pipelining 10,000 requests (200,000 in all) and reading nothing.
      const requests = Buffer.from(Array.from({ length: 10_000 }, (_, i) => `{"id":${i + 1},"method":"status"}\n`).join(''));
      for (let i = 0; i < 20; i++) {
        const s = await connect(socketPath);
        if (s === undefined) continue;
        s.pause();
        sockets.push(s);
        s.write(requests);
      }
      await sleep(1500);

      // A normal command is answered while all that is going on.
      const r = await d.cli(['id', '--json'], 20_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'ctl');
    } finally {
      sampling = false;
      await sampler;
      for (const s of sockets) s.destroy();
    }
    const grown = peak - baseline;
    console.log(`control caps: daemon RSS ${Math.round(baseline / MiB)} MiB -> peak ${Math.round(peak / MiB)} MiB`);
    // Without caps this took the daemon from ~200 MiB to over 1 GiB; with them it holds at most
    // 16 MiB of unfinished lines and a small queue per connection.
    assert.ok(grown < 128 * MiB, `the daemon grew by ${Math.round(grown / MiB)} MiB (from ${Math.round(baseline / MiB)} MiB)`);
    // Still answering afterwards.
    const again = await d.cli(['status', '--json'], 20_000);
    assert.equal(again.code, 0, again.stderr);
  });
});
