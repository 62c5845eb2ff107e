/**
 * Hostile announcements and look-alike names (issue: hijack and poisoning from the LAN). Each
 * case failed before the fix: a name could stand in for a trusted peer's short id, a forged
 * announcement on another port dropped the real address, a flood grew the table without bound,
 * off-link addresses were dialled and a non-canonical id reached `send`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTable } from '../../src/discovery/peer-table.js';
import { imitatedName, resolvePeer } from '../../src/discovery/resolve.js';
import { lookAlikeKey } from '../../src/discovery/look-alike.js';
import { onLinkCheck, sightingFromService } from '../../src/discovery/mdns.js';

const BOB = '337K24M' + 'B'.repeat(44) + 'A';
const EVIL = 'E'.repeat(51) + 'Q';
const CAROL = 'C'.repeat(51) + 'A';

describe('names never stand in for ids', () => {
  const peers = [
    { id: BOB, name: 'bob', trusted: true },
    { id: EVIL, name: '337K24M', trusted: false },
  ];
  it('a name equal to a trusted short id resolves to the trusted peer, not the announcer', () => {
    assert.equal(resolvePeer('337K24M', peers).id, BOB);
  });
  it('@prefix is an id prefix only', () => {
    assert.equal(resolvePeer('@337k24m', peers).id, BOB);
    assert.throws(() => resolvePeer('@bob', peers), { code: 'PEER_NOT_FOUND' });
  });
  it('between untrusted peers, a name that is also an id prefix is ambiguous and lists both', () => {
    const strangers = [
      { id: BOB, name: 'bob' },
      { id: EVIL, name: '337K24M' },
    ];
    assert.throws(
      () => resolvePeer('337K24M', strangers),
      (e: { code: string; details: { choices: string[] } }) => e.code === 'PEER_AMBIGUOUS' && e.details.choices.length === 2,
    );
  });
  it('an untrusted name with a look-alike elsewhere is ambiguous', () => {
    const lookalikes = [
      { id: BOB, name: 'bob' },
      { id: EVIL, name: 'b0b' },
    ];
    assert.throws(() => resolvePeer('b0b', lookalikes), { code: 'PEER_AMBIGUOUS' });
    assert.throws(() => resolvePeer('bob', lookalikes), { code: 'PEER_AMBIGUOUS' });
    // a trusted holder of the name still wins
    assert.equal(resolvePeer('bob', [{ ...lookalikes[0]!, trusted: true }, lookalikes[1]!]).id, BOB);
  });
  it('look-alike keys fold case, accents, digits and Cyrillic/Greek letters', () => {
    assert.equal(lookAlikeKey('Bob'), lookAlikeKey('b0b'));
    assert.equal(lookAlikeKey('bob'), lookAlikeKey('bоb')); // Cyrillic o
    assert.equal(lookAlikeKey('alice-laptop'), lookAlikeKey('Alice Laptop'));
    assert.notEqual(lookAlikeKey('bob'), lookAlikeKey('rob'));
  });
  it('peers flags a stranger named like a trusted name or short id', () => {
    const trusted = [{ id: BOB, name: 'bob' }];
    assert.equal(imitatedName('337K24M', trusted), 'bob');
    assert.equal(imitatedName('B0B', trusted), 'bob');
    assert.equal(imitatedName('carol', trusted), null);
  });
});

describe('the peer table resists poisoning', () => {
  const at = (host: string, port: number) => [{ host, port }];
  it('a forged announcement of a trusted id on another address never removes the real one', () => {
    let now = 0;
    const t = new PeerTable({ now: () => now, isTrusted: (id) => id === BOB });
    t.seen({ id: BOB, name: 'bob', addresses: at('10.0.0.2', 45454), via: 'eth0' });
    for (let port = 50000; port < 50020; port++) {
      now += 300;
      t.seen({ id: BOB, name: 'bob', addresses: at('10.0.0.66', port), via: 'eth0' });
    }
    const hosts = t.get(BOB)!.addresses;
    assert.ok(
      hosts.some((a) => a.host === '10.0.0.2' && a.port === 45454),
      'the real address stays',
    );
    assert.ok(hosts.filter((a) => a.host === '10.0.0.66').length <= 2, 'one host holds at most two ports');
  });
  it('addresses expire one by one; a peer goes when none is left', () => {
    let now = 0;
    const t = new PeerTable({ now: () => now });
    t.seen({ id: CAROL, name: 'carol', addresses: at('10.0.0.3', 1), via: 'eth0' });
    now = 5000;
    t.seen({ id: CAROL, name: 'carol', addresses: at('10.0.0.3', 2), via: 'eth0' });
    now = 8000;
    t.expire(4000);
    assert.deepEqual(t.get(CAROL)!.addresses, [{ host: '10.0.0.3', port: 2 }]);
    now = 20_000;
    t.expire(4000);
    assert.equal(t.get(CAROL), undefined);
  });
  it('a flood from one source is rate-limited, summarised, and bounded; trusted ids always get in', () => {
    const now = 1000;
    const t = new PeerTable({ now: () => now, isTrusted: (id) => id === BOB }, { maxPeers: 50, newPeersPerMinute: 16 });
    const floods: Array<{ refused: number }> = [];
    t.on('flood', (f) => floods.push(f));
    let ups = 0;
    t.on('up', () => ups++);
    for (let i = 0; i < 16_000; i++) {
      const id = i.toString(32).toUpperCase().replace(/[01]/g, 'Z').padStart(51, 'A') + 'A';
      t.seen({ id, name: `fake${i}`, addresses: at('10.0.0.66', 1000 + (i % 1000)), via: 'eth0', source: '10.0.0.66' });
    }
    assert.equal(ups, 16);
    assert.equal(floods.length, 1, 'one report at once, the rest when the window closes');
    // other sources fill the table to its bound, never beyond
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 16; i++) {
        const id = `${s}`.replace(/[01]/g, 'Z').padStart(3, 'X') + String.fromCharCode(65 + i).repeat(48) + 'A';
        t.seen({ id, name: `n${s}-${i}`, addresses: at(`10.0.1.${s + 2}`, 1), via: 'eth0', source: `10.0.1.${s + 2}` });
      }
    }
    assert.ok(t.size <= 50);
    assert.notEqual(t.seen({ id: BOB, name: 'bob', addresses: at('10.0.0.2', 1), via: 'eth0', source: '10.0.0.66' }), null);
    assert.ok(t.get(BOB));
    assert.ok(t.size <= 50);
  });
});

describe('announced addresses must be on the link they came in on', () => {
  const svc = (over: Record<string, unknown>) =>
    ({ name: 'x', port: 4000, txt: { id: BOB, v: '1', n: 'bob' }, referer: { address: '10.0.0.9' }, addresses: [], ...over }) as never;
  const eth0 = onLinkCheck({ iface: 'eth0', address: '10.0.0.1', netmask: '255.255.255.0' });
  it('loopback, other subnets, broadcast and IPv6 are dropped', () => {
    const s = sightingFromService(svc({ addresses: ['127.0.0.1', '192.168.5.5', '10.0.0.255', '10.0.0.7', 'fd00::1'] }), 'eth0', eth0);
    assert.deepEqual(s?.addresses, [
      { host: '10.0.0.9', port: 4000 },
      { host: '10.0.0.7', port: 4000 },
    ]);
    assert.equal(s?.source, '10.0.0.9');
    assert.equal(sightingFromService(svc({ referer: { address: '127.0.0.1' }, addresses: ['127.0.0.1'] }), 'eth0', eth0), null);
  });
  it('on loopback, loopback addresses are on the link', () => {
    const lo = onLinkCheck({ iface: 'lo', address: '127.0.0.1', netmask: '255.0.0.0' });
    assert.equal(sightingFromService(svc({ referer: { address: '127.0.0.1' } }), 'lo', lo)?.addresses[0]?.host, '127.0.0.1');
  });
  it('an id of the right length that no key can have is ignored', () => {
    assert.equal(sightingFromService(svc({ txt: { id: 'B'.repeat(52), n: 'bob' } }), 'eth0', eth0), null);
  });
});
