/** The peer table, name resolution and the checks on what mDNS announces. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTable } from '../../src/discovery/peer-table.js';
import { displayNames, resolvePeer } from '../../src/discovery/resolve.js';
import { cleanPeerName, pickInterfaces, sightingFromService } from '../../src/discovery/mdns.js';

const ID_A = 'A'.repeat(51) + 'Q';
const ID_B = 'B'.repeat(51) + 'A';
const ID_C = 'BC' + 'D'.repeat(49) + 'A';

describe('PeerTable', () => {
  it('adds, refreshes, expires and says goodbye', () => {
    let now = 1000;
    const t = new PeerTable({ now: () => now });
    const ups: string[] = [];
    const downs: string[] = [];
    t.on('up', (p) => ups.push(p.id));
    t.on('down', (p) => downs.push(p.id));
    t.seen({ id: ID_A, name: 'alice', addresses: [{ host: '10.0.0.1', port: 1 }], via: 'eth0' });
    now = 2000;
    t.seen({ id: ID_A, name: 'alice', addresses: [{ host: '10.0.0.2', port: 1 }], via: 'eth0' });
    assert.deepEqual(ups, [ID_A]);
    assert.deepEqual(
      t.get(ID_A)!.addresses.map((a) => a.host),
      ['10.0.0.2', '10.0.0.1'],
    );
    // a restart on another port puts the new address first; the old one expires on its own
    t.seen({ id: ID_A, name: 'alice', addresses: [{ host: '10.0.0.2', port: 2 }], via: 'eth0' });
    assert.deepEqual(t.get(ID_A)!.addresses[0], { host: '10.0.0.2', port: 2 });
    t.seen({ id: ID_B, name: 'bob', addresses: [{ host: '10.0.0.3', port: 1 }], via: 'eth0' });
    now = 10_000;
    t.seen({ id: ID_B, name: 'bob', addresses: [{ host: '10.0.0.3', port: 1 }], via: 'eth0' });
    t.expire(5000);
    assert.deepEqual(downs, [ID_A]);
    t.gone(ID_B);
    assert.deepEqual(downs, [ID_A, ID_B]);
    assert.equal(t.list().length, 0);
  });
});

describe('resolvePeer', () => {
  const peers = [
    { id: ID_A, name: 'alice' },
    { id: ID_B, name: 'bob' },
    { id: ID_C, name: 'bob' },
  ];
  it('finds by unique name, case-insensitively', () => assert.equal(resolvePeer('ALICE', peers).id, ID_A));
  it('finds by full id with dashes', () => assert.equal(resolvePeer(ID_B.replace(/(.{4})/g, '$1-'), peers).id, ID_B));
  it('finds by name#short-id', () => assert.equal(resolvePeer(`bob#${ID_C.slice(0, 7)}`, peers).id, ID_C));
  it('finds by id prefix', () => assert.equal(resolvePeer('BBBB', peers).id, ID_B));
  it('a shared name is ambiguous and lists the choices', () => {
    assert.throws(
      () => resolvePeer('bob', peers),
      (e: { code: string; details: { choices: string[] } }) => {
        assert.equal(e.code, 'PEER_AMBIGUOUS');
        assert.equal(e.details.choices.length, 2);
        return true;
      },
    );
  });
  it('an unknown name is PEER_NOT_FOUND', () => assert.throws(() => resolvePeer('carol', peers), { code: 'PEER_NOT_FOUND' }));
  it('display names disambiguate only where needed', () => {
    const d = displayNames(peers);
    assert.equal(d.get(ID_A), 'alice');
    assert.equal(d.get(ID_B), `bob#${ID_B.slice(0, 7)}`);
  });
});

describe('mDNS announcements are hostile input', () => {
  const svc = (over: Record<string, unknown>) =>
    ({ name: 'x', port: 4000, txt: { id: ID_A, v: '1', n: 'alice' }, referer: { address: '10.0.0.9' }, addresses: [], ...over }) as never;
  it('a good announcement becomes a sighting at the sender address', () => {
    assert.deepEqual(sightingFromService(svc({}), 'eth0'), {
      id: ID_A,
      name: 'alice',
      addresses: [{ host: '10.0.0.9', port: 4000 }],
      via: 'eth0',
      source: '10.0.0.9',
    });
  });
  it('a bad id, port or empty name is ignored', () => {
    assert.equal(sightingFromService(svc({ txt: { id: 'nope', n: 'a' } }), 'e'), null);
    assert.equal(sightingFromService(svc({ port: 0 }), 'e'), null);
    assert.equal(sightingFromService(svc({ port: 70000 }), 'e'), null);
    assert.equal(sightingFromService(svc({ txt: { id: ID_A, n: '\u001b\u0007' }, name: '' }), 'e'), null);
  });
  it('names lose control, bidi and separator characters', () => {
    assert.equal(cleanPeerName('ev\u001b[31mil\u202e'), 'ev[31mil');
    assert.equal(cleanPeerName('a/b#c'), 'abc');
  });
  it('pickInterfaces honours the setting and names a missing interface', () => {
    const ifaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [{ address: '10.1.1.1', family: 'IPv4', internal: false }],
    } as never;
    assert.deepEqual(pickInterfaces([], ifaces), [{ iface: 'eth0', address: '10.1.1.1' }]);
    assert.deepEqual(pickInterfaces(['lo'], ifaces), [{ iface: 'lo', address: '127.0.0.1' }]);
    assert.throws(() => pickInterfaces(['wlan9'], ifaces), { code: 'CONFIG_INVALID' });
  });
});
