/**
 * The CLI in-process against a fake control socket: a wrong command line has no effect (nothing
 * asked of the daemon, nothing written, no daemon started), gives one USAGE error (one document
 * with --json) and says what was meant; Ctrl-C on a foreground send ends the bar's line and says
 * what happens to the transfer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, type CliDeps } from '../../src/cli/index.js';
import { closest, editDistance, positionals, wantsJson } from '../../src/cli/usage.js';
import { type FakeControl, fakeCliWorld, defaultAnswer, transferView } from '../helpers/fake-control.js';
import { CapturedOutput as Out } from '../helpers/captured-output.js';
import { testCliDeps } from '../helpers/cli-deps.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  daemonStarted: boolean;
}

let fake: FakeControl;
let home: string;
let file: string;

before(async () => {
  ({ fake, home, file } = await fakeCliWorld());
  await mkdir(join(fake.dir, 'bin'));
});
after(() => fake.stop());

function deps(over: Partial<CliDeps> = {}): CliDeps & { stdout: Out; stderr: Out } {
  // A PATH with no systemctl: were a service command to run anyway, it would find none to call.
  return testCliDeps(fake.dir, home, { env: { HOME: home, PATH: join(fake.dir, 'bin') }, ...over });
}

async function run(argv: string[], over: Partial<CliDeps> = {}): Promise<Run> {
  let daemonStarted = false;
  const d = deps({
    runDaemon: async () => {
      daemonStarted = true;
      return 0;
    },
    ...over,
  });
  const status = await runCli([...argv, '--config', fake.configPath], d);
  return { status, stdout: d.stdout.text, stderr: d.stderr.text, daemonStarted };
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

/** Asserts a usage error with no effect; returns the error document when --json was given. */
async function refused(argv: string[]): Promise<{ code: string; message: string; details?: Record<string, unknown> } | undefined> {
  const before = { connections: fake.connections, requests: fake.requests.length };
  const r = await run(argv);
  const what = `p2pd ${argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.status, 64, what);
  assert.equal(fake.connections, before.connections, `${what}\nit reached the control socket`);
  assert.equal(fake.requests.length, before.requests);
  assert.equal(r.daemonStarted, false, `${what}\nit started the daemon`);
  assert.deepEqual(await filesUnder(home), [], `${what}\nit wrote under the home directory`);
  assert.match(r.stderr, /^p2pd: /, what);
  if (!argv.includes('--json')) {
    assert.equal(r.stdout, '', what);
    return undefined;
  }
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}\nexactly one document`);
  const doc = JSON.parse(lines[0]!) as { error: { code: string; message: string; details?: Record<string, unknown> } };
  assert.deepEqual(Object.keys(doc), ['error']);
  assert.equal(doc.error.code, 'USAGE');
  return doc.error;
}

/** Every command with valid arguments, a misspelling of one of its options, and what it meant. */
const COMMANDS: Array<{ argv: string[]; typo: string[]; meant: string }> = [
  { argv: ['daemon'], typo: ['--jsno'], meant: '--json' },
  { argv: ['id'], typo: ['--jsn'], meant: '--json' },
  { argv: ['peers'], typo: ['--confg', 'x.json'], meant: '--config' },
  { argv: ['trust', 'bob'], typo: ['--nmae', 'bobby'], meant: '--name' },
  { argv: ['untrust', 'bob'], typo: ['--jsn'], meant: '--json' },
  { argv: ['send', 'bob', 'a.txt'], typo: ['--deatch'], meant: '--detach' },
  { argv: ['send', 'bob', 'a.txt'], typo: ['--qeue'], meant: '--queue' },
  { argv: ['status'], typo: ['--josn'], meant: '--json' },
  { argv: ['incoming'], typo: ['--jsn'], meant: '--json' },
  { argv: ['pair', 'bob'], typo: ['--nmae', 'bobby'], meant: '--name' },
  { argv: ['pair', '--list'], typo: ['--lst'], meant: '--list' },
  { argv: ['pair', '--confirm'], typo: ['--rejct'], meant: '--reject' },
  { argv: ['accept', 'o1'], typo: ['--jsn'], meant: '--json' },
  { argv: ['reject', 'o1'], typo: ['--jsn'], meant: '--json' },
  { argv: ['cancel', 't1'], typo: ['--jsn'], meant: '--json' },
  { argv: ['service', 'install'], typo: ['--dryrun'], meant: '--dry-run' },
  { argv: ['service', 'install', '--dry-run'], typo: ['--sytem'], meant: '--system' },
  { argv: ['service', 'uninstall'], typo: ['--dry-rn'], meant: '--dry-run' },
  { argv: ['service', 'status'], typo: ['--sytsem'], meant: '--system' },
  { argv: ['completion'], typo: ['--jsn'], meant: '--json' },
];

