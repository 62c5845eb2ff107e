/**
 * Hostile sizes and hashes against a real daemon over a real TLS connection: fewer or more bytes
 * than declared, a wrong SHA-256, totals that lie, sizes over the configured limits. A bad file
 * never appears under a final name, its partial file is deleted, a good file beside it still
 * lands, and the daemon goes on taking honest files from the same peer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileEntry, dirEntry, HostileFixture, rawFrame, sha256 } from '../helpers/hostile-client.js';

const MAX_FILE = 1_000_000;
const MAX_OFFER = 50_000_000;

describe('hostile sizes and hashes: only verified bytes of the declared size are ever committed', { timeout: 120_000 }, () => {
  let fx: HostileFixture;
  let m: string;

  before(async () => {
    fx = await HostileFixture.start({ name: 'sizes', limits: { maxFileSize: MAX_FILE, maxOfferBytes: MAX_OFFER } });
    m = fx.marker;
  });

  after(async () => {
    await fx?.dispose();
  });

  it('hostile: fewer bytes than declared: FILE_RESULT SIZE_MISMATCH, nothing committed, the partial deleted', async () => {
    const before = await fx.snapshot();
    for (const [declared, sent] of [
      [1000, 500],
      [1000, 0],
      [1, 0],
    ] as const) {
      const bytes = Buffer.alloc(sent, 0x42);
      const client = await fx.accepted([fileEntry(`short${m}-${declared}-${sent}.bin`, declared)]);
      client.sendFile(0, bytes).done();
      const result = await client.fileResult(0);
      assert.deepEqual([result.ok, result.code], [false, 'SIZE_MISMATCH'], `${sent} of ${declared} bytes`);
      const summary = await client.summary();
      assert.deepEqual([summary.ok, summary.files], [false, 0]);
      await client.closed();
    }
    // Even with the hash of the whole declared content, a short file is still short.
    const whole = Buffer.alloc(1000, 0x43);
    const client = await fx.accepted([fileEntry(`short${m}-lying-hash.bin`, whole.length)]);
    client.sendFile(0, whole.subarray(0, 999), sha256(whole)).done();
    assert.equal((await client.fileResult(0)).code, 'SIZE_MISMATCH');
    await client.closed();
    await fx.checkAfter(before);
  });

  it('hostile: more bytes than declared: ERROR SIZE_MISMATCH ends the transfer, nothing committed, the partial deleted', async () => {
    const before = await fx.snapshot();
    const cases: Array<[string, number, Buffer[]]> = [
      ['one frame too long', 100, [Buffer.alloc(200, 1)]],
      ['one byte too many in a second frame', 100, [Buffer.alloc(100, 1), Buffer.alloc(1, 1)]],
      ['any byte for an empty file', 0, [Buffer.alloc(1, 1)]],
      ['a 4 MiB frame for a 10-byte file', 10, [Buffer.alloc(4 * 1024 * 1024, 1)]],
    ];
    for (const [what, declared, frames] of cases) {
      const client = await fx.accepted([fileEntry(`long${m}-${declared}.bin`, declared)]);
      client.fileBegin(0);
      for (const f of frames) client.data(f);
      client.fileEnd(0, sha256(Buffer.concat(frames))).done();
      const error = await client.error();
      assert.equal(error.code, 'SIZE_MISMATCH', what);
      assert.equal(
        client.events.some((e) => e.type === 'file-result' || e.type === 'summary'),
        false,
        `${what}: no result for it`,
      );
      await client.closed();
    }
    await fx.checkAfter(before);
  });

  it('hostile: a wrong SHA-256: FILE_RESULT HASH_MISMATCH, nothing committed, the partial deleted', async () => {
    const before = await fx.snapshot();
    const bytes = Buffer.from('the real content\n');
    for (const wrong of ['0'.repeat(64), sha256(Buffer.from('other content\n')), sha256(bytes).replace(/.$/, (c) => (c === '0' ? '1' : '0'))]) {
      const client = await fx.accepted([fileEntry(`hash${m}.txt`, bytes.length)]);
      client.sendFile(0, bytes, wrong).done();
      const result = await client.fileResult(0);
      assert.deepEqual([result.ok, result.code], [false, 'HASH_MISMATCH']);
      assert.equal((await client.summary()).ok, false);
      await client.closed();
    }
    // A hash that is not 64 lower-case hex digits does not even decode.
    const client = await fx.accepted([fileEntry(`hash${m}.txt`, bytes.length)]);
    client
      .fileBegin(0)
      .data(bytes)
      .raw(rawFrame(0x06, JSON.stringify({ index: 0, sha256: sha256(bytes).toUpperCase() })));
    assert.equal((await client.error()).code, 'PROTOCOL_BAD_MESSAGE');
    await client.closed();
    await fx.checkAfter(before);
  });

  it('hostile: one bad file among good ones fails alone; the good ones land verified', async () => {
    const before = await fx.snapshot();
    const good = Buffer.from('good\n');
    const bad = Buffer.from('tampered\n');
    const client = await fx.accepted([
      dirEntry(`mix${m}`),
      fileEntry(`mix${m}/1-good.txt`, good.length),
      fileEntry(`mix${m}/2-bad-hash.txt`, bad.length),
      fileEntry(`mix${m}/3-short.txt`, 100),
      fileEntry(`mix${m}/4-good.txt`, good.length),
    ]);
    client.sendFile(1, good).sendFile(2, bad, sha256(good)).sendFile(3, Buffer.alloc(10)).sendFile(4, good).done();
    const results = await Promise.all([1, 2, 3, 4].map((i) => client.fileResult(i)));
    assert.deepEqual(
      results.map((r) => [r.index, r.ok, r.code ?? null]),
      [
        [1, true, null],
        [2, false, 'HASH_MISMATCH'],
        [3, false, 'SIZE_MISMATCH'],
        [4, true, null],
      ],
    );
    const summary = await client.summary();
    assert.deepEqual([summary.ok, summary.files], [false, 2]);
    await client.closed();
    assert.deepEqual(await readFile(join(fx.inbox, `mix${m}`, '1-good.txt')), good);
    await fx.checkAfter(before, { newInInbox: [`mix${m}/`, `mix${m}/1-good.txt`, `mix${m}/4-good.txt`] });
  });

  it('hostile: totals that lie are OFFER_INVALID before any data', async () => {
    const before = await fx.snapshot();
    const two = [fileEntry(`t${m}-a`, 10), fileEntry(`t${m}-b`, 20)];
    await fx.expectRefused(two, 'OFFER_INVALID', { offer: { totalBytes: 31 } });
    await fx.expectRefused(two, 'OFFER_INVALID', { offer: { totalBytes: 29 } });
    await fx.expectRefused(two, 'OFFER_INVALID', { offer: { totalBytes: 0 } });
    await fx.expectRefused(two, 'OFFER_INVALID', { offer: { totalFiles: 3 } });
    await fx.expectRefused(two, 'OFFER_INVALID', { offer: { totalFiles: 1 } });
    // Two OFFER frames that disagree about the totals.
    const part = (totalBytes: number, entries: object[], more: boolean): Buffer =>
      rawFrame(0x02, JSON.stringify({ transferId: `t${m}`, totalFiles: 2, totalBytes, entries, more }));
    const client = await fx.connect();
    client
      .hello()
      .raw(part(30, [two[0]!], true))
      .raw(part(31, [two[1]!], false));
    const answer = await client.answer();
    assert.deepEqual([answer.accept, answer.code], [false, 'OFFER_INVALID']);
    await client.closed();
    client.destroy();
    await fx.checkAfter(before);
  });

  it('hostile: sizes over the configured limits are OFFER_TOO_LARGE; sizes no integer can hold do not decode', async () => {
    const before = await fx.snapshot();
    await fx.expectRefused([fileEntry(`big${m}`, MAX_FILE + 1)], 'OFFER_TOO_LARGE');
    await fx.expectRefused([fileEntry(`big${m}`, Number.MAX_SAFE_INTEGER)], 'OFFER_TOO_LARGE');
    const many = Array.from({ length: 51 }, (_, i) => fileEntry(`big${m}-${i}`, MAX_FILE));
    await fx.expectRefused(many, 'OFFER_TOO_LARGE', { pipeline: false }); // 51 MB > maxOfferBytes
    for (const size of ['9007199254740992', '-1', '1.5', '"10"', '1e400']) {
      await fx.expectError('PROTOCOL_BAD_MESSAGE', (c) => {
        const entry = `{"path":"big${m}","kind":"file","size":${size},"mode":420,"mtimeMs":0}`;
        c.raw(rawFrame(0x02, `{"transferId":"t1","totalFiles":1,"totalBytes":0,"entries":[${entry}],"more":false}`));
      });
    }
    // A directory that claims a size.
    await fx.expectError('PROTOCOL_BAD_MESSAGE', (c) => {
      c.raw(rawFrame(0x02, JSON.stringify({ transferId: 't1', totalFiles: 1, totalBytes: 5, entries: [{ ...dirEntry(`d${m}`), size: 5 }], more: false })));
    });
    await fx.checkAfter(before);
  });

  it('hostile: setuid, setgid, sticky and group/other write bits are never applied; impossible times are OFFER_INVALID', async () => {
    const before = await fx.snapshot();
    const bytes = Buffer.from('#!/bin/sh\necho owned\n');
    const client = await fx.accepted([
      fileEntry(`suid${m}.sh`, bytes.length, { mode: 0o7777 }),
      fileEntry(`future${m}.txt`, bytes.length, { mtimeMs: 4_102_444_800_000 }),
    ]);
    client.sendFile(0, bytes).sendFile(1, bytes).done();
    assert.equal((await client.summary()).ok, true);
    await client.closed();
    assert.equal((await stat(join(fx.inbox, `suid${m}.sh`))).mode & 0o7777, 0o755);
    await fx.expectRefused([fileEntry(`time${m}`, 1, { mtimeMs: 1e300 })], 'OFFER_INVALID');
    await fx.checkAfter(before, { newInInbox: [`suid${m}.sh`, `future${m}.txt`] });
  });
});
