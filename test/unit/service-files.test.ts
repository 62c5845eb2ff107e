import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';

const dir = fileURLToPath(new URL('../../../systemd/', import.meta.url));
const userUnit = join(dir, 'p2pd.service');
const systemUnit = join(dir, 'p2pd-system.service');
const plist = join(dir, 'io.p2pd.daemon.plist');
const systemConfig = join(dir, 'config.system.json');

/** Directive → its values, in order (a key may be given several times), from every section. */
function parseUnit(file: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `${basename(file)}: not a directive: ${line}`);
    const key = line.slice(0, eq).trim();
    directives.set(key, [...(directives.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return directives;
}

function only(unit: Map<string, string[]>, key: string): string | undefined {
  const values = unit.get(key);
  return values === undefined ? undefined : values.at(-1);
}

function words(unit: Map<string, string[]>, key: string): string[] {
  return (unit.get(key) ?? []).flatMap((value) => value.split(/\s+/)).filter((word) => word !== '');
}

const common: [string, string][] = [
  ['Restart', 'on-failure'],
  ['KillSignal', 'SIGTERM'],
  ['TimeoutStopSec', '30'],
  ['NoNewPrivileges', 'yes'],
  ['PrivateTmp', 'yes'],
  ['LockPersonality', 'yes'],
  ['RestrictRealtime', 'yes'],
  ['SystemCallArchitectures', 'native'],
];

describe('systemd user unit', () => {
  const unit = parseUnit(userUnit);

  test('has the required directives', () => {
    for (const [key, value] of common) assert.equal(only(unit, key), value, key);
    assert.equal(only(unit, 'ExecStart'), '/usr/bin/env p2pd daemon');
    assert.ok(only(unit, 'RestartSec') !== undefined, 'RestartSec');
    assert.equal(only(unit, 'WantedBy'), 'default.target');
    assert.deepEqual(words(unit, 'RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  });

  test('uses no setting that a user manager cannot apply', () => {
    for (const key of ['User', 'Group', 'CapabilityBoundingSet', 'AmbientCapabilities', 'ProtectSystem', 'ProtectKernelModules']) {
      assert.equal(unit.get(key), undefined, key);
    }
  });
});

describe('systemd system unit', () => {
  const unit = parseUnit(systemUnit);

  test('has the required directives', () => {
    for (const [key, value] of common) assert.equal(only(unit, key), value, key);
    const required: [string, string][] = [
      ['User', 'p2pd'],
      ['Group', 'p2pd'],
      ['ExecStart', '/usr/bin/env p2pd daemon --config /etc/p2pd/config.json'],
      ['StateDirectory', 'p2pd'],
      ['ConfigurationDirectory', 'p2pd'],
      ['RuntimeDirectory', 'p2pd'],
      ['RuntimeDirectoryMode', '0700'],
      ['ProtectSystem', 'strict'],
      ['PrivateDevices', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectKernelModules', 'yes'],
      ['ProtectKernelLogs', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['ProtectClock', 'yes'],
      ['ProtectHostname', 'yes'],
      ['RestrictNamespaces', 'yes'],
      ['RestrictSUIDSGID', 'yes'],
      ['MemoryDenyWriteExecute', 'no'],
      ['CapabilityBoundingSet', ''],
      ['AmbientCapabilities', ''],
      ['UMask', '0077'],
      ['WantedBy', 'multi-user.target'],
      ['After', 'network-online.target'],
    ];
    for (const [key, value] of required) assert.equal(only(unit, key), value, key);
    assert.ok(['yes', 'read-only'].includes(only(unit, 'ProtectHome') ?? ''), 'ProtectHome');
    assert.ok(words(unit, 'ReadWritePaths').includes('/var/lib/p2pd'), 'ReadWritePaths=/var/lib/p2pd');
    assert.deepEqual(words(unit, 'RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  });

  test('config.system.json is valid and writes only where the unit allows', () => {
    const { config } = loadConfig({ file: systemConfig, env: {}, home: '/var/lib/p2pd', hostname: 'server', cwd: '/' });
    const runtimeDir = posix.join('/run', only(unit, 'RuntimeDirectory') ?? '(none)');
    assert.equal(posix.dirname(config.controlSocket), runtimeDir, 'controlSocket must be in RuntimeDirectory=');
    const writable = [...words(unit, 'ReadWritePaths'), posix.join('/var/lib', only(unit, 'StateDirectory') ?? '(none)')];
    for (const path of [config.inbox, config.outbox, config.stateDir]) {
      assert.ok(
        writable.some((root) => path === root || path.startsWith(`${root}/`)),
        `${path} is not under a writable directory of the unit (${writable.join(', ')})`,
      );
    }
  });
});

describe('systemd-analyze verify', () => {
  const hasAnalyzer = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
  const skip = hasAnalyzer ? false : 'systemd-analyze is not installed: the units were not verified by systemd';

  // verify exits 0 even for unknown keys or bad values, so any line about our file is a failure.
  function verify(file: string, user: boolean): void {
    const runtime = mkdtempSync(join(tmpdir(), 'p2pd-verify-'));
    try {
      const args = user ? ['--user', 'verify', file] : ['verify', file];
      // A user manager needs XDG_RUNTIME_DIR even to verify; a test machine may not have one.
      const env = user ? { ...process.env, XDG_RUNTIME_DIR: runtime } : process.env;
      const res = spawnSync('systemd-analyze', args, { encoding: 'utf8', env, timeout: 30_000 });
      const complaints = `${res.stdout}${res.stderr}`.split('\n').filter((line) => line.includes(basename(file)));
      assert.deepEqual(complaints, [], `systemd-analyze ${args.join(' ')}`);
      assert.equal(res.status, 0, `systemd-analyze ${args.join(' ')} exited ${res.status}: ${res.stderr}`);
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  }

  test('the system unit', { skip }, () => verify(systemUnit, false));
  test('the user unit', { skip }, () => verify(userUnit, true));
});

describe('launchd plist', () => {
  const text = readFileSync(plist, 'utf8');

  test('is well-formed XML', () => {
    assertWellFormed(text);
  });

  test('has the Label matching its file name, and the required keys', () => {
    const label = /<key>Label<\/key>\s*<string>([^<]+)<\/string>/.exec(text)?.[1];
    assert.equal(label, 'io.p2pd.daemon');
    assert.equal(basename(plist), `${label}.plist`);
    assert.match(text, /<key>ProgramArguments<\/key>\s*<array>\s*<string>[^<]*\/p2pd<\/string>\s*<string>daemon<\/string>\s*<\/array>/);
    assert.match(text, /<key>RunAtLoad<\/key>\s*<true\/>/);
    assert.match(text, /<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>\s*<\/dict>/);
    assert.match(text, /<key>StandardOutPath<\/key>\s*<string>\/[^<]*\/Library\/Logs\/p2pd\.log<\/string>/);
    assert.match(text, /<key>StandardErrorPath<\/key>\s*<string>\/[^<]*\/Library\/Logs\/p2pd\.log<\/string>/);
    assert.doesNotMatch(text, /<string>~/, 'launchd does not expand ~');
  });
});

/**
 * A small well-formedness check, enough for a plist: one prolog, balanced and properly nested
 * elements, one root, no stray "<" or unescaped "&" in text. Node has no XML parser built in.
 */
function assertWellFormed(xml: string): void {
  let rest = xml.replace(/^<\?xml[^?]*\?>/, '');
  assert.ok(rest.length < xml.length, 'missing <?xml ...?> declaration');
  rest = rest.replace(/<!--[\s\S]*?-->/g, (comment) => {
    assert.ok(!comment.slice(4, -3).includes('--'), `"--" inside a comment: ${comment.slice(0, 40)}`);
    return '';
  });
  rest = rest.replace(/<!DOCTYPE[^>]*>/, '');
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*"[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let match = tag.exec(rest); match !== null; match = tag.exec(rest)) {
    checkText(rest.slice(last, match.index), stack.length === 0);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = match as unknown as [string, string, string, string, string];
    if (stack.length === 0 && closing === '') roots++;
    if (closing === '/') assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (selfClosing === '') stack.push(name);
  }
  checkText(rest.slice(last), true);
  assert.deepEqual(stack, [], 'elements left open');
  assert.equal(roots, 1, 'exactly one root element');

  function checkText(between: string, outside: boolean): void {
    assert.ok(!between.includes('<'), `malformed markup near: ${between.trim().slice(0, 40)}`);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(between), `unescaped & near: ${between.trim().slice(0, 40)}`);
    if (outside) assert.equal(between.trim(), '', `text outside the root element: ${between.trim().slice(0, 40)}`);
  }
}
