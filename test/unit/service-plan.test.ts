/** The pure planner of `p2pd service` (user, system and macOS plans), its quoting and its executor. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { P2pdError } from '../../src/errors.js';
import {
  executePlan,
  planInstall,
  planUninstall,
  readTemplates,
  serviceTarget,
  shellLine,
  statusCommands,
  systemdCommandLine,
  systemdWord,
  templateDir,
  type CommandResult,
  type CommandRunner,
  type DaemonPaths,
  type InstallInput,
  type Plan,
  type RunStep,
  type ServiceTarget,
  type TargetInput,
  type WriteStep,
} from '../../src/service/index.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const templates = readTemplates(join(repoRoot, 'systemd'));
const scratch = mkdtempSync(join(tmpdir(), 'p2pd-service-plan-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const NODE = '/usr/local/bin/node';
const MAIN = '/usr/local/lib/node_modules/p2pd/dist/src/main.js';

function target(over: Partial<TargetInput> = {}): ServiceTarget {
  return serviceTarget({ platform: 'linux', scope: 'user', home: '/home/ada', env: {}, uid: 1000, userName: 'ada', ...over });
}

function homePaths(home: string): DaemonPaths {
  return {
    inbox: `${home}/p2pd/inbox`,
    outbox: `${home}/p2pd/outbox`,
    stateDir: `${home}/.local/state/p2pd`,
    controlSocket: `${home}/.local/state/p2pd/control.sock`,
  };
}

const systemPaths: DaemonPaths = {
  inbox: '/var/lib/p2pd/inbox',
  outbox: '/var/lib/p2pd/outbox',
  stateDir: '/var/lib/p2pd/state',
  controlSocket: '/run/p2pd/control.sock',
};

function install(t: ServiceTarget, over: Partial<InstallInput> = {}): Plan {
  return planInstall({
    target: t,
    templates,
    execPath: NODE,
    mainScript: MAIN,
    configFile: null,
    paths: t.scope === 'system' ? systemPaths : homePaths(t.home),
    existingUnit: null,
    ...over,
  });
}

function writes(plan: Plan): WriteStep[] {
  return plan.steps.filter((s): s is WriteStep => s.action === 'write');
}

function runs(plan: Plan): RunStep[] {
  return plan.steps.filter((s): s is RunStep => s.action === 'run');
}

/** Directive → its values in order, from every section of a unit's text. */
function parseUnit(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a directive: ${line}`);
    const key = line.slice(0, eq);
    directives.set(key, [...(directives.get(key) ?? []), line.slice(eq + 1)]);
  }
  return directives;
}

function one(unit: Map<string, string[]>, key: string): string | undefined {
  const values = unit.get(key);
  assert.ok(values === undefined || values.length === 1, `${key} is set ${values?.length} times`);
  return values?.[0];
}

const SANDBOX_COMMON: [string, string][] = [
  ['Restart', 'on-failure'],
  ['KillSignal', 'SIGTERM'],
  ['NoNewPrivileges', 'yes'],
  ['PrivateTmp', 'yes'],
  ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
];

describe('systemd quoting', () => {
  test('plain words stay bare; others are double-quoted with C escapes, %% and $$', () => {
    const cases: [string, boolean, string][] = [
      ['/usr/bin/node', true, '/usr/bin/node'],
      ['daemon', true, 'daemon'],
      ['--config', true, '--config'],
      ['/home/ada/my files/c.json', true, '"/home/ada/my files/c.json"'],
      ['/x/100%/y', true, '"/x/100%%/y"'],
      ['/x/$HOME/y', true, '"/x/$$HOME/y"'],
      ['/x/$HOME/y', false, '"/x/$HOME/y"'],
      ['/x/"q"/y', true, '"/x/\\"q\\"/y"'],
      ['/x\\y', true, '"/x\\\\y"'],
      ["/it's", true, '"/it\'s"'],
      ['a;b', true, '"a;b"'],
      ['line\nbreak', true, '"line\\nbreak"'],
      ['bell\x07', true, '"bell\\x07"'],
      ['', true, '""'],
      ['/Büro/p2pd', true, '"/Büro/p2pd"'],
    ];
    for (const [word, variables, quoted] of cases) assert.equal(systemdWord(word, { variables }), quoted, JSON.stringify(word));
  });

  test('arguments are $-escaped; an executable path systemd refuses or may expand is refused', () => {
    assert.equal(systemdCommandLine(['/opt/a b/node', '/x$y/main.js', 'daemon']), '"/opt/a b/node" "/x$$y/main.js" daemon');
    assert.equal(systemdCommandLine(['/opt/100%/node']), '"/opt/100%%/node"');
    for (const bad of ['/opt/"q"/node', "/opt/it's/node", '/opt/a\\b/node', '/opt/$x/node', '/opt/a\nb/node']) {
      assert.throws(
        () => systemdCommandLine([bad]),
        (err: unknown) => err instanceof P2pdError && err.code === 'SERVICE_UNSUPPORTED',
        bad,
      );
    }
    assert.throws(() => systemdCommandLine(['node', 'daemon']), P2pdError);
  });

  test('commands shown to a person are shell-quoted', () => {
    assert.equal(shellLine(['systemctl', '--user', 'enable', '--now', 'p2pd.service']), 'systemctl --user enable --now p2pd.service');
    assert.equal(shellLine(['install', '-d', "/srv/it's here"]), `install -d '/srv/it'\\''s here'`);
  });
});

