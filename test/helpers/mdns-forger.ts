/**
 * A hostile mDNS responder for the LAN suite: sends unsolicited `_p2pd._tcp` answers with
 * whatever ids, names, ports and addresses a test asks for, again and again, and optionally a
 * flood of fresh fake ids. Runs inside a test host's network namespace until it is killed:
 *   node mdns-forger.js '<json ForgerPlan>'
 * It encodes the DNS packets itself (no compression), so it depends on nothing but Node.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { peerIdFromSpki } from '../../src/transport/peer-id.js';

export interface ForgedService {
  /** TXT id: anything, valid or not. */
  id: string;
  name: string;
  port: number;
  /** The A record's address; default: the address the announcement is sent from. */
  address?: string;
}

export interface ForgerPlan {
  /** The forger's own address (its namespace's eth0). */
  self: string;
  services: ForgedService[];
  everyMs: number;
  /** Fresh fake ids announced per tick (0: none), until `floodTotal` were sent. */
  floodPerTick?: number;
  floodTotal?: number;
  /**
   * More addresses of the forger's host to send from, in turn (flooded ids are spread over them,
   * each announced from its own): a peer table limits new ids per source address.
   */
  sources?: string[];
  /** Announce every flooded id again on each tick, not only the fresh ones (they stay alive). */
  floodRepeat?: boolean;
}

function name(labels: string): Buffer {
  const parts = labels.split('.').filter((l) => l !== '');
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])]);
}

function record(owner: string, type: number, cacheFlush: boolean, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(cacheFlush ? 0x8001 : 1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name(owner), fixed, rdata]);
}

function answer(s: ForgedService, self: string): Buffer {
  const instance = `${s.name.replace(/\./g, '-')}-${s.id.slice(0, 7)}._p2pd._tcp.local`;
  const host = `forged-${s.id.slice(0, 7).toLowerCase()}.local`;
  const srv = Buffer.alloc(6);
  srv.writeUInt16BE(s.port, 4);
  const txt = Buffer.concat([`id=${s.id}`, 'v=1', `n=${s.name}`].map((t) => Buffer.concat([Buffer.from([Buffer.byteLength(t)]), Buffer.from(t)])));
  const records = [
    record('_p2pd._tcp.local', 12, false, 120, name(instance)),
    record(instance, 33, true, 120, Buffer.concat([srv, name(host)])),
    record(instance, 16, true, 120, txt),
    record(host, 1, true, 120, Buffer.from((s.address ?? self).split('.').map(Number))),
  ];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x8400, 2);
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, ...records]);
}

function main(): void {
  const plan = JSON.parse(process.argv[2] ?? '{}') as ForgerPlan;
  const sources = plan.sources !== undefined && plan.sources.length > 0 ? plan.sources : [plan.self];
  const sockets = sources.map(() => createSocket({ type: 'udp4', reuseAddr: true }));
  let flooded = 0;
  let bound = 0;
  const flood: Array<{ s: ForgedService; from: number }> = [];
  const start = (): void => {
    const tick = (): void => {
      if (plan.floodRepeat !== true) flood.length = 0;
      const extra = Math.min(plan.floodPerTick ?? 0, (plan.floodTotal ?? 0) - flooded);
      for (let i = 0; i < extra; i++, flooded++) {
        flood.push({ s: { id: peerIdFromSpki(randomBytes(32)), name: `fake${flooded}`, port: 20000 + (flooded % 20000) }, from: flooded % sources.length });
      }
      for (const s of plan.services) sockets[0]!.send(answer(s, sources[0]!), 5353, '224.0.0.251');
      for (const { s, from } of flood) sockets[from]!.send(answer(s, sources[from]!), 5353, '224.0.0.251');
    };
    tick();
    setInterval(tick, plan.everyMs);
  };
  sockets.forEach((socket, i) => {
    socket.bind(5353, sources[i], () => {
      socket.setMulticastInterface(sources[i]!);
      socket.setMulticastTTL(255);
      if (++bound === sockets.length) start();
    });
  });
}

main();
