/** The CLI's behaviour without peers: errors, exit statuses, --json errors, help. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, TestDaemon } from '../helpers/daemons.js';

test('the CLI says the daemon is not running, how to start it, and exits 69', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ stateDir: join(dir, 'state'), inbox: join(dir, 'in') }));
  for (const cmd of [['status'], ['peers'], ['id'], ['send', 'bob', config]]) {
    const r = await cli([...cmd, '--config', config]);
    assert.equal(r.code, 69, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /p2pd daemon/);
  }
  const j = await cli(['status', '--json', '--config', config]);
  assert.equal(j.code, 69);
  assert.equal(JSON.parse(j.stdout).error.code, 'DAEMON_NOT_RUNNING');
});

test('a bad config value fails with the key name and exit status 78', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ stateDir: join(dir, 'state'), limits: { maxConcurrentIncoming: 0 } }));
  const r = await cli(['daemon', '--config', config]);
  assert.equal(r.code, 78);
  assert.match(r.stdout + r.stderr, /limits\.maxConcurrentIncoming/);
  const j = await cli(['peers', '--json', '--config', config]);
  assert.equal(j.code, 78);
  const err = JSON.parse(j.stdout).error;
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.equal(err.details.key, 'limits.maxConcurrentIncoming');
});

test('P2PD_CONFIG names the config file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'p2pd-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ accept: 'sometimes' }));
  const r = await cli(['status', '--json'], { env: { P2PD_CONFIG: config } });
  assert.equal(r.code, 78);
  assert.equal(JSON.parse(r.stdout).error.details.key, 'accept');
});

test('usage errors exit 64; --help and --version exit 0', async () => {
  const none = await cli([]);
  assert.equal(none.code, 64);
  const unknown = await cli(['sned', 'bob', 'x']);
  assert.equal(unknown.code, 64);
  const missing = await cli(['send', 'bob']);
  assert.equal(missing.code, 64);
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  for (const cmd of ['daemon', 'id', 'peers', 'trust', 'send', 'status', 'cancel']) assert.match(help.stdout, new RegExp(`p2pd ${cmd}`));
  const version = await cli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('shell completion script is printed', async () => {
  const r = await cli(['completion']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /p2pd/);
});

test('`p2pd ui` with the dashboard turned off says so and how to turn it on (exit 69)', async (t) => {
  const d = await TestDaemon.create({ name: `noui-${process.pid}`, extra: { dashboard: { enabled: false }, discovery: { enabled: false } } });
  t.after(() => d.destroy());
  await d.start();
  const r = await d.cli(['ui']);
  assert.equal(r.code, 69, r.stderr);
  assert.match(r.stderr, /dashboard is off.*"enabled": true/);
  const j = await d.cli(['ui', '--json']);
  assert.equal(JSON.parse(j.stdout).error.code, 'DASHBOARD_OFF');
});