describe('user service on Linux', () => {
  test('the unit goes to ~/.config/systemd/user, or under $XDG_CONFIG_HOME when set (absolute)', () => {
    assert.equal(target().unitPath, '/home/ada/.config/systemd/user/p2pd.service');
    assert.equal(target({ env: { XDG_CONFIG_HOME: '/data/ada/conf' } }).unitPath, '/data/ada/conf/systemd/user/p2pd.service');
    assert.equal(target({ env: { XDG_CONFIG_HOME: 'relative/conf' } }).unitPath, '/home/ada/.config/systemd/user/p2pd.service');
  });

  test('writes the rendered unit and runs daemon-reload, then enable --now', () => {
    const t = target();
    const plan = install(t);
    assert.equal(plan.action, 'install');
    assert.deepEqual(
      writes(plan).map((w) => [w.path, w.mode, w.ifMissing]),
      [['/home/ada/.config/systemd/user/p2pd.service', 0o644, false]],
    );
    assert.deepEqual(
      runs(plan).map((r) => r.argv),
      [
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', 'p2pd.service'],
      ],
    );
    assert.deepEqual(
      plan.steps.map((s) => s.action),
      ['write', 'run', 'run'],
    );
    assert.ok(
      plan.notes.some((n) => n.includes('journalctl --user -u p2pd -f')),
      'how to read the logs',
    );
    assert.ok(
      plan.notes.some((n) => n.includes('loginctl enable-linger ada')),
      'lingering',
    );
  });

  test('ExecStart is absolute node + main.js daemon; the sandboxing of the template stays', () => {
    const unit = parseUnit(writes(install(target()))[0]!.content);
    assert.equal(one(unit, 'ExecStart'), `${NODE} --max-semi-space-size=1 ${MAIN} daemon`);
    for (const [key, value] of SANDBOX_COMMON) assert.equal(one(unit, key), value, key);
    assert.equal(one(unit, 'WantedBy'), 'default.target');
    for (const key of ['User', 'ProtectSystem', 'Environment', 'ReadWritePaths']) assert.equal(unit.get(key), undefined, key);
  });

  test('a config named by --config or P2PD_CONFIG is passed on, and paths with spaces are quoted', () => {
    const plan = install(target(), {
      execPath: '/opt/node 20/bin/node',
      mainScript: '/home/ada/my apps/p2pd/dist/src/main.js',
      configFile: '/home/ada/p2pd conf/100%.json',
    });
    const unit = parseUnit(writes(plan)[0]!.content);
    assert.equal(
      one(unit, 'ExecStart'),
      '"/opt/node 20/bin/node" --max-semi-space-size=1 "/home/ada/my apps/p2pd/dist/src/main.js" daemon --config "/home/ada/p2pd conf/100%%.json"',
    );
    assert.ok(plan.notes.some((n) => n.includes('/home/ada/p2pd conf/100%.json')));
  });

  test('XDG_CONFIG_HOME and XDG_STATE_HOME of the installing shell reach the daemon', () => {
    const t = target({ env: { XDG_CONFIG_HOME: '/data/conf', XDG_STATE_HOME: '/data/my state', XDG_DATA_HOME: '/data/share' } });
    const unit = parseUnit(writes(install(t))[0]!.content);
    assert.deepEqual(unit.get('Environment'), ['XDG_CONFIG_HOME=/data/conf', '"XDG_STATE_HOME=/data/my state"']);
  });

  test('paths under /tmp get a note about PrivateTmp; a changed unit, a note about restarting', () => {
    const t = target({ home: '/tmp/home' });
    const plan = install(t, { existingUnit: 'old' });
    assert.ok(plan.notes.some((n) => n.includes('PrivateTmp') && n.includes('/tmp/home/p2pd/inbox')));
    assert.ok(plan.notes.some((n) => n.includes('systemctl --user restart p2pd')));
    const same = install(t, { existingUnit: writes(plan)[0]!.content });
    assert.ok(!same.notes.some((n) => n.includes('restart')));
  });

  test('uninstall: disable --now, remove the unit, daemon-reload; nothing when not installed', () => {
    const t = target();
    const plan = planUninstall(t, true);
    assert.deepEqual(
      plan.steps.map((s) => (s.action === 'run' ? s.argv.join(' ') : `${s.action} ${s.path}`)),
      ['systemctl --user disable --now p2pd.service', 'remove /home/ada/.config/systemd/user/p2pd.service', 'systemctl --user daemon-reload'],
    );
    assert.ok(plan.notes.some((n) => n.startsWith('Kept')));
    assert.deepEqual(planUninstall(t, false).steps, []);
  });

  test('status asks systemctl --user is-enabled and is-active', () => {
    assert.deepEqual(statusCommands(target()), {
      enabled: ['systemctl', '--user', 'is-enabled', 'p2pd.service'],
      active: ['systemctl', '--user', 'is-active', 'p2pd.service'],
    });
  });
});

