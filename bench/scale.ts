/**
 * p2pd on a LAN of many daemons (network namespaces on one bridge; needs root, like the LAN test
 * suite): all started at once with the product's discovery settings, then
 * - the time until every daemon lists every other (from the daemons' logs; from the last start
 *   and from the first), confirmed over `p2pd peers --json` on every daemon;
 * - mDNS packets per second on the LAN while idle (counted on a host with no daemon, after a
 *   settling time, so the start-up announcements and the first queries are over);
 * - RSS per daemon;
 * - one daemon sending a file to one peer, then to all the others at once (hash-checked).
 *
 *   node dist/bench/scale.js [--daemons 50] [--bytes 16777216] [--settle 60] [--idle 60]
 *
 * Prints one JSON document (docs/BENCHMARKS.md, "Many daemons on one LAN").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from '../test/helpers/daemons.js';
import { lanUnavailable } from '../test/helpers/lan.js';
import { fanout, idleMdnsPerSecond, median, onlinePeers, round1, rssMiB, startScaleLan, waitAllSeeAll } from '../test/helpers/lan-scale.js';

const { values } = parseArgs({
  options: {
    daemons: { type: 'string', default: '50' },
    bytes: { type: 'string', default: String(16 * 1024 * 1024) },
    settle: { type: 'string', default: '60' },
    idle: { type: 'string', default: '60' },
    bound: { type: 'string', default: '120' },
  },
});
const DAEMONS = Number(values.daemons);
const BYTES = Number(values.bytes);

const why = lanUnavailable();
if (why !== null) {
  console.error(`cannot build a LAN here: ${why}`);
  process.exit(2);
}

const log = (msg: string): void => console.error(`[scale] ${msg}`);
const data = await mkdtemp(join(tmpdir(), 'p2pd-scale-'));
log(`starting ${DAEMONS} daemons at once`);
const scale = await startScaleLan(DAEMONS);
try {
  const { daemons, lan } = scale;
  log(`all ready after ${round1(scale.startSeconds)} s; waiting until every daemon lists every other`);
  const seen = await waitAllSeeAll(daemons, Number(values.bound) * 1000);
  const listed = await onlinePeers(daemons);
  const incomplete = daemons.filter((d) => listed.get(d.name)!.size < DAEMONS - 1).map((d) => d.name);
  log(`settling ${values.settle} s, then counting mDNS packets for ${values.idle} s`);
  await sleep(Number(values.settle) * 1000);
  const idle = await idleMdnsPerSecond(lan, Number(values.idle));
  const rss = daemons.map(rssMiB).filter((n) => !Number.isNaN(n));
  log(`fan-out of ${BYTES} bytes from ${daemons[0]!.name} to ${DAEMONS - 1} peers`);
  const [hub, ...rest] = daemons;
  const f = await fanout(hub!, rest, data, BYTES);
  const report = {
    daemons: DAEMONS,
    startAllSeconds: round1(scale.startSeconds),
    allSeeAllSeconds: { fromLastStart: round1(seen.seconds), fromFirstStart: round1(seen.fromFirstReadySeconds) },
    peersCommandIncomplete: incomplete,
    idleMdnsPacketsPerSecond: round1(idle),
    rssMiB: { median: Math.round(median(rss)), max: Math.round(Math.max(...rss)), total: Math.round(rss.reduce((a, b) => a + b, 0)) },
    fanout: {
      bytes: BYTES,
      single: { seconds: round1(f.singleSeconds), MBps: round1(f.singleMBps) },
      toAll: { peers: rest.length, seconds: round1(f.fanoutSeconds), totalMBps: round1(f.fanoutMBps) },
    },
    loadAverage: (await import('node:os')).loadavg().map((n) => round1(n)),
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  await scale.destroy();
  await rm(data, { recursive: true, force: true });
}
