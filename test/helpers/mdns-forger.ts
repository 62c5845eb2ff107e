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
  /** The A record's address; default: the forger's own. */
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
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  let flooded = 0;
  socket.bind(5353, plan.self, () => {
    socket.setMulticastInterface(plan.self);
    socket.setMulticastTTL(255);
    const tick = (): void => {
      const batch = [...plan.services];
      const extra = Math.min(plan.floodPerTick ?? 0, (plan.floodTotal ?? 0) - flooded);
      for (let i = 0; i < extra; i++, flooded++) {
        batch.push({ id: peerIdFromSpki(randomBytes(32)), name: `fake${flooded}`, port: 20000 + (flooded % 20000) });
      }
      for (const s of batch) socket.send(answer(s, plan.self), 5353, '224.0.0.251');
    };
    tick();
    setInterval(tick, plan.everyMs);
  });
}

main();