describe('system service on Linux', () => {
  const root = '/tmp/pkgroot';
  const sys = (): ServiceTarget => target({ scope: 'system', env: { P2PD_SERVICE_ROOT: root }, uid: 0, userName: 'root', home: '/root' });

  test('paths are under the root prefix; "/" by default', () => {
    assert.equal(target({ scope: 'system' }).unitPath, '/etc/systemd/system/p2pd.service');
    assert.equal(sys().unitPath, '/tmp/pkgroot/etc/systemd/system/p2pd.service');
  });

  test('unit, config if missing, the account unless it exists, then reload and enable', () => {
    const plan = install(sys());
    assert.deepEqual(
      writes(plan).map((w) => [w.path, w.mode, w.ifMissing]),
      [
        ['/tmp/pkgroot/etc/systemd/system/p2pd.service', 0o644, false],
        ['/tmp/pkgroot/etc/p2pd/config.json', 0o644, true],
      ],
    );
    assert.equal(writes(plan)[1]!.content, templates.systemConfig);
    assert.deepEqual(
      runs(plan).map((r) => [r.argv, r.unless]),
      [
        [
          ['useradd', '--system', '--home-dir', '/var/lib/p2pd', '--shell', '/usr/sbin/nologin', '--user-group', 'p2pd'],
          ['getent', 'passwd', 'p2pd'],
        ],
        [['systemctl', 'daemon-reload'], undefined],
        [['systemctl', 'enable', '--now', 'p2pd.service'], undefined],
      ],
    );
    assert.ok(plan.notes.some((n) => n.includes('journalctl -u p2pd -f')));
  });

  test('the unit keeps the full sandbox and runs daemon --config /etc/p2pd/config.json', () => {
    const unit = parseUnit(writes(install(sys()))[0]!.content);
    assert.equal(one(unit, 'ExecStart'), `${NODE} --max-semi-space-size=1 ${MAIN} daemon --config /etc/p2pd/config.json`);
    for (const [key, value] of SANDBOX_COMMON) assert.equal(one(unit, key), value, key);
    const strict: [string, string][] = [
      ['User', 'p2pd'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['ReadWritePaths', '/var/lib/p2pd'],
      ['StateDirectory', 'p2pd'],
      ['RuntimeDirectory', 'p2pd'],
      ['WantedBy', 'multi-user.target'],
    ];
    for (const [key, value] of strict) assert.equal(one(unit, key), value, key);
  });

  test('config paths outside /var/lib/p2pd become ReadWritePaths=, with a note; home paths cannot', () => {
    const plan = install(sys(), { paths: { ...systemPaths, inbox: '/srv/p2pd inbox', outbox: '/home/ada/out' } });
    const unit = parseUnit(writes(plan)[0]!.content);
    assert.deepEqual(unit.get('ReadWritePaths'), ['/var/lib/p2pd', '"-/srv/p2pd inbox"']);
    assert.ok(plan.notes.some((n) => n.includes("install -d -o p2pd -g p2pd -m 0700 '/srv/p2pd inbox'")));
    assert.ok(plan.notes.some((n) => n.includes('/home/ada/out') && n.includes('ProtectHome')));
  });

  test('node under /root or /home gets a warning: the service account cannot reach it', () => {
    const plan = install(sys(), { execPath: '/root/.nvm/versions/node/v20.19.0/bin/node' });
    assert.ok(plan.notes.some((n) => n.startsWith('node is at /root/.nvm') && n.includes('ProtectHome')));
  });

  test('uninstall keeps config, data and the account, and says so', () => {
    const plan = planUninstall(sys(), true);
    assert.deepEqual(
      plan.steps.map((s) => (s.action === 'run' ? s.argv.join(' ') : `${s.action} ${s.path}`)),
      ['systemctl disable --now p2pd.service', 'remove /tmp/pkgroot/etc/systemd/system/p2pd.service', 'systemctl daemon-reload'],
    );
    assert.ok(plan.notes.some((n) => n.includes('/etc/p2pd/config.json') && n.includes('/var/lib/p2pd') && n.includes('userdel p2pd')));
  });
});

describe('launchd agent on macOS', () => {
  const mac = (): ServiceTarget => target({ platform: 'darwin', home: '/Users/ada', uid: 501 });

  test('the plist goes to ~/Library/LaunchAgents; --system and other platforms are refused', () => {
    assert.equal(mac().unitPath, '/Users/ada/Library/LaunchAgents/io.p2pd.daemon.plist');
    for (const over of [{ platform: 'darwin', scope: 'system' }, { platform: 'win32' }, { platform: 'freebsd' }] as Partial<TargetInput>[]) {
      assert.throws(
        () => target(over),
        (err: unknown) => err instanceof P2pdError && err.code === 'SERVICE_UNSUPPORTED',
        JSON.stringify(over),
      );
    }
  });

  test('absolute program arguments, log paths under ~/Library/Logs, XML-escaped', () => {
    const plan = install(mac(), { mainScript: '/Users/ada/R&D <p2pd>/dist/src/main.js', configFile: '/Users/ada/p2pd.json' });
    const [w] = writes(plan);
    assert.equal(w!.path, '/Users/ada/Library/LaunchAgents/io.p2pd.daemon.plist');
    const text = w!.content;
    const args = /<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(text)?.[1] ?? '';
    assert.deepEqual(
      [...args.matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]),
      [NODE, '--max-semi-space-size=1', '/Users/ada/R&amp;D &lt;p2pd&gt;/dist/src/main.js', 'daemon', '--config', '/Users/ada/p2pd.json'],
    );
    for (const key of ['StandardOutPath', 'StandardErrorPath']) {
      assert.match(text, new RegExp(`<key>${key}</key>\\s*<string>/Users/ada/Library/Logs/p2pd\\.log</string>`));
    }
    assert.doesNotMatch(text, /USERNAME/);
    assert.match(text, /<key>Label<\/key>\s*<string>io\.p2pd\.daemon<\/string>/);
    assert.match(text, /<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
    // One comment at most per "<!--", never "--" inside one, every element closed.
    for (const comment of text.match(/<!--[\s\S]*?-->/g) ?? []) assert.ok(!comment.slice(4, -3).includes('--'), comment);
    assert.equal((text.match(/<dict>/g) ?? []).length, (text.match(/<\/dict>/g) ?? []).length);
  });

  test('XDG variables go into EnvironmentVariables, after PATH', () => {
    const t = target({ platform: 'darwin', home: '/Users/ada', uid: 501, env: { XDG_STATE_HOME: '/Users/ada/.state' } });
    const text = writes(install(t))[0]!.content;
    assert.match(text, /<key>PATH<\/key>\s*<string>[^<]+<\/string>\s*<key>XDG_STATE_HOME<\/key>\s*<string>\/Users\/ada\/\.state<\/string>\s*<\/dict>/);
  });

  test('install: bootout (optional, for a reinstall) then bootstrap gui/<uid>; uninstall: bootout then remove', () => {
    const t = mac();
    assert.deepEqual(
      runs(install(t)).map((r) => [r.argv, r.optional]),
      [
        [['launchctl', 'bootout', 'gui/501/io.p2pd.daemon'], true],
        [['launchctl', 'bootstrap', 'gui/501', '/Users/ada/Library/LaunchAgents/io.p2pd.daemon.plist'], false],
      ],
    );
    assert.deepEqual(
      planUninstall(t, true).steps.map((s) => (s.action === 'run' ? s.argv.join(' ') : `${s.action} ${s.path}`)),
      ['launchctl bootout gui/501 /Users/ada/Library/LaunchAgents/io.p2pd.daemon.plist', 'remove /Users/ada/Library/LaunchAgents/io.p2pd.daemon.plist'],
    );
    assert.deepEqual(statusCommands(t).enabled, ['launchctl', 'print', 'gui/501/io.p2pd.daemon']);
  });
});

describe('templateDir', () => {
  test('is systemd/ beside dist/ of the package that holds main.js', () => {
    assert.equal(templateDir('/usr/lib/node_modules/p2pd/dist/src/main.js'), '/usr/lib/node_modules/p2pd/systemd');
  });
});

/** A runner whose programs are the keys of `programs`; each answers from its function. */
class FakeRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly programs: Record<string, (argv: readonly string[]) => CommandResult>) {}
  which(program: string): string | null {
    return Object.hasOwn(this.programs, program) ? `/fake/${program}` : null;
  }
  run(argv: readonly string[]): CommandResult {
    this.calls.push([...argv]);
    const answer = this.programs[argv[0]!];
    assert.ok(answer !== undefined, `ran a missing program: ${argv[0]}`);
    return answer(argv);
  }
}

