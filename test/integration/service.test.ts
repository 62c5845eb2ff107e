/**
 * `p2pd service install | uninstall | status` through the real CLI, in a temporary home, with fake
 * systemctl, loginctl, useradd, getent and launchctl first on the PATH: each appends its argv to a
 * log (tab-separated) and answers as told by FAKE_* variables. Checks the files written and the
 * exact commands run; no real service manager is touched.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { MAIN, cli, type CliResult } from '../helpers/daemons.js';

const FAKES: Record<string, string> = {
  systemctl: `
for a in "$@"; do
  case "$a" in
    is-enabled) echo "\${FAKE_ENABLED:-enabled}"; [ "\${FAKE_ENABLED:-enabled}" = enabled ] && exit 0 || exit 1 ;;
    is-active) echo "\${FAKE_ACTIVE:-active}"; [ "\${FAKE_ACTIVE:-active}" = active ] && exit 0 || exit 3 ;;
  esac
done
exit 0`,
  loginctl: 'echo "Linger=${FAKE_LINGER:-no}"; exit 0',
  useradd: 'exit 0',
  // getent passwd p2pd: "no such key" unless FAKE_ACCOUNT=yes
  getent: '[ "$1 $2" = "passwd p2pd" ] && [ "${FAKE_ACCOUNT:-no}" != yes ] && exit 1; exit 0',
  launchctl: 'exit 0',
};

interface Sandbox {
  dir: string;
  home: string;
  bin: string;
  log: string;
  env: NodeJS.ProcessEnv;
}

function sandbox(t: { after: (fn: () => void) => void }): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'p2pd-service-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home');
  const bin = join(dir, 'bin');
  const log = join(dir, 'commands.log');
  mkdirSync(home);
  mkdirSync(bin);
  for (const [name, body] of Object.entries(FAKES)) {
    const script = `#!/bin/bash\n{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "$FAKE_LOG"\n${body}\n`;
    writeFileSync(join(bin, name), script);
    chmodSync(join(bin, name), 0o755);
  }
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    FAKE_LOG: log,
    XDG_CONFIG_HOME: '',
    XDG_STATE_HOME: '',
    P2PD_CONFIG: '',
    P2PD_SERVICE_ROOT: '',
  };
  return { dir, home, bin, log, env };
}

/** The commands the fakes recorded, each as its argv. */
function commands(s: Sandbox): string[][] {
  if (!existsSync(s.log)) return [];
  return readFileSync(s.log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

function clearLog(s: Sandbox): void {
  rmSync(s.log, { force: true });
}

function ok(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

function json(r: CliResult): Record<string, unknown> & { files: Array<Record<string, unknown>>; commands: Array<Record<string, unknown>>; notes: string[] } {
  return JSON.parse(r.stdout) as never;
}

/** Directive → values, from a unit's text. */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    out.set(line.slice(0, eq), [...(out.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

const hasAnalyzer = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;

/** systemd-analyze verify, failing on any line about the file (verify exits 0 for unknown keys). */
function verify(file: string, user: boolean, scratch: string): void {
  const runtime = mkdtempSync(join(scratch, 'runtime-'));
  const args = user ? ['--user', 'verify', file] : ['verify', file];
  const env = user ? { ...process.env, XDG_RUNTIME_DIR: runtime } : process.env;
  const res = spawnSync('systemd-analyze', args, { encoding: 'utf8', env, timeout: 30_000 });
  const complaints = `${res.stdout}${res.stderr}`.split('\n').filter((line) => line.includes('p2pd.service'));
  assert.deepEqual(complaints, [], `systemd-analyze ${args.join(' ')}`);
  assert.equal(res.status, 0, res.stderr);
}

const me = userInfo().username;
const SANDBOX = [
  'NoNewPrivileges=yes',
  'PrivateTmp=yes',
  'Restart=on-failure',
  'KillSignal=SIGTERM',
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
];

describe('p2pd service (user scope on Linux)', () => {
  test('install writes the user unit, runs daemon-reload and enable --now, checks lingering', async (t) => {
    const s = sandbox(t);
    const r = await cli(['service', 'install'], { env: s.env });
    ok(r, 'service install');
    const unitPath = join(s.home, '.config/systemd/user/p2pd.service');
    const unit = readFileSync(unitPath, 'utf8');
    assert.deepEqual(directives(unit).get('ExecStart'), [`${process.execPath} --max-semi-space-size=1 ${MAIN} daemon`]);
    for (const line of SANDBOX) assert.ok(unit.split('\n').includes(line), line);
    assert.deepEqual(commands(s), [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'p2pd.service'],
      ['loginctl', 'show-user', me, '--property=Linger'],
    ]);
    assert.match(r.stdout, /journalctl --user -u p2pd -f/);
    assert.match(r.stdout, new RegExp(`loginctl enable-linger ${me}`));
    assert.match(r.stdout, /Lingering is off/);
    if (hasAnalyzer) verify(unitPath, true, s.dir);
    else t.diagnostic('systemd-analyze is not installed: the rendered unit was not verified');
  });

  test('--json: a custom XDG_CONFIG_HOME and a --config file are honoured', async (t) => {
    const s = sandbox(t);
    const xdg = join(s.dir, 'xdg config');
    const config = join(s.dir, 'my p2pd.json');
    writeFileSync(config, JSON.stringify({ inbox: join(s.dir, 'in'), stateDir: join(s.dir, 'state') }));
    const r = await cli(['service', 'install', '--json', '--config', 'my p2pd.json'], {
      env: { ...s.env, XDG_CONFIG_HOME: xdg, FAKE_LINGER: 'yes' },
      cwd: s.dir,
    });
    ok(r, 'service install --json');
    const doc = json(r);
    const unitPath = join(xdg, 'systemd/user/p2pd.service');
    assert.equal(doc.action, 'install');
    assert.equal(doc.scope, 'user');
    assert.equal(doc.manager, 'systemd');
    assert.equal(doc.unitPath, unitPath);
    assert.equal(doc.completed, true);
    assert.equal(doc.dryRun, false);
    assert.equal(doc.linger, true);
    assert.deepEqual(
      doc.files.map((f) => [f.path, f.mode, f.outcome]),
      [[unitPath, '0644', 'written']],
    );
    assert.deepEqual(
      doc.commands.map((c) => [c.argv, c.outcome]),
      [
        [['systemctl', '--user', 'daemon-reload'], 'ran'],
        [['systemctl', '--user', 'enable', '--now', 'p2pd.service'], 'ran'],
      ],
    );
    assert.ok(doc.notes.some((n) => n.startsWith('Lingering is on')));
    const unit = directives(readFileSync(unitPath, 'utf8'));
    assert.deepEqual(unit.get('ExecStart'), [`${process.execPath} --max-semi-space-size=1 ${MAIN} daemon --config "${config}"`]);
    assert.deepEqual(unit.get('Environment'), [`"XDG_CONFIG_HOME=${xdg}"`]);
  });

  test('P2PD_CONFIG is passed on as --config', async (t) => {
    const s = sandbox(t);
    const config = join(s.dir, 'p2pd.json');
    writeFileSync(config, '{}');
    ok(await cli(['service', 'install'], { env: { ...s.env, P2PD_CONFIG: config } }), 'service install');
    const unit = directives(readFileSync(join(s.home, '.config/systemd/user/p2pd.service'), 'utf8'));
    assert.deepEqual(unit.get('ExecStart'), [`${process.execPath} --max-semi-space-size=1 ${MAIN} daemon --config ${config}`]);
  });

  test('a bad config stops the install with its code; nothing is written or run', async (t) => {
    const s = sandbox(t);
    const config = join(s.dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ accept: 'sometimes' }));
    const r = await cli(['service', 'install', '--json', '--config', config], { env: s.env });
    assert.equal(r.code, 78);
    assert.equal(JSON.parse(r.stdout).error.code, 'CONFIG_INVALID');
    assert.deepEqual(readdirSync(s.home), []);
    assert.deepEqual(commands(s), []);
  });

  test('status: installed, enabled, active, from systemctl --user is-enabled / is-active', async (t) => {
    const s = sandbox(t);
    const before = json(await cli(['service', 'status', '--json'], { env: s.env }));
    assert.equal(before.installed, false);
    ok(await cli(['service', 'install'], { env: s.env }), 'service install');
    clearLog(s);
    const r = await cli(['service', 'status', '--json'], { env: s.env });
    ok(r, 'service status');
    const doc = json(r);
    assert.equal(doc.action, 'status');
    assert.equal(doc.unitPath, join(s.home, '.config/systemd/user/p2pd.service'));
    assert.equal(doc.installed, true);
    assert.equal(doc.enabled, true);
    assert.equal(doc.active, true);
    assert.equal(doc.enabledState, 'enabled');
    assert.equal(doc.activeState, 'active');
    assert.equal(doc.managerFound, true);
    assert.deepEqual(commands(s), [
      ['systemctl', '--user', 'is-enabled', 'p2pd.service'],
      ['systemctl', '--user', 'is-active', 'p2pd.service'],
    ]);
    const stopped = await cli(['service', 'status'], { env: { ...s.env, FAKE_ENABLED: 'disabled', FAKE_ACTIVE: 'failed' } });
    ok(stopped, 'service status');
    assert.match(stopped.stdout, /enabled +no \(disabled\)/);
    assert.match(stopped.stdout, /running +no \(failed\)/);
    assert.match(stopped.stdout, /journalctl --user -u p2pd/);
  });

  test('uninstall: disable --now, remove the unit, daemon-reload; then there is nothing to do', async (t) => {
    const s = sandbox(t);
    ok(await cli(['service', 'install'], { env: s.env }), 'service install');
    clearLog(s);
    const unitPath = join(s.home, '.config/systemd/user/p2pd.service');
    const r = await cli(['service', 'uninstall'], { env: s.env });
    ok(r, 'service uninstall');
    assert.equal(existsSync(unitPath), false);
    assert.deepEqual(commands(s), [
      ['systemctl', '--user', 'disable', '--now', 'p2pd.service'],
      ['systemctl', '--user', 'daemon-reload'],
    ]);
    assert.match(r.stdout, /Kept: your config/);
    clearLog(s);
    const again = await cli(['service', 'uninstall', '--json'], { env: s.env });
    ok(again, 'second uninstall');
    assert.deepEqual(json(again).commands, []);
    assert.deepEqual(commands(s), []);
  });

  test('--dry-run writes nothing and runs nothing, and shows the unit', async (t) => {
    const s = sandbox(t);
    const r = await cli(['service', 'install', '--dry-run'], { env: s.env });
    ok(r, 'service install --dry-run');
    assert.match(r.stdout, /would write +.*p2pd\.service/);
    assert.match(r.stdout, /\| ExecStart=/);
    assert.match(r.stdout, /would run +systemctl --user enable --now p2pd\.service/);
    assert.deepEqual(readdirSync(s.home), []);
    assert.deepEqual(commands(s), []);

    const j = json(await cli(['service', 'install', '--dry-run', '--json'], { env: s.env }));
    assert.equal(j.dryRun, true);
    assert.equal(j.completed, false);
    assert.deepEqual(
      j.files.map((f) => f.outcome),
      ['planned'],
    );
    assert.match(String(j.files[0]!.content), /^ExecStart=/m);
    assert.deepEqual(readdirSync(s.home), []);

    ok(await cli(['service', 'install'], { env: s.env }), 'service install');
    clearLog(s);
    ok(await cli(['service', 'uninstall', '--dry-run'], { env: s.env }), 'service uninstall --dry-run');
    assert.ok(existsSync(join(s.home, '.config/systemd/user/p2pd.service')));
    assert.deepEqual(commands(s), []);
  });

  test('without systemctl: the unit is still written, the commands are printed, exit 0', async (t) => {
    const s = sandbox(t);
    const empty = join(s.dir, 'empty-bin');
    mkdirSync(empty);
    const env = { ...s.env, PATH: empty };
    const r = await cli(['service', 'install', '--json'], { env });
    ok(r, 'service install without systemctl');
    const doc = json(r);
    assert.equal(doc.completed, false);
    assert.deepEqual(doc.missing, ['systemctl']);
    assert.deepEqual(
      doc.commands.map((c) => c.outcome),
      ['missing', 'not-run'],
    );
    assert.ok(doc.notes[0]!.includes('systemctl --user enable --now p2pd.service'));
    assert.ok(existsSync(join(s.home, '.config/systemd/user/p2pd.service')));

    const human = await cli(['service', 'install'], { env });
    ok(human, 'service install without systemctl');
    assert.match(human.stdout, /systemctl not found/);

    const status = await cli(['service', 'status'], { env });
    ok(status, 'service status without systemctl');
    assert.match(status.stdout, /systemctl not found/);
    assert.equal(json(await cli(['service', 'status', '--json'], { env })).enabled, null);
  });
});

describe('p2pd service --system', () => {
  const root = process.getuid?.() === 0;
  const skip = root ? false : 'not root: `p2pd service install --system` needs root, so it was not tested';

  test('install writes the unit and config under P2PD_SERVICE_ROOT, adds the account, enables', { skip }, async (t) => {
    const s = sandbox(t);
    const prefix = join(s.dir, 'root');
    const env = { ...s.env, P2PD_SERVICE_ROOT: prefix };
    const r = await cli(['service', 'install', '--system'], { env });
    ok(r, 'service install --system');
    const unitPath = join(prefix, 'etc/systemd/system/p2pd.service');
    const configPath = join(prefix, 'etc/p2pd/config.json');
    const unit = readFileSync(unitPath, 'utf8');
    const d = directives(unit);
    assert.deepEqual(d.get('ExecStart'), [`${process.execPath} --max-semi-space-size=1 ${MAIN} daemon --config /etc/p2pd/config.json`]);
    for (const line of [...SANDBOX, 'ProtectSystem=strict', 'ProtectHome=yes', 'ReadWritePaths=/var/lib/p2pd', 'User=p2pd']) {
      assert.ok(unit.split('\n').includes(line), line);
    }
    const template = readFileSync(new URL('../../../systemd/config.system.json', import.meta.url), 'utf8');
    assert.equal(readFileSync(configPath, 'utf8'), template);
    assert.deepEqual(commands(s), [
      ['getent', 'passwd', 'p2pd'],
      ['useradd', '--system', '--home-dir', '/var/lib/p2pd', '--shell', '/usr/sbin/nologin', '--user-group', 'p2pd'],
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'p2pd.service'],
    ]);
    assert.match(r.stdout, /journalctl -u p2pd -f/);
    if (hasAnalyzer) verify(unitPath, false, s.dir);

    // Again, with an edited config (inbox moved) and the account present: config kept, no useradd,
    // and the moved inbox is writable by the unit.
    writeFileSync(configPath, JSON.stringify({ inbox: '/srv/p2pd/inbox', stateDir: '/var/lib/p2pd/state', controlSocket: '/run/p2pd/control.sock' }));
    clearLog(s);
    const again = await cli(['service', 'install', '--system', '--json'], { env: { ...env, FAKE_ACCOUNT: 'yes' } });
    ok(again, 'second install --system');
    const doc = json(again);
    assert.deepEqual(
      doc.files.map((f) => [f.path, f.outcome]),
      [
        [unitPath, 'written'],
        [configPath, 'kept'],
      ],
    );
    assert.deepEqual(
      doc.commands.map((c) => [(c.argv as string[])[0], c.outcome]),
      [
        ['useradd', 'skipped'],
        ['systemctl', 'ran'],
        ['systemctl', 'ran'],
      ],
    );
    assert.deepEqual(commands(s), [
      ['getent', 'passwd', 'p2pd'],
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'p2pd.service'],
    ]);
    assert.deepEqual(directives(readFileSync(unitPath, 'utf8')).get('ReadWritePaths'), ['/var/lib/p2pd', '-/srv/p2pd/inbox']);
    assert.ok(doc.notes.some((n) => n.includes('/srv/p2pd/inbox')));
    if (hasAnalyzer) verify(unitPath, false, s.dir);

    clearLog(s);
    const status = json(await cli(['service', 'status', '--system', '--json'], { env }));
    assert.equal(status.scope, 'system');
    assert.equal(status.unitPath, unitPath);
    assert.equal(status.installed, true);
    assert.deepEqual(commands(s), [
      ['systemctl', 'is-enabled', 'p2pd.service'],
      ['systemctl', 'is-active', 'p2pd.service'],
    ]);

    clearLog(s);
    const un = await cli(['service', 'uninstall', '--system'], { env });
    ok(un, 'service uninstall --system');
    assert.equal(existsSync(unitPath), false);
    assert.ok(existsSync(configPath), 'the config is kept');
    assert.deepEqual(commands(s), [
      ['systemctl', 'disable', '--now', 'p2pd.service'],
      ['systemctl', 'daemon-reload'],
    ]);
    assert.match(un.stdout, /Kept: \/etc\/p2pd\/config\.json/);
  });

  test('--system with --config is a usage error', async (t) => {
    const s = sandbox(t);
    const r = await cli(['service', 'install', '--system', '--config', '/x.json', '--json'], { env: { ...s.env, P2PD_SERVICE_ROOT: join(s.dir, 'root') } });
    assert.equal(r.code, 64);
    assert.equal(JSON.parse(r.stdout).error.code, 'USAGE');
    assert.deepEqual(commands(s), []);
  });

  const setpriv = spawnSync('setpriv', ['--version'], { encoding: 'utf8' }).status === 0;
  const skipNonRoot = root && setpriv ? false : 'needs root and setpriv to run the CLI as another user';
  test('without root, install --system and uninstall --system fail with SERVICE_NEEDS_ROOT (77); --dry-run works', { skip: skipNonRoot }, async (t) => {
    const s = sandbox(t);
    const prefix = join(s.dir, 'root');
    const env = { ...s.env, P2PD_SERVICE_ROOT: prefix };
    // The temp dir is root's: nobody can read the fakes, and must not write anything anyway.
    chmodSync(s.dir, 0o755);
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    for (const action of ['install', 'uninstall']) {
      const r = await cli(['service', action, '--system', '--json'], { env, prefix: asNobody });
      assert.equal(r.code, 77, `${action}: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).error.code, 'SERVICE_NEEDS_ROOT');
    }
    const dry = await cli(['service', 'install', '--system', '--dry-run'], { env, prefix: asNobody });
    ok(dry, 'install --system --dry-run as nobody');
    assert.equal(existsSync(prefix), false);
    assert.deepEqual(commands(s), []);
  });
});
