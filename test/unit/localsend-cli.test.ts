/**
 * `p2pd send` to a LocalSend device, in-process against a fake control socket: --pin and
 * --allow-http become the `send` params; a PIN_REQUIRED answer makes a terminal ask for the PIN
 * and send again with it, but never without a terminal or with --json; a `warning` event (files
 * about to go over plain HTTP) is printed on stderr.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { runCli, type CliDeps } from '../../src/cli/index.js';
import { type FakeControl, fakeCliWorld, defaultAnswer, transferView, type Answer } from '../helpers/fake-control.js';
import { testCliDeps } from '../helpers/cli-deps.js';

let fake: FakeControl;
let home: string;
let file: string;

before(async () => {
  ({ fake, home, file } = await fakeCliWorld());
});
after(() => fake.stop());

/** A terminal whose user types `typed` once the prompt is shown. */
function terminal(typed: string): NodeJS.ReadableStream & { isTTY: boolean } {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  setTimeout(() => input.write(typed), 50).unref();
  return input;
}

async function run(argv: string[], over: Partial<CliDeps> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const deps = testCliDeps(fake.dir, home, over);
  const { stdout, stderr } = deps;
  const status = await runCli([...argv, '--config', fake.configPath], deps);
  return { status, stdout: stdout.text, stderr: stderr.text };
}

const failed = (code: string) => transferView({ state: 'failed', peer: { id: 'AB'.repeat(32), name: 'Phone' }, error: { code, message: `m ${code}` } });
const done = transferView({ state: 'done', peer: { id: 'AB'.repeat(32), name: 'Phone' }, filesDone: 1, bytesDone: 1000, endedAt: new Date().toISOString() });

/** `send` fails with PIN_REQUIRED unless the request carries `pin`. */
const wantsPin: Answer = (req, reply) => {
  if (req.method !== 'send') return defaultAnswer(req, reply, undefined as never);
  reply({ result: { transfer: req.params.pin === '4711' ? done : failed(req.params.pin === undefined ? 'PIN_REQUIRED' : 'PIN_WRONG'), skipped: [] } });
};

describe('p2pd send to a LocalSend device', () => {
  test('--pin and --allow-http are passed as params, and only when given', async () => {
    fake.answer = defaultAnswer;
    assert.equal((await run(['send', 'Phone', 'a.txt', '--detach', '--pin', '4711', '--allow-http'])).status, 0);
    assert.deepEqual(fake.requests.at(-1)!.params, { peer: 'Phone', paths: [file], detach: true, queue: false, pin: '4711', allowHttp: true });
    await run(['send', 'Phone', 'a.txt', '--detach']);
    assert.deepEqual(fake.requests.at(-1)!.params, { peer: 'Phone', paths: [file], detach: true, queue: false });
  });

  test('a detached send with --allow-http warns at once that the files may go in clear', async () => {
    fake.answer = defaultAnswer;
    const r = await run(['send', 'Phone', 'a.txt', '--detach', '--allow-http']);
    assert.match(r.stderr, /warning: --allow-http: .*unencrypted/);
  });

  test('PIN_REQUIRED on a terminal: the PIN is asked once and the send goes again with it', async () => {
    fake.answer = wantsPin;
    const before = fake.requests.length;
    const r = await run(['send', 'Phone', 'a.txt'], { stdin: terminal('4711\n') });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Phone asks for a PIN: /);
    const sends = fake.requests.slice(before).filter((q) => q.method === 'send');
    assert.deepEqual(
      sends.map((q) => q.params.pin),
      [undefined, '4711'],
    );
    // A LocalSend device confirms uploads; p2pd does not claim a SHA-256 check it did not make.
    assert.match(r.stdout, /^Sent 1 file .*every upload accepted by the LocalSend device/);
  });

  test('a wrong PIN typed at the prompt fails with PIN_WRONG (77); no second prompt', async () => {
    fake.answer = wantsPin;
    const r = await run(['send', 'Phone', 'a.txt'], { stdin: terminal('0000\n') });
    assert.equal(r.status, 77);
    assert.match(r.stderr, /\[PIN_WRONG\]/);
    assert.equal(r.stderr.match(/asks for a PIN/g)?.length, 1);
  });

  test('without a terminal, or with --json, PIN_REQUIRED is the answer: nothing is asked', async () => {
    fake.answer = wantsPin;
    const before = fake.requests.length;
    const plain = await run(['send', 'Phone', 'a.txt'], { stdin: Object.assign(new PassThrough(), { isTTY: false }) });
    assert.equal(plain.status, 77);
    assert.match(plain.stderr, /\[PIN_REQUIRED\]/);
    const json = await run(['send', 'Phone', 'a.txt', '--json'], { stdin: terminal('4711\n') });
    assert.equal(json.status, 77);
    assert.equal(JSON.parse(json.stdout).transfer.error.code, 'PIN_REQUIRED');
    assert.equal(fake.requests.slice(before).filter((q) => q.method === 'send').length, 2);
  });

  test('a `warning` event is printed on stderr', async () => {
    fake.answer = (req, reply) => {
      if (req.method !== 'send') return defaultAnswer(req, reply, undefined as never);
      reply({ event: 'warning', data: { code: 'PLAIN_HTTP', message: 'js-cli (198.51.100.11) speaks plain HTTP: the files cross the LAN unencrypted' } });
      reply({ result: { transfer: done, skipped: [] } });
    };
    const r = await run(['send', 'js-cli', 'a.txt', '--allow-http']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /p2pd: warning: js-cli \(198\.51\.100\.11\) speaks plain HTTP/);
  });

  test('--pin with several peers is a usage error', async () => {
    const before = fake.connections;
    const r = await run(['send', 'a,b', 'a.txt', '--pin', '1']);
    assert.equal(r.status, 64);
    assert.equal(fake.connections, before);
  });
});
