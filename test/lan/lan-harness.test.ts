/**
 * The LAN harness itself, measured with plain sockets (no daemons): a tbf limit gives about its
 * rate, a loss rule loses about its share, a delayed cable adds its latency while multicast still
 * crosses, and a cut cable is silent. Quick, and it tells a harness fault from a p2pd fault.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Lan, lanUnavailable } from '../helpers/lan.js';

const why = lanUnavailable(['shaping', 'loss', 'delay']);
if (why !== null) console.warn(`\n*** LAN harness tests SKIPPED: ${why} ***\n`);

/** Runs a Node ES module script inside a host (its arguments from process.argv[2]); resolves with its stdout. */
function runIn(prefix: string[], script: string, args: string[] = [], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, ...rest] = [...prefix, process.execPath, '--input-type=module', '-e', script, '--', 'script', ...args];
    const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`script in ${prefix.at(-1)} failed (${code ?? signal}): ${err}`));
    });
  });
}

/** A TCP server that echoes and counts: prints the bytes it read when the client closes. */
const SERVER = `
import net from 'node:net';
const srv = net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; if (d.length < 64) s.write(d); });
  s.on('end', () => { s.end(); });
  s.on('error', () => {});
});
srv.listen(5001, () => console.log('listening'));
setTimeout(() => process.exit(0), Number(process.argv[2]));
`;

/** Median round trip of 15 one-byte echoes, in ms. */
const RTT = `
import net from 'node:net';
const s = net.connect(5001, process.argv[2]);
s.setNoDelay(true);
await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
const times = [];
for (let i = 0; i < 15; i++) {
  const t = process.hrtime.bigint();
  s.write('x');
  await new Promise((r) => s.once('data', r));
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
s.end();
times.sort((a, b) => a - b);
console.log(times[7].toFixed(2));
`;

/** Sends N bytes as fast as TCP allows; prints Mbit/s. */
const THROUGHPUT = `
import net from 'node:net';
const total = Number(process.argv[3]);
const s = net.connect(5001, process.argv[2]);
await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
const block = Buffer.alloc(256 * 1024, 1);
const t = process.hrtime.bigint();
let sent = 0;
while (sent < total) { sent += block.length; if (!s.write(block)) await new Promise((r) => s.once('drain', r)); }
s.end();
await new Promise((r) => s.once('close', r));
console.log((total * 8 / (Number(process.hrtime.bigint() - t) / 1e9) / 1e6).toFixed(1));
`;

/**
 * Multicast receiver: prints how many datagrams arrived, once none came for 500 ms (or after the
 * time given).
 */
const MCAST_RECV = `
import dgram from 'node:dgram';
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let n = 0;
const report = () => { console.log(n); process.exit(0); };
let quiet;
s.on('message', () => { n++; clearTimeout(quiet); quiet = setTimeout(report, 500); });
s.bind(45999, () => { s.addMembership('224.0.0.251', process.argv[2]); console.log('bound'); });
setTimeout(report, Number(process.argv[3]));
`;