describe('a mistyped option stops every command before any effect', () => {
  for (const c of COMMANDS) {
    test(`p2pd ${[...c.argv, ...c.typo].join(' ')}: exit 64, did you mean ${c.meant}`, async () => {
      await refused([...c.argv, ...c.typo]);
      const err = await refused([...c.argv, ...c.typo, '--json']);
      assert.deepEqual(err?.details?.unknown, [c.typo[0]]);
      assert.deepEqual(err?.details?.didYouMean, [c.meant]);
    });
  }

  test('the fake control socket does see a correct command (the checks above are not vacuous)', async () => {
    const r = await run(['send', 'bob', 'a.txt', '--detach', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const req = fake.requests.at(-1)!;
    assert.equal(req.method, 'send');
    assert.deepEqual(req.params, { peer: 'bob', paths: [file], detach: true, queue: false });
    const d = await run(['daemon']);
    assert.equal(d.daemonStarted, true);
  });
});

describe('other usage errors: one error, no effect', () => {
  const cases: Array<{ argv: string[]; details?: Record<string, unknown> }> = [
    { argv: ['sned', 'bob', 'a.txt'], details: { unknown: ['sned'], didYouMean: ['send'] } },
    { argv: ['service', 'instal'], details: { unknown: ['instal'], didYouMean: ['install'] } },
    { argv: ['send'], details: { missing: ['peer', 'paths'] } },
    { argv: ['send', 'bob'], details: { missing: ['paths'] } },
    { argv: ['accept'], details: { missing: ['offer-id'] } },
    { argv: ['status', 'extra'], details: { unknown: ['extra'] } },
    { argv: ['cancel', 't1', 't2'], details: { unknown: ['t2'] } },
    { argv: [] },
    { argv: ['service'] },
    { argv: ['pair'] },
    { argv: ['pair', 'bob', '--list'] },
    { argv: ['pair', '--confirm', '--reject'] },
    { argv: ['pair', '--list', '--name', 'x'] },
    { argv: ['send', 'bob', 'a.txt', '--detach=maybe'] },
    { argv: ['trust', 'bob', '--name', 'a', '--name', 'b'] },
    { argv: ['trust', 'bob', '--name'] },
    { argv: ['service', 'install', '--system'] }, // --config goes with --system: never
  ];
  for (const c of cases) {
    test(`p2pd ${c.argv.join(' ')}`, async () => {
      await refused(c.argv);
      const err = await refused([...c.argv, '--json']);
      if (c.details !== undefined) assert.deepEqual(err?.details, c.details);
    });
  }

  test('--config without a value is a usage error, not the default config', async () => {
    const d = deps();
    const status = await runCli(['status', '--json', '--config'], d);
    assert.equal(status, 64);
    assert.equal(JSON.parse(d.stdout.text).error.code, 'USAGE');
  });
});

describe('Ctrl-C on a foreground send', () => {
  for (const json of [false, true]) {
    test(`ends the bar's line and says the transfer is cancelled${json ? ' (--json: one error document)' : ''}`, async () => {
      let interrupt: (() => void) | undefined;
      let released = false;
      const hangupsBefore = fake.hangups;
      fake.answer = (req, reply) => {
        if (req.method !== 'send') return reply({ result: {} });
        reply({ event: 'progress', data: transferView({ id: 'tx42' }) });
        // No result: the send goes on until the CLI hangs up.
      };
      const d = deps({
        stderr: new Out(true),
        onInterrupt: (handler) => {
          interrupt = handler;
          return () => {
            released = true;
          };
        },
      });
      const done = runCli(['send', 'bob', 'a.txt', '--config', fake.configPath, ...(json ? ['--json'] : [])], d);
      const deadline = Date.now() + 5000;
      while (!d.stderr.text.includes('bob') && !(json && fake.requests.at(-1)?.method === 'send' && interrupt !== undefined)) {
        assert.ok(Date.now() < deadline, 'no progress shown');
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 200));
      interrupt!();
      const status = await done;
      assert.equal(status, 130);
      assert.equal(released, true, 'Ctrl-C handed back');
      while (fake.hangups === hangupsBefore) {
        assert.ok(Date.now() < deadline, 'the CLI did not hang up');
        await new Promise((r) => setTimeout(r, 10));
      }
      if (json) {
        const lines = d.stdout.text.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1);
        const err = JSON.parse(lines[0]!).error;
        assert.equal(err.code, 'TRANSFER_CANCELLED');
        assert.deepEqual(err.details, { id: 'tx42' });
      } else {
        assert.equal(d.stdout.text, '');
        // The bar stays, on its own line; the message starts a new one and names the transfer and --detach.
        const lastBar = d.stderr.text.lastIndexOf('\r\x1b[2K');
        const after = d.stderr.text.slice(lastBar + 4);
        assert.match(after, /^[^\n]*bob[^\n]*\n/);
        assert.match(after, /\np2pd: [^\n]*tx42[^\n]*--detach/);
      }
      fake.answer = defaultAnswer;
    });
  }
});

describe('usage helpers', () => {
  test('edit distance counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('deatch', 'detach'), 1);
    assert.equal(editDistance('qeue', 'queue'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('send', 'send'), 0);
  });

  test('closest suggests near misses and prefixes, not far guesses', () => {
    assert.equal(closest('deatch', ['detach', 'queue', 'json']), 'detach');
    assert.equal(closest('dryrun', ['dry-run', 'system']), 'dry-run');
    assert.equal(closest('det', ['detach', 'queue']), 'detach');
    assert.equal(closest('frobnicate', ['detach', 'queue', 'json']), undefined);
    assert.equal(closest('x', ['json']), undefined);
  });

  test('positionals of a usage line', () => {
    assert.deepEqual(positionals('send <peer> <paths..>'), [
      { name: 'peer', required: true },
      { name: 'paths', required: true },
    ]);
    assert.deepEqual(positionals('pair [peer]'), [{ name: 'peer', required: false }]);
  });

  test('--json is seen even on a command line that does not parse, but not after --', () => {
    assert.equal(wantsJson(['sned', '--json']), true);
    assert.equal(wantsJson(['send', '--', '--json']), false);
    assert.equal(wantsJson(['status']), false);
  });
});
