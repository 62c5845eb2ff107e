/**
 * The real executable on wrong command lines and at its edges: a mistyped option in any command
 * exits 64 with one error document and no effect (nothing asked of a control socket, nothing
 * written, no service command run); a reader that goes away ends the CLI quietly; Ctrl-C on a
 * foreground send says what happens to the transfer; help where help is asked for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, TestDaemon, cli, waitFor, type CliResult } from '../helpers/daemons.js';
import { FakeControl } from '../helpers/fake-control.js';

const tag = randomBytes(2).toString('hex');

/** Runs p2pd with its stdout closed before it writes anything: the reader went away. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

function oneUsageDocument(r: CliResult, what: string): { code: string; details?: Record<string, unknown> } {
  assert.equal(r.code, 64, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `${what}: exactly one document on stdout, got:\n${r.stdout}`);
  const doc = JSON.parse(lines[0]!) as { error: { code: string; details?: Record<string, unknown> } };
  assert.equal(doc.error.code, 'USAGE');
  return doc.error;
}

describe('a mistyped option has no effect', { timeout: 180_000 }, () => {
  let fake: FakeControl;
  let home: string;
  let bin: string;
  let log: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    fake = await FakeControl.start();
    home = join(fake.dir, 'home');
    bin = join(fake.dir, 'bin');
    log = join(fake.dir, 'commands.log');
    mkdirSync(home);
    mkdirSync(bin);
    // Service managers that only write down that they were called.
    for (const name of ['systemctl', 'loginctl', 'launchctl', 'useradd', 'getent']) {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "$(basename "$0") $*" >> "${log}"\nexit 0\n`);
      chmodSync(join(bin, name), 0o755);
    }
    writeFileSync(join(fake.dir, 'a.txt'), 'hello');
    env = {
      HOME: home,
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      XDG_CONFIG_HOME: '',
      XDG_STATE_HOME: '',
      P2PD_CONFIG: '',
      P2PD_SERVICE_ROOT: '',
    };
  });
  after(() => fake?.stop());

  const cases: Array<{ argv: string[]; meant: string }> = [
    { argv: ['daemon', '--jsno'], meant: '--json' },
    { argv: ['id', '--confg', 'x.json'], meant: '--config' },
    { argv: ['peers', '--jsn'], meant: '--json' },
    { argv: ['trust', 'bob', '--nmae', 'bobby'], meant: '--name' },
    { argv: ['untrust', 'bob', '--jsn'], meant: '--json' },
    { argv: ['send', 'bob', 'a.txt', '--deatch'], meant: '--detach' },
    { argv: ['send', 'bob', 'a.txt', '--qeue'], meant: '--queue' },
    { argv: ['status', '--josn'], meant: '--json' },
    { argv: ['incoming', '--jsn'], meant: '--json' },
    { argv: ['pair', 'bob', '--nmae', 'bobby'], meant: '--name' },
    { argv: ['pair', '--lst'], meant: '--list' },
    { argv: ['accept', 'o1', '--jsn'], meant: '--json' },
    { argv: ['reject', 'o1', '--jsn'], meant: '--json' },
    { argv: ['cancel', 't1', '--jsn'], meant: '--json' },
    { argv: ['service', 'install', '--dryrun'], meant: '--dry-run' },
    { argv: ['service', 'uninstall', '--dryrun'], meant: '--dry-run' },
    { argv: ['service', 'status', '--sytem'], meant: '--system' },
    { argv: ['completion', '--jsn'], meant: '--json' },
  ];
  for (const c of cases) {
    it(`p2pd ${c.argv.join(' ')} --json`, async () => {
      const r = await cli([...c.argv, '--json', '--config', fake.configPath], { env, cwd: fake.dir, timeoutMs: 30_000 });
      const err = oneUsageDocument(r, c.argv.join(' '));
      assert.deepEqual(err.details?.didYouMean, [c.meant]);
      assert.equal(fake.connections, 0, 'nothing was asked of the control socket');
      assert.deepEqual(readdirSync(home), [], 'nothing was written');
      assert.equal(existsSync(log), false, 'no service command ran');
      assert.equal(existsSync(join(fake.dir, 'state')), false, 'no daemon state was made');
    });
  }

  it('the same commands spelled right do reach the control socket and the service manager', async () => {
    const r = await cli(['send', 'bob', 'a.txt', '--detach', '--json', '--config', fake.configPath], { env, cwd: fake.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fake.requests.at(-1)?.method, 'send');
    const s = await cli(['service', 'install', '--config', fake.configPath], { env });
    assert.equal(s.code, 0, s.stderr);
    assert.ok(existsSync(join(home, '.config/systemd/user/p2pd.service')));
    assert.match(readFileText(log), /systemctl --user daemon-reload/);
  });
});

function readFileText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

describe('help and missing arguments', () => {
  it('completion --help shows help, not the script', async () => {
    const r = await cli(['completion', '--help']);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /begin-p2pd-completions/);
    assert.match(r.stdout, /p2pd completion/);
    const script = await cli(['completion']);
    assert.match(script.stdout, /begin-p2pd-completions/);
  });

  it('send --help shows paths as required, without an empty default', async () => {
    const r = await cli(['send', '--help']);
    assert.equal(r.code, 0);
    const line = r.stdout.split('\n').find((l) => /^\s+paths\b/.test(l)) ?? '';
    assert.match(line, /\[required\]/);
    assert.doesNotMatch(line, /default/);
  });

  it('send with no arguments names both the peer and the paths as missing', async () => {
    const r = await cli(['send', '--json']);
    assert.deepEqual(oneUsageDocument(r, 'send').details?.missing, ['peer', 'paths']);
    const human = await cli(['send']);
    assert.equal(human.code, 64);
    assert.match(human.stderr, /peer/);
  });
});

describe('a reader that goes away', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.create({ name: `pipe-${tag}` });
    await d.start(60_000);
  });
  after(() => d?.destroy());

  it('p2pd peers | head -1: a closed stdout ends the CLI quietly', async () => {
    for (const args of [['peers'], ['peers', '--json'], ['status'], ['id']]) {
      const r = await withClosedStdout([...args, '--config', d.configPath]);
      assert.equal(r.stderr, '', `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.code, 0, args.join(' '));
    }
    const help = await withClosedStdout(['--help']);
    assert.deepEqual([help.code, help.stderr], [0, '']);
  });
});

describe('Ctrl-C on a foreground send', { timeout: 180_000 }, () => {
  const S = `ctrlc-s-${tag}`;
  const R = `ctrlc-r-${tag}`;
  let sender: TestDaemon;
  let receiver: TestDaemon;

  before(async () => {
    sender = await TestDaemon.create({ name: S });
    receiver = await TestDaemon.create({ name: R, accept: 'ask' as 'trusted', extra: { askTimeoutSeconds: 60 } });
    await Promise.all([sender.start(60_000), receiver.start(60_000)]);
    await sender.waitForPeer(R, 60_000);
  });
  after(async () => Promise.all([sender?.destroy(), receiver?.destroy()]));

  it('says the transfer is cancelled and how to leave one running; the daemon cancels it', async () => {
    const file = join(sender.dir, 'waiting.txt');
    writeFileSync(file, 'an offer nobody answers');
    const child = spawn(process.execPath, [MAIN, 'send', R, file, '--config', sender.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let id = '';
    await waitFor(
      async () => {
        const st = await sender.json<{ transfers: Array<{ id: string; state: string }> }>(['status']);
        id = st.transfers.find((t) => t.state === 'waiting')?.id ?? '';
        return id !== '';
      },
      20_000,
      'the send to wait for an answer',
    );
    // Tab completion knows what the daemons know: the peer, the waiting transfer, the offer.
    const complete = async (d: TestDaemon, words: string[]): Promise<string[]> => {
      const r = await cli(['--get-yargs-completions', 'p2pd', ...words], { env: { P2PD_CONFIG: d.configPath } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    assert.ok((await complete(sender, ['send', ''])).includes(R));
    assert.deepEqual(await complete(sender, ['send', 'nobody-']), []);
    assert.deepEqual(await complete(sender, ['cancel', '']), [id]);
    const { offers } = await receiver.json<{ offers: Array<{ id: string }> }>(['incoming']);
    assert.deepEqual(
      await complete(receiver, ['accept', '']),
      offers.map((o) => o.id),
    );
    assert.ok((await complete(sender, ['se'])).includes('send'), 'commands still complete');
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^p2pd: .*${id}.*--detach`, 'm'));
    await waitFor(
      async () => {
        const st = await sender.json<{ transfers: Array<{ id: string; state: string }> }>(['status']);
        return st.transfers.find((t) => t.id === id)?.state === 'cancelled';
      },
      15_000,
      'the daemon to cancel the transfer',
    );
  });
});