const ok = (): CommandResult => ({ status: 0, stdout: '', stderr: '' });
const fail = (): CommandResult => ({ status: 1, stdout: '', stderr: 'nope' });

describe('executePlan', () => {
  let n = 0;
  function systemPlan(): { plan: Plan; root: string } {
    const root = join(scratch, `root-${n++}`);
    const t = target({ scope: 'system', env: { P2PD_SERVICE_ROOT: root }, uid: 0, userName: 'root' });
    return { plan: install(t), root };
  }

  test('writes files atomically with their modes, creating directories, then runs the commands', () => {
    const { plan, root } = systemPlan();
    const runner = new FakeRunner({ getent: fail, useradd: ok, systemctl: ok });
    const result = executePlan(plan, { runner }, { dryRun: false });
    assert.equal(result.completed, true);
    const unit = join(root, 'etc/systemd/system/p2pd.service');
    assert.equal(readFileSync(unit, 'utf8'), writes(plan)[0]!.content);
    assert.equal(statSync(unit).mode & 0o777, 0o644);
    assert.equal(readFileSync(join(root, 'etc/p2pd/config.json'), 'utf8'), templates.systemConfig);
    assert.deepEqual(runner.calls[0], ['getent', 'passwd', 'p2pd']);
    assert.deepEqual(runner.calls[1]?.[0], 'useradd');
    assert.deepEqual(runner.calls.slice(2), [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'p2pd.service'],
    ]);
    assert.deepEqual(
      result.steps.map((s) => s.outcome),
      ['written', 'written', 'ran', 'ran', 'ran'],
    );
  });

  test('keeps an existing config; skips useradd when the account exists', () => {
    const { plan, root } = systemPlan();
    mkdirSync(join(root, 'etc/p2pd'), { recursive: true });
    writeFileSync(join(root, 'etc/p2pd/config.json'), '{"port": 1}');
    const runner = new FakeRunner({ getent: ok, useradd: ok, systemctl: ok });
    const result = executePlan(plan, { runner }, { dryRun: false });
    assert.equal(readFileSync(join(root, 'etc/p2pd/config.json'), 'utf8'), '{"port": 1}');
    assert.deepEqual(
      result.steps.map((s) => s.outcome),
      ['written', 'kept', 'skipped', 'ran', 'ran'],
    );
    assert.ok(!runner.calls.some((c) => c[0] === 'useradd'));
  });

  test('a dry run writes nothing and runs nothing', () => {
    const { plan, root } = systemPlan();
    const runner = new FakeRunner({ getent: ok, useradd: ok, systemctl: ok });
    const result = executePlan(plan, { runner }, { dryRun: true });
    assert.ok(result.steps.every((s) => s.outcome === 'planned'));
    assert.equal(result.completed, false);
    assert.deepEqual(runner.calls, []);
    assert.equal(existsSync(root), false);
  });

  test('a missing systemctl: files are still written; that command and the later ones are left', () => {
    const home = join(scratch, `home-${n++}`);
    const plan = install(target({ home }));
    const result = executePlan(plan, { runner: new FakeRunner({}) }, { dryRun: false });
    assert.deepEqual(
      result.steps.map((s) => s.outcome),
      ['written', 'missing', 'not-run'],
    );
    assert.deepEqual(result.missing, ['systemctl']);
    assert.equal(result.completed, false);
    assert.ok(existsSync(join(home, '.config/systemd/user/p2pd.service')));
  });

  test('a failing command stops the plan with SERVICE_INSTALL_FAILED and what was done', () => {
    const home = join(scratch, `home-${n++}`);
    const plan = install(target({ home }));
    const runner = new FakeRunner({ systemctl: () => ({ status: 1, stdout: '', stderr: 'Failed to connect to bus: No medium found' }) });
    assert.throws(
      () => executePlan(plan, { runner }, { dryRun: false }),
      (err: unknown) => {
        assert.ok(err instanceof P2pdError);
        assert.equal(err.code, 'SERVICE_INSTALL_FAILED');
        assert.deepEqual(err.details?.argv, ['systemctl', '--user', 'daemon-reload']);
        assert.equal(err.details?.status, 1);
        assert.deepEqual(err.details?.done, [`written ${join(home, '.config/systemd/user/p2pd.service')}`]);
        return true;
      },
    );
    assert.equal(runner.calls.length, 1, 'nothing after the failure');
  });

  test('an optional command may fail', () => {
    const home = join(scratch, `home-${n++}`);
    const plan = install(target({ platform: 'darwin', home, uid: 501 }));
    const runner = new FakeRunner({ launchctl: (argv) => (argv[1] === 'bootout' ? fail() : ok()) });
    const result = executePlan(plan, { runner }, { dryRun: false });
    assert.deepEqual(
      result.steps.map((s) => s.outcome),
      ['written', 'failed', 'ran'],
    );
    assert.equal(result.completed, true);
  });

  test('remove: removed, or absent when there was nothing', () => {
    const home = join(scratch, `home-${n++}`);
    const t = target({ home });
    mkdirSync(join(home, '.config/systemd/user'), { recursive: true });
    writeFileSync(t.unitPath, 'x');
    const runner = new FakeRunner({ systemctl: ok });
    const plan = planUninstall(t, true);
    assert.deepEqual(
      executePlan(plan, { runner }, { dryRun: false }).steps.map((s) => s.outcome),
      ['ran', 'removed', 'ran'],
    );
    assert.equal(existsSync(t.unitPath), false);
    assert.deepEqual(
      executePlan(plan, { runner }, { dryRun: false }).steps.map((s) => s.outcome),
      ['ran', 'absent', 'ran'],
    );
  });
});

