/**
 * Hostile names against a real daemon over a real TLS connection: traversal, absolute and Windows
 * paths, NUL, control and escape characters, overlong names, look-alikes and normalisation
 * tricks, reserved names, symlinks in the inbox and directories sent earlier. Every attack must
 * end with its code on the wire, leave nothing outside the inbox, no final name and no partial
 * file, and leave the daemon up and willing to take an honest file from the same peer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanRelativePath } from '../../src/store/safe-name.js';
import { dirEntry, fileEntry, HostileClient, HostileFixture, hostileIdentity, RAW_ESCAPES, rawFrame, sha256 } from '../helpers/hostile-client.js';

/** The entries listTree() shows for a file landed at `path`: each folder on the way, then the file. */
function treeOf(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_p, i) => parts.slice(0, i + 1).join('/') + (i < parts.length - 1 ? '/' : ''));
}

const exists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

describe('hostile names: nothing a peer names can escape the inbox or reach a terminal raw', { timeout: 120_000 }, () => {
  let fx: HostileFixture;
  let m: string;

  before(async () => {
    fx = await HostileFixture.start({ name: 'names' });
    m = fx.marker;
  });

  after(async () => {
    await fx?.dispose();
  });

  /** Each name alone in an offer (its bytes pipelined behind it): ANSWER accept=false `code`. */
  async function refuseEach(paths: string[], code = 'NAME_INVALID'): Promise<void> {
    for (const path of paths) await fx.expectRefused([fileEntry(path, 4)], code);
  }

  it('hostile: `../` names are NAME_INVALID and nothing lands next to the inbox', async () => {
    const before = await fx.snapshot();
    await refuseEach([`../${m}`, `../../${m}`, `a/../../${m}`, `a/../${m}`, `a/b/../../../${m}`, `./${m}`, `${m}/..`, `${m}/.`, '..', '.']);
    // Behind an honest directory entry of the same offer.
    await fx.expectRefused([dirEntry(`d${m}`), fileEntry(`d${m}/../../${m}`, 4)], 'NAME_INVALID');
    await fx.expectRefused([dirEntry(`../${m}`)], 'NAME_INVALID');
    assert.equal(await exists(join(fx.inbox, '..', m)), false, 'x next to the inbox');
    assert.equal(await exists(join(fx.inbox, '..', '..', m)), false, 'x two levels up');
    await fx.checkAfter(before);
  });

  it('hostile: absolute names are NAME_INVALID and nothing is written where they point', async () => {
    const before = await fx.snapshot();
    await refuseEach([join(tmpdir(), m), `/${m}`, '/etc/passwd', `/../${m}`, join(fx.inbox, m)]);
    assert.equal(await exists(join(tmpdir(), m)), false);
    assert.equal(await exists(join('/', m)), false);
    await fx.checkAfter(before);
  });

  it('hostile: Windows drive letters, UNC names and backslashes are NAME_INVALID', async () => {
    const before = await fx.snapshot();
    await refuseEach([
      `C:\\${m}`,
      `C:/${m}`,
      `c:${m}`,
      'Z:',
      `sub/C:${m}`,
      `\\\\server\\share\\${m}`,
      `//server/share/${m}`,
      `\\\\?\\C:\\${m}`,
      `\\${m}`,
      `sub\\..\\..\\${m}`,
      `${m}\\x`,
    ]);
    await fx.checkAfter(before);
  });

  it('hostile: NUL in a name becomes U+FFFD, and never hides a ".." behind it', async () => {
    const before = await fx.snapshot();
    await refuseEach([`${m}\u0000/../../x`, `\u0000/../${m}`]);
    const landed: string[] = [];
    for (const path of [`nul-${m}\u0000.txt`, `nul2-${m}/\u0000`, `nul3-${m}.txt\u0000.jpg`]) {
      const client = await fx.accepted([fileEntry(path, 1)]);
      client.sendFile(0, Buffer.from('x')).done();
      assert.equal((await client.fileResult(0)).ok, true, JSON.stringify(path));
      await client.closed();
      landed.push(...treeOf(cleanRelativePath(path).path));
    }
    assert.ok(landed.includes(`nul3-${m}.txt\ufffd.jpg`));
    await fx.checkAfter(before, { newInInbox: landed });
  });

  it('hostile: control characters and ANSI escapes land cleaned (U+FFFD), never raw on disk, in a terminal or a log line', async () => {
    // Escape sequences to clear the screen and retitle the terminal, and a line break followed by
    // a forged log line.
    const evilPeer = '\u001b[2J\u001b]0;owned\u0007mallory\u001b[31m\n{"level":60,"msg":"forged"}';
    const before = await fx.snapshot();
    const names = [
      `\u001b[31m${m}\u001b[0m.txt`,
      `${m}\u0007.txt`,
      `\u001b]0;pwned\u0007${m}`,
      `${m}\n.txt`,
      `${m}\r.txt`,
      `${m}\t.txt`,
      `${m}\u007f`,
      `${m}\u009b31m.txt`,
      `${m}\u0085.txt`,
      `${m}\u2028.txt`,
      `\u202e${m}txt.exe`,
      `${m}\u2066.txt`,
      `${m}\u200b.txt`,
      `${m}\ufeff.txt`,
      `${m}/\u001b[1;1H`,
      `${m}-nul\u0000.txt`,
    ].map((name, i) => `${i}-${name}`);
    const landed: string[] = [];
    for (const path of names) {
      const client = await fx.accepted([fileEntry(path, 3)], { hello: { name: evilPeer } });
      client.sendFile(0, Buffer.from('abc')).done();
      assert.equal((await client.fileResult(0)).ok, true, JSON.stringify(path));
      await client.closed();
      landed.push(...treeOf(cleanRelativePath(path).path));
    }
    for (const name of landed) {
      assert.doesNotMatch(name, RAW_ESCAPES);
      assert.doesNotMatch(name, /[\u0085\u2028\u202e\u2066\u200b\ufeff]/u);
    }
    assert.ok(landed.includes(`0-\ufffd[31m${m}\ufffd[0m.txt`), 'the escape became a visible U+FFFD');
    // An honest file from the peer with the hostile display name: it shows in status and logs.
    const client = await fx.accepted([fileEntry(`${m}-from-evil.txt`, 3)], { hello: { name: evilPeer } });
    client.sendFile(0, Buffer.from('abc')).done();
    assert.equal((await client.fileResult(0)).ok, true);
    await client.closed();
    const status = await fx.daemon.cli(['status']);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /mallory/, 'the peer shows in status, cleaned');
    assert.doesNotMatch(status.stdout, RAW_ESCAPES);
    assert.doesNotMatch(fx.daemon.log, /[\u001b\u0007]/, 'raw ESC or BEL in the log');
    await fx.checkAfter(before, { newInInbox: [...new Set([...landed, `${m}-from-evil.txt`])] });
  });

  it('hostile: three files, one with an escape sequence: all land, the bad one cleaned; one that cannot be made safe is refused alone', async () => {
    const before = await fx.snapshot();
    const client = await fx.accepted([fileEntry(`good1-${m}.txt`, 2), fileEntry(`evil\u001b[31mred-${m}.txt`, 3), fileEntry(`good2-${m}.txt`, 2)]);
    client.sendFile(0, Buffer.from('g1')).sendFile(1, Buffer.from('bad')).sendFile(2, Buffer.from('g2')).done();
    for (const i of [0, 1, 2]) assert.equal((await client.fileResult(i)).ok, true);
    await client.closed();
    assert.equal(await readFile(join(fx.inbox, `evil\ufffd[31mred-${m}.txt`), 'utf8'), 'bad');

    const mixed = await fx.connect();
    try {
      mixed.hello().offer([fileEntry(`ok1-${m}.txt`, 2), fileEntry(`../${m}.txt`, 3), fileEntry(`ok2-${m}.txt`, 2)]);
      const answer = await mixed.answer();
      assert.equal(answer.accept, true);
      assert.deepEqual(answer.files, [{ index: 1, skip: 'NAME_INVALID' }], 'the bad one is refused alone');
      mixed.sendFile(0, Buffer.from('o1')).sendFile(2, Buffer.from('o2')).done();
      assert.equal((await mixed.fileResult(0)).ok, true);
      assert.equal((await mixed.fileResult(2)).ok, true);
      await mixed.closed();
    } finally {
      mixed.destroy();
    }
    assert.match(fx.daemon.log, /NAME_INVALID/, 'the refusal is logged');
    await fx.checkAfter(before, { newInInbox: [`good1-${m}.txt`, `evil\ufffd[31mred-${m}.txt`, `good2-${m}.txt`, `ok1-${m}.txt`, `ok2-${m}.txt`] });
  });

  it('hostile: components over 255 bytes and paths over 4096 bytes or 64 levels are NAME_INVALID', async () => {
    const before = await fx.snapshot();
    await refuseEach([
      'a'.repeat(256),
      'é'.repeat(128), // 128 units, 256 bytes
      '😀'.repeat(64), // 128 units, 256 bytes
      `${m}/${'b'.repeat(300)}`,
      `${'é'.repeat(120)}/`.repeat(18) + m, // 2,180 units, 4,339 bytes
      'a/'.repeat(64) + m, // 65 levels
    ]);
    // A path over the protocol's 4096 units does not even decode.
    await fx.expectError('PROTOCOL_BAD_MESSAGE', (c) => {
      const entry = fileEntry('p'.repeat(4097), 1);
      c.raw(rawFrame(0x02, JSON.stringify({ transferId: 't1', totalFiles: 1, totalBytes: 1, entries: [entry], more: false })));
    });
    // 255 bytes is still a name.
    const long = `${m}${'x'.repeat(255 - m.length)}`;
    const client = await fx.accepted([fileEntry(long, 2)]);
    client.sendFile(0, Buffer.from('ok')).done();
    assert.equal((await client.fileResult(0)).ok, true);
    await client.closed();
    await fx.checkAfter(before, { newInInbox: [long] });
  });

  it('hostile: look-alikes of "/", "\\" and ".." are NAME_INVALID; names equal after NFC are OFFER_INVALID; NFD is stored as NFC', async () => {
    const before = await fx.snapshot();
    await refuseEach([
      `a\u2215${m}`, // division slash
      `a\u2044${m}`, // fraction slash
      `a\uff0f${m}`, // fullwidth solidus
      `a\uff3c${m}`, // fullwidth reverse solidus
      `a\u29f5${m}`, // reverse solidus operator
      `\uff0e\uff0e/${m}`, // fullwidth full stops
      `\u2025/${m}`, // two dot leader
      `\u2024\u2024/${m}`, // one dot leaders
      `\u3002\u3002/${m}`, // ideographic full stops
      `.\u0301./${m}`, // ".." with a combining mark
      '\u00a0', // a no-break space alone
    ]);
    await fx.expectRefused([fileEntry(`caf\u00e9-${m}.txt`, 1), fileEntry(`cafe\u0301-${m}.txt`, 1)], 'OFFER_INVALID');
    await fx.expectRefused([fileEntry(`\u212b-${m}`, 1), fileEntry(`\u00c5-${m}`, 1)], 'OFFER_INVALID'); // Angstrom sign vs Å
    await fx.expectRefused([dirEntry(`cafe\u0301-${m}`), fileEntry(`caf\u00e9-${m}`, 1)], 'OFFER_INVALID');
    // A lone NFD name is fine, and lands under its NFC spelling only.
    const client = await fx.accepted([fileEntry(`cafe\u0301-${m}.txt`, 3)]);
    client.sendFile(0, Buffer.from('nfd')).done();
    assert.equal((await client.fileResult(0)).ok, true);
    await client.closed();
    const names = await readdir(fx.inbox);
    assert.ok(names.includes(`caf\u00e9-${m}.txt`), 'stored as NFC');
    assert.ok(!names.includes(`cafe\u0301-${m}.txt`), 'not stored as NFD');
    await fx.checkAfter(before, { newInInbox: [`caf\u00e9-${m}.txt`] });
  });

  it('hostile: reserved device names get a suffix, trailing dots and spaces go; ".", "...", "//" and the partial directory are NAME_INVALID', async () => {
    const before = await fx.snapshot();
    await refuseEach(['...', '. .', ' ', `a//${m}`, `${m}/`, '.p2pd-partial', `.p2pd-partial/${m}`, `.P2PD-Partial/${m}.part`]);
    await fx.expectRefused([dirEntry('.p2pd-partial'), fileEntry(`.p2pd-partial/${m}`, 1)], 'NAME_INVALID');
    // An empty name does not even decode.
    await fx.expectError('PROTOCOL_BAD_MESSAGE', (c) => {
      c.raw(rawFrame(0x02, JSON.stringify({ transferId: 't1', totalFiles: 1, totalBytes: 0, entries: [dirEntry('')], more: false })));
    });
    const cleaned: Array<[string, string]> = [
      ['CON', 'CON_'],
      ['con.txt', 'con_.txt'],
      ['nul.tar.gz', 'nul_.tar.gz'],
      [`AUX/${m}`, `AUX_/${m}`],
      [`${m}/PRN`, `${m}/PRN_`],
      ['com9.log', 'com9_.log'],
      ['COM\u00b9', 'COM\u00b9_'],
      ['CONIN$', 'CONIN$_'],
      ['CON .txt', 'CON_ .txt'],
      [`${m}.`, m],
      [`${m}-b `, `${m}-b`],
    ];
    for (const [path, expected] of cleaned) {
      assert.equal(cleanRelativePath(path).path, expected);
      const client = await fx.accepted([fileEntry(path, 1)]);
      client.sendFile(0, Buffer.from('x')).done();
      assert.equal((await client.fileResult(0)).ok, true, path);
      await client.closed();
    }
    const now = await fx.snapshot();
    // ("m." lands as "m (1)": the folder "m" came first, from "m/PRN".)
    for (const name of ['CON_', 'con_.txt', 'nul_.tar.gz', 'AUX_/', `${m}/PRN_`, 'com9_.log', 'CONIN$_', 'CON_ .txt', `${m} (1)`, `${m}-b`]) {
      assert.ok(now.inbox.includes(name), name);
    }
    await fx.checkAfter(before, { newInInbox: now.inbox.filter((n) => !before.inbox.includes(n)) });
  });

  it('hostile: a symlink planted in the inbox is never followed: the entry gets a new name beside it', async () => {
    const dirLink = `link${m}`;
    const fileLink = `target${m}.txt`;
    await symlink(fx.canary, join(fx.inbox, dirLink));
    await symlink(join(fx.canary, 'keep.txt'), join(fx.inbox, fileLink));
    try {
      const before = await fx.snapshot();
      const bytes = Buffer.from('pwned\n');
      const client = await fx.accepted([fileEntry(`${dirLink}/${m}.txt`, bytes.length), fileEntry(fileLink, bytes.length)]);
      client.sendFile(0, bytes).sendFile(1, bytes).done();
      assert.equal((await client.fileResult(0)).ok, true);
      assert.equal((await client.fileResult(1)).ok, true);
      await client.closed();
      assert.deepEqual(await readdir(fx.canary), ['keep.txt'], 'nothing written through the directory symlink');
      assert.equal(await readFile(join(fx.canary, 'keep.txt'), 'utf8'), 'canary\n', 'nothing written through the file symlink');
      assert.equal(await readlink(join(fx.inbox, dirLink)), fx.canary, 'the planted symlinks are left alone');
      assert.equal(await readlink(join(fx.inbox, fileLink)), join(fx.canary, 'keep.txt'));
      assert.deepEqual(await readFile(join(fx.inbox, `${dirLink} (1)`, `${m}.txt`)), bytes);
      assert.deepEqual(await readFile(join(fx.inbox, `target${m} (1).txt`)), bytes);
      await fx.checkAfter(before, { newInInbox: [`${dirLink} (1)/`, `${dirLink} (1)/${m}.txt`, `target${m} (1).txt`] });
    } finally {
      await rm(join(fx.inbox, dirLink), { force: true });
      await rm(join(fx.inbox, fileLink), { force: true });
    }
  });

  it('hostile: a symlink or a file swapped in at a directory position mid-transfer fails that file with NAME_INVALID', async () => {
    const top = `swap${m}`;
    const before = await fx.snapshot();
    const bytes = Buffer.from('through the link?\n');
    const client = await fx.accepted([fileEntry(`${top}/sub/${m}.txt`, bytes.length), fileEntry(`${top}/plain/${m}.txt`, bytes.length)]);
    // The top directory was reserved when the offer was accepted; plant traps inside it now.
    await symlink(fx.canary, join(fx.inbox, top, 'sub'));
    await writeFile(join(fx.inbox, top, 'plain'), 'a file where a directory should be');
    client.sendFile(0, bytes).sendFile(1, bytes).done();
    const r0 = await client.fileResult(0);
    const r1 = await client.fileResult(1);
    assert.deepEqual([r0.ok, r0.code, r1.ok, r1.code], [false, 'NAME_INVALID', false, 'NAME_INVALID']);
    const summary = await client.summary();
    assert.deepEqual([summary.ok, summary.files], [false, 0]);
    await client.closed();
    assert.deepEqual(await readdir(fx.canary), ['keep.txt'], 'nothing written through the symlink');
    assert.deepEqual((await readdir(join(fx.inbox, top))).sort(), ['plain', 'sub'], 'only the planted traps are there');
    await rm(join(fx.inbox, top), { recursive: true, force: true });
    await fx.checkAfter(before);
  });

  it('hostile: a transfer id in use: another peer cannot take it over; the same peer reconnecting replaces its stale connection', async () => {
    const before = await fx.snapshot();
    const transferId = `shared-${m}`;
    const bytes = Buffer.from('0123456789');
    const first = await fx.accepted([fileEntry(`tid${m}-first`, bytes.length)], { offer: { transferId } });
    first.fileBegin(0).data(bytes.subarray(0, 5));
    await first.flushed();
    // Another peer naming the same id is refused; the running transfer is not disturbed.
    const other = await hostileIdentity();
    try {
      const intruder = await HostileClient.connect(fx.target, other.identity);
      try {
        intruder.hello().offer([fileEntry(`tid${m}-other`, bytes.length)], { transferId });
        const answer = await intruder.answer();
        assert.equal(answer.accept, false);
        assert.equal(answer.code, 'OFFER_INVALID');
        await intruder.closed();
      } finally {
        intruder.destroy();
      }
    } finally {
      await other.dispose();
    }
    first.data(bytes.subarray(5)).fileEnd(0, sha256(bytes)).done();
    assert.equal((await first.fileResult(0)).ok, true);
    assert.equal((await first.summary()).ok, true);
    await first.closed();
    assert.deepEqual(await readFile(join(fx.inbox, `tid${m}-first`)), bytes);
    // The same peer offering a transfer it still holds open (a reconnect after a cut it noticed
    // first) replaces the stale connection, which is told CONNECTION_LOST.
    const again = `again-${m}`;
    const stale = await fx.accepted([fileEntry(`tid${m}-again`, bytes.length)], { offer: { transferId: again } });
    stale.fileBegin(0).data(bytes.subarray(0, 3));
    await stale.flushed();
    const fresh = await fx.accepted([fileEntry(`tid${m}-again`, bytes.length)], { offer: { transferId: again } });
    assert.equal((await stale.error()).code, 'CONNECTION_LOST');
    stale.destroy();
    fresh.sendFile(0, bytes).done();
    assert.equal((await fresh.fileResult(0)).ok, true);
    await fresh.closed();
    assert.deepEqual(await readFile(join(fx.inbox, `tid${m}-again`)), bytes);
    await fx.checkAfter(before, { newInInbox: [`tid${m}-first`, `tid${m}-again`] });
  });

  it('hostile: a directory sent earlier is never written through: "d/../../x" is NAME_INVALID, "d" as a file and "d/y" get new names', async () => {
    const d = `d${m}`;
    const first = Buffer.from('first\n');
    const client = await fx.accepted([dirEntry(d), fileEntry(`${d}/a.txt`, first.length)]);
    client.sendFile(1, first).done();
    assert.equal((await client.fileResult(1)).ok, true);
    await client.closed();
    const before = await fx.snapshot();

    await fx.expectRefused([fileEntry(`${d}/../../${m}`, 3)], 'NAME_INVALID');
    await fx.expectRefused([fileEntry(`${d}/../${m}`, 3)], 'NAME_INVALID');
    await fx.expectRefused([fileEntry(`${d}/a.txt/${m}`, 3), fileEntry(`${d}/a.txt`, 1)], 'OFFER_INVALID'); // a file inside a file
    await fx.expectRefused([fileEntry(`${d}/x`, 1), fileEntry(`${d}/x`, 1)], 'OFFER_INVALID'); // the same path twice

    const second = Buffer.from('second\n');
    const asFile = await fx.accepted([fileEntry(d, second.length)]);
    asFile.sendFile(0, second).done();
    assert.equal((await asFile.fileResult(0)).ok, true);
    await asFile.closed();
    const into = await fx.accepted([fileEntry(`${d}/a.txt`, second.length), fileEntry(`${d}/b.txt`, second.length)]);
    into.sendFile(0, second).sendFile(1, second).done();
    assert.equal((await into.fileResult(0)).ok, true);
    assert.equal((await into.fileResult(1)).ok, true);
    await into.closed();

    assert.deepEqual(await readdir(join(fx.inbox, d)), ['a.txt'], 'the earlier directory is untouched');
    assert.deepEqual(await readFile(join(fx.inbox, d, 'a.txt')), first);
    assert.deepEqual(await readFile(join(fx.inbox, `${d} (1)`)), second);
    await fx.checkAfter(before, { newInInbox: [`${d} (1)`, `${d} (2)/`, `${d} (2)/a.txt`, `${d} (2)/b.txt`] });
  });
});