/** Sends N datagrams to a group or address, 1 ms apart. */
const UDP_SEND = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
await new Promise((r) => s.bind(0, process.argv[4], r));
if (process.argv[2].startsWith('224.')) s.setMulticastInterface(process.argv[4]);
for (let i = 0; i < Number(process.argv[3]); i++) {
  s.send('p', 45999, process.argv[2]);
  await new Promise((r) => setTimeout(r, 1));
}
await new Promise((r) => setTimeout(r, 200));
s.close();
`;

describe('the LAN harness', { skip: why ?? false, timeout: 90_000 }, () => {
  let lan: Lan;

  before(() => {
    lan = Lan.create(['a', 'b', 'c']);
  });

  after(() => {
    lan?.destroy();
  });

  async function withServer<T>(host: string, body: () => Promise<T>): Promise<T> {
    const server = spawn(
      lan.host(host).prefix[0]!,
      [...lan.host(host).prefix.slice(1), process.execPath, '--input-type=module', '-e', SERVER, '--', 'script', '30000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        server.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
      });
      return await body();
    } finally {
      server.kill('SIGKILL');
    }
  }

  it('a delayed cable adds its latency each way; multicast still crosses it', async (t) => {
    await lan.delay('b', 25);
    await withServer('b', async () => {
      const rtt = Number(await runIn(lan.host('a').prefix, RTT, [lan.host('b').address]));
      t.diagnostic(`a → b (b delayed 25 ms each way): median RTT ${rtt} ms`);
      assert.ok(rtt >= 49 && rtt < 80, `RTT ${rtt} ms`);
    });
    await withServer('c', async () => {
      const rtt = Number(await runIn(lan.host('a').prefix, RTT, [lan.host('c').address]));
      t.diagnostic(`a → c (no delay): median RTT ${rtt} ms`);
      assert.ok(rtt < 10, `RTT ${rtt} ms`);
    });
    const receiving = runIn(lan.host('b').prefix, MCAST_RECV, [lan.host('b').address, '3000']);
    await new Promise((r) => setTimeout(r, 300));
    await runIn(lan.host('a').prefix, UDP_SEND, ['224.0.0.251', '100', lan.host('a').address]);
    const got = Number((await receiving).trim().split('\n').at(-1));
    assert.equal(got, 100, 'every multicast datagram crossed the relay');
  });

  it('a tbf limit gives about its rate in both directions', async (t) => {
    lan.limit('c', { rateMbit: 40 });
    try {
      await withServer('c', async () => {
        const up = Number(await runIn(lan.host('a').prefix, THROUGHPUT, [lan.host('c').address, String(10_000_000)]));
        t.diagnostic(`a → c limited to 40 Mbit/s: ${up} Mbit/s`);
        assert.ok(up > 25 && up < 48, `${up} Mbit/s`);
      });
      await withServer('a', async () => {
        const down = Number(await runIn(lan.host('c').prefix, THROUGHPUT, [lan.host('a').address, String(10_000_000)]));
        t.diagnostic(`c → a limited to 40 Mbit/s: ${down} Mbit/s`);
        assert.ok(down > 25 && down < 48, `${down} Mbit/s`);
      });
    } finally {
      lan.unlimit('c');
    }
  });

  it('a loss rule drops about its share of packets; 0 removes it', async (t) => {
    lan.loss('c', 20);
    const receiving = runIn(lan.host('c').prefix, MCAST_RECV, [lan.host('c').address, '4000']);
    await new Promise((r) => setTimeout(r, 300));
    await runIn(lan.host('a').prefix, UDP_SEND, ['224.0.0.251', '1000', lan.host('a').address]);
    const got = Number((await receiving).trim().split('\n').at(-1));
    t.diagnostic(`1000 datagrams into c with 20 % loss: ${got} arrived`);
    assert.ok(got > 700 && got < 880, `${got} of 1000 arrived`);
    lan.loss('c', 0);
    const again = runIn(lan.host('c').prefix, MCAST_RECV, [lan.host('c').address, '3000']);
    await new Promise((r) => setTimeout(r, 300));
    await runIn(lan.host('a').prefix, UDP_SEND, ['224.0.0.251', '200', lan.host('a').address]);
    assert.equal(Number((await again).trim().split('\n').at(-1)), 200);
  });

  it('a cut cable carries nothing until it is restored', async () => {
    await withServer('c', async () => {
      lan.cut('c');
      await assert.rejects(runIn(lan.host('a').prefix, RTT, [lan.host('c').address], 3000));
      lan.restore('c');
      const rtt = Number(await runIn(lan.host('a').prefix, RTT, [lan.host('c').address]));
      assert.ok(rtt < 10, `RTT ${rtt} ms after the restore`);
    });
  });
});