describe('systemd-analyze verify on rendered units', () => {
  const hasAnalyzer = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
  const skip = hasAnalyzer ? false : 'systemd-analyze is not installed: the rendered units were not verified by systemd';

  function verify(unitText: string, user: boolean): void {
    const dir = mkdtempSync(join(scratch, 'verify-'));
    const file = join(dir, 'p2pd.service');
    writeFileSync(file, unitText);
    const args = user ? ['--user', 'verify', file] : ['verify', file];
    const env = user ? { ...process.env, XDG_RUNTIME_DIR: dir } : process.env;
    const res = spawnSync('systemd-analyze', args, { encoding: 'utf8', env, timeout: 30_000 });
    const complaints = `${res.stdout}${res.stderr}`.split('\n').filter((line) => line.includes('p2pd.service'));
    assert.deepEqual(complaints, [], `systemd-analyze ${args.join(' ')}`);
    assert.equal(res.status, 0, res.stderr);
  }

  test('a user unit whose node, main.js and config paths hold spaces, % and $', { skip }, () => {
    // verify checks that the executable exists: a node reached through a path that needs quoting.
    const odd = join(scratch, 'odd dir 100%');
    mkdirSync(odd, { recursive: true });
    symlinkSync(process.execPath, join(odd, 'no de'));
    const plan = install(target(), {
      execPath: join(odd, 'no de'),
      mainScript: join(odd, 'main $HOME.js'),
      configFile: join(odd, 'c.json'),
    });
    verify(writes(plan)[0]!.content, true);
  });

  test('a system unit with extra ReadWritePaths', { skip }, () => {
    const plan = install(target({ scope: 'system' }), { execPath: process.execPath, paths: { ...systemPaths, inbox: '/srv/p2pd in%box' } });
    verify(writes(plan)[0]!.content, false);
  });
});
