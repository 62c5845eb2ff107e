/**
 * Accepting with choices on a real pair of daemons (issue "A face for people", Receive: the
 * prototype's save dialog done safely): a folder inside the inbox, a configured destination, a
 * rename and a skip, through the control method `accept`. Names are decided before the person is
 * asked: the waiting offer already shows the cleaned name of a hostile file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { TestDaemon, waitFor } from '../helpers/daemons.js';

interface OfferJson {
  id: string;
  files: number;
  names: string[];
}

const tag = `${process.pid}`;

/** What landed under `root`, relative, without p2pd's own partial directory. */
async function landed(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).filter((n) => !n.startsWith('.p2pd-partial')).sort();
}

describe('accept with choices: where it lands, renames and skips', { timeout: 120_000 }, () => {
  const S = `sue-${tag}`;
  const R = `ray-${tag}`;
  let sender: TestDaemon;
  let receiver: TestDaemon;
  let media: string;
  let control: ControlClient;

  before(async () => {
    media = await mkdtemp(join(tmpdir(), 'p2pd-media-'));
    sender = await TestDaemon.create({ name: S });
    receiver = await TestDaemon.create({ name: R, accept: 'ask' as 'trusted', extra: { askTimeoutSeconds: 30, destinations: [media] } });
    await Promise.all([sender.start(), receiver.start()]);
    await Promise.all([sender.waitForPeer(R), receiver.waitForPeer(S)]);
    control = new ControlClient({ socketPath: join(receiver.dir, 'state', 'control.sock') });
  });
  after(async () => {
    await Promise.all([sender?.destroy(), receiver?.destroy()]);
    await rm(media, { recursive: true, force: true });
  });

  async function offerOf(folder: string, files: Record<string, string>): Promise<{ sending: ReturnType<TestDaemon['cli']>; offer: OfferJson }> {
    const dir = join(sender.dir, folder);
    await mkdir(dir, { recursive: true });
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
    const sending = sender.cli(['send', R, dir, '--json']);
    let offer: OfferJson | undefined;
    await waitFor(
      async () => {
        offer = (await receiver.json<{ offers: OfferJson[] }>(['incoming'])).offers[0];
        return offer !== undefined;
      },
      15_000,
      'the offer to wait',
    );
    return { sending, offer: offer! };
  }

  /** The control call a CLI or dashboard makes, with a choice that must be refused: its code. */
  async function refusedChoice(id: string, choices: object): Promise<string> {
    try {
      await control.request('accept', { id, ...choices });
      return 'accepted: the choice was not refused';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  }

  it('a folder inside the inbox, a rename and a skip; a hostile name is shown cleaned before anyone is asked', async () => {
    const { sending, offer } = await offerOf('pack', { 'a.txt': 'A', 'b.txt': 'B', 'c.txt': 'C', 'evil\u001b[31mred.txt': 'E' });
    // Entries: 0 "pack", then its files sorted: a.txt, b.txt, c.txt, evil….
    assert.deepEqual(offer.names, ['pack', 'pack/a.txt', 'pack/b.txt', 'pack/c.txt', 'pack/evil\ufffd[31mred.txt']);
    const bad = await refusedChoice(offer.id, { to: '../outside' });
    assert.equal(bad, 'NAME_INVALID', 'a folder outside the inbox is refused, and the offer keeps waiting');
    assert.equal((await receiver.json<{ offers: OfferJson[] }>(['incoming'])).offers.length, 1);
    await control.request('accept', {
      id: offer.id,
      to: 'saved/today',
      files: [
        { index: 1, rename: 'renamed.txt' },
        { index: 3, skip: true },
      ],
    });
    const r = await sending;
    const result = JSON.parse(r.stdout) as {
      transfer: { state: string; filesDeclined?: number; files?: Array<{ path: string; ok: boolean; error?: { code: string } }> };
    };
    // The skip is the receiver's answer, not a failure: the transfer is done, with one file declined,
    // and the exit status says that not everything was delivered.
    assert.equal(result.transfer.state, 'done');
    assert.equal(result.transfer.filesDeclined, 1);
    assert.equal(r.code, 3);
    assert.deepEqual(
      result.transfer.files?.filter((f) => !f.ok).map((f) => [f.path, f.error?.code]),
      [['pack/c.txt', 'PEER_REFUSED']],
    );
    assert.deepEqual(await landed(receiver.inbox), [
      'saved',
      'saved/today',
      'saved/today/pack',
      'saved/today/pack/b.txt',
      'saved/today/pack/evil\ufffd[31mred.txt',
      'saved/today/pack/renamed.txt',
    ]);
    assert.equal(await readFile(join(receiver.inbox, 'saved/today/pack/renamed.txt'), 'utf8'), 'A');
  });

  it('a configured destination outside the inbox; one not configured is refused', async () => {
    const { sending, offer } = await offerOf('media', { 'song.ogg': 'la la' });
    const refused = await refusedChoice(offer.id, { to: join(tmpdir(), 'elsewhere') });
    assert.equal(refused, 'NAME_INVALID');
    await control.request('accept', { id: offer.id, to: media });
    const r = await sending;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await landed(media), ['media', 'media/song.ogg']);
    assert.equal(await readFile(join(media, 'media', 'song.ogg'), 'utf8'), 'la la');
  });
});
