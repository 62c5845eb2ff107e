import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { P2pdError, type ErrorCode } from '../../src/errors.js';
import { loadConfig, type Config, type LoadConfigOptions } from '../../src/config/index.js';
import { defaultConfig, nameFromHostname } from '../../src/config/defaults.js';
import { configSchema, type SchemaNode } from '../../src/config/schema.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'p2pd-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory that stands for $HOME: no config file unless a test writes one. */
function freshHome(): string {
  const home = join(scratch, `home-${counter++}`);
  mkdirSync(home, { recursive: true });
  return home;
}

function options(home: string, extra: Partial<LoadConfigOptions> = {}): LoadConfigOptions {
  return { env: {}, home, hostname: 'laptop.lan', cwd: home, ...extra };
}

/** Writes `content` (JSON-encoded unless already a string) to a new file and returns its path. */
function writeConfig(content: unknown, name = 'config.json'): string {
  const dir = join(scratch, `conf-${counter++}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function loadFile(content: unknown): Config {
  const home = freshHome();
  return loadConfig(options(home, { file: writeConfig(content) })).config;
}

function failure(fn: () => unknown): P2pdError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof P2pdError, `expected a P2pdError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

function assertFails(code: ErrorCode, fn: () => unknown): P2pdError {
  const err = failure(fn);
  assert.equal(err.code, code, err.message);
  assert.equal(err.exitStatus, 78);
  return err;
}

/** Every key of the schema as a dotted path: "name", ..., "limits", "limits.maxFileSize". */
function schemaKeys(node: SchemaNode, prefix = ''): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, inner]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return [path, ...schemaKeys(inner, path)];
  });
}

function hasKey(value: unknown, dotted: string): boolean {
  let here = value;
  for (const part of dotted.split('.')) {
    if (typeof here !== 'object' || here === null || !Object.hasOwn(here, part)) return false;
    here = (here as Record<string, unknown>)[part];
  }
  return true;
}

describe('defaults', () => {
  test('with no file, every key has its default and nothing else is read', () => {
    const home = freshHome();
    const loaded = loadConfig(options(home));
    assert.equal(loaded.file, null);
    assert.equal(loaded.portExplicit, false);
    assert.deepEqual(loaded.config, {
      name: 'laptop',
      port: 45454,
      inbox: join(home, 'p2pd', 'inbox'),
      outbox: join(home, 'p2pd', 'outbox'),
      stateDir: join(home, '.local', 'state', 'p2pd'),
      controlSocket: join(home, '.local', 'state', 'p2pd', 'control.sock'),
      accept: 'ask',
      acceptOverrides: {},
      askTimeoutSeconds: 300,
      inboxPerPeer: false,
      destinations: [],
      interfaces: [],
      logLevel: 'info',
      discovery: { enabled: true, refreshSeconds: 30, expireSeconds: 100 },
      localsend: { enabled: false, port: 53317, pin: '', allowHttp: false },
      limits: {
        maxFileSize: 0,
        maxOfferBytes: 0,
        maxOfferFiles: 250_000,
        maxConcurrentIncoming: 8,
        maxConcurrentOutgoing: 4,
        handshakeTimeoutSeconds: 10,
        idleTimeoutSeconds: 60,
        offerTimeoutSeconds: 30,
        minFreeSpace: 100_000_000,
        connectionsPerMinute: 120,
      },
      historySize: 200,
      historyMaxAgeDays: 30,
      partialMaxAgeHours: 24,
      onDiskFull: 'keep',
      delivery: { afterSend: 'move', stableSeconds: 3, giveUpHours: 0 },
      dashboard: { enabled: true, port: 45455 },
      retry: { minDelaySeconds: 2, maxDelaySeconds: 60, giveUpMinutes: 1440 },
      schedules: { outboxRescan: '*/30 * * * * *', retry: '* * * * *', cleanupPartials: '15 * * * *', pruneHistory: '30 3 * * *' },
      onReceive: [],
      onReceiveTimeoutSeconds: 300,
      shutdownGraceSeconds: 20,
    } satisfies Config);
  });

  test('the result is frozen all the way down', () => {
    const loaded = loadConfig(options(freshHome()));
    for (const value of [loaded, loaded.config, loaded.config.limits, loaded.config.discovery, loaded.config.interfaces]) {
      assert.ok(Object.isFrozen(value));
    }
    assert.throws(() => {
      (loaded.config.limits as { maxFileSize: number }).maxFileSize = 1;
    }, TypeError);
  });

  test('process.env is not consulted: only the env argument counts', () => {
    const saved = process.env.P2PD_CONFIG;
    process.env.P2PD_CONFIG = join(scratch, 'does-not-exist.json');
    try {
      assert.equal(loadConfig(options(freshHome())).file, null);
    } finally {
      if (saved === undefined) delete process.env.P2PD_CONFIG;
      else process.env.P2PD_CONFIG = saved;
    }
  });

  test('the name is the host name\'s first label, cleaned, or "p2pd"', () => {
    const cases: [string, string][] = [
      ['laptop.lan', 'laptop'],
      ['Büro-PC.fritz.box', 'Büro-PC'],
      ['plain', 'plain'],
      ['', 'p2pd'],
      ['.local', 'p2pd'],
      ['a/b\u0007c\u009b', 'abc'],
      ['\u0001\u0002', 'p2pd'],
    ];
    for (const [hostname, name] of cases) assert.equal(nameFromHostname(hostname), name, JSON.stringify(hostname));
    assert.equal(nameFromHostname('x'.repeat(80)), 'x'.repeat(63));
    assert.ok(Buffer.byteLength(nameFromHostname('é'.repeat(40))) <= 63);
    // Whatever the host name, the default config must pass its own schema.
    for (const hostname of ['x'.repeat(80), 'é'.repeat(40), '\u0000', 'a b.c']) {
      assert.doesNotThrow(() => loadConfig(options(freshHome(), { hostname })));
    }
  });
});

describe('where the file is found', () => {
  test('XDG_CONFIG_HOME and XDG_STATE_HOME are honoured', () => {
    const home = freshHome();
    const configHome = join(scratch, `xdg-config-${counter++}`);
    mkdirSync(join(configHome, 'p2pd'), { recursive: true });
    writeFileSync(join(configHome, 'p2pd', 'config.json'), JSON.stringify({ port: 4000 }));
    const stateHome = join(scratch, 'xdg-state');
    const loaded = loadConfig(options(home, { env: { XDG_CONFIG_HOME: configHome, XDG_STATE_HOME: stateHome } }));
    assert.equal(loaded.file, join(configHome, 'p2pd', 'config.json'));
    assert.equal(loaded.config.port, 4000);
    assert.equal(loaded.portExplicit, true);
    assert.equal(loaded.config.stateDir, join(stateHome, 'p2pd'));
    assert.equal(loaded.config.controlSocket, join(stateHome, 'p2pd', 'control.sock'));
  });

  test('without XDG variables, ~/.config/p2pd/config.json is read if it exists', () => {
    const home = freshHome();
    mkdirSync(join(home, '.config', 'p2pd'), { recursive: true });
    writeFileSync(join(home, '.config', 'p2pd', 'config.json'), JSON.stringify({ historySize: 5 }));
    const loaded = loadConfig(options(home));
    assert.equal(loaded.file, join(home, '.config', 'p2pd', 'config.json'));
    assert.equal(loaded.config.historySize, 5);
  });

  test('relative or empty XDG variables are ignored, as the XDG spec says', () => {
    const home = freshHome();
    const loaded = loadConfig(options(home, { env: { XDG_CONFIG_HOME: 'relative', XDG_STATE_HOME: '' } }));
    assert.equal(loaded.file, null);
    assert.equal(loaded.config.stateDir, join(home, '.local', 'state', 'p2pd'));
  });

  test('a file where ~/.config should be a directory means no config file', () => {
    const home = freshHome();
    writeFileSync(join(home, '.config'), 'not a directory');
    assert.equal(loadConfig(options(home)).file, null);
  });

  test('P2PD_CONFIG names the file; --config wins over it', () => {
    const home = freshHome();
    const fromEnv = writeConfig({ historySize: 1 });
    const fromFlag = writeConfig({ historySize: 2 });
    assert.equal(loadConfig(options(home, { env: { P2PD_CONFIG: fromEnv } })).config.historySize, 1);
    const both = loadConfig(options(home, { env: { P2PD_CONFIG: fromEnv }, file: fromFlag }));
    assert.equal(both.file, fromFlag);
    assert.equal(both.config.historySize, 2);
  });

  test('a relative --config is relative to cwd', () => {
    const file = writeConfig({ historySize: 3 });
    const loaded = loadConfig(options(freshHome(), { file: 'config.json', cwd: dirname(file) }));
    assert.equal(loaded.file, file);
    assert.equal(loaded.config.historySize, 3);
  });
});

describe('merging the file with the defaults', () => {
  test('file values override; objects merge key by key; lists replace', () => {
    const config = loadFile({ name: 'desk', limits: { maxFileSize: 1000 }, discovery: { enabled: false }, interfaces: ['eth0'] });
    assert.equal(config.name, 'desk');
    assert.deepEqual(config.limits, { ...defaultConfig({}, '/h', 'x').limits, maxFileSize: 1000 });
    assert.deepEqual(config.discovery, { enabled: false, refreshSeconds: 30, expireSeconds: 100 });
    assert.deepEqual(config.interfaces, ['eth0']);
    assert.equal(config.port, 45454);
  });

  test('"//" comment keys are accepted at every level and dropped', () => {
    const config = loadFile({ '//': 'top', '// port': 'why', port: 1, limits: { '//': 'nested', maxOfferFiles: 2 } });
    assert.ok(!Object.keys(config).some((key) => key.startsWith('//')));
    assert.ok(!Object.keys(config.limits).some((key) => key.startsWith('//')));
    assert.equal(config.limits.maxOfferFiles, 2);
  });

  test('portExplicit tells whether the file set port', () => {
    const home = freshHome();
    assert.equal(loadConfig(options(home, { file: writeConfig({ port: 45454 }) })).portExplicit, true);
    assert.equal(loadConfig(options(home, { file: writeConfig({ name: 'x' }) })).portExplicit, false);
  });

  test('"~" expands to home; relative paths resolve against the file\'s directory, not cwd', () => {
    const home = freshHome();
    const file = writeConfig({ inbox: '~', outbox: '~/out/box', stateDir: 'state', controlSocket: '../sock' });
    const { config } = loadConfig(options(home, { file, cwd: '/somewhere/else' }));
    assert.equal(config.inbox, home);
    assert.equal(config.outbox, join(home, 'out', 'box'));
    assert.equal(config.stateDir, join(dirname(file), 'state'));
    assert.equal(config.controlSocket, join(dirname(dirname(file)), 'sock'));
  });

  test('controlSocket follows a stateDir set in the file unless it is set too', () => {
    const onlyState = loadFile({ stateDir: '/srv/p2pd' });
    assert.equal(onlyState.controlSocket, '/srv/p2pd/control.sock');
    const both = loadFile({ stateDir: '/srv/p2pd', controlSocket: '/run/p2pd/control.sock' });
    assert.equal(both.controlSocket, '/run/p2pd/control.sock');
  });

  test('values on the edges of their ranges are accepted', () => {
    const edges: unknown[] = [
      { port: 0 },
      { port: 65535 },
      { name: 'x'.repeat(63) },
      { name: 'Anns Büro (2nd floor) #1' },
      { discovery: { refreshSeconds: 1, expireSeconds: 3 } },
      { discovery: { refreshSeconds: 3600, expireSeconds: 86400 } },
      { limits: { maxOfferFiles: 10_000_000, maxConcurrentIncoming: 256, maxConcurrentOutgoing: 1 } },
      { limits: { handshakeTimeoutSeconds: 600, idleTimeoutSeconds: 5, maxFileSize: Number.MAX_SAFE_INTEGER } },
      { historySize: 0 },
      { historySize: 100_000 },
      { accept: 'all', logLevel: 'silent', interfaces: ['lo', 'eth0'] },
    ];
    for (const edge of edges) assert.doesNotThrow(() => loadFile(edge), JSON.stringify(edge));
  });
});

describe('bad values', () => {
  test('an unknown key is refused and named, at any level', () => {
    assert.equal(assertFails('CONFIG_INVALID', () => loadFile({ nmae: 'x' })).details?.key, 'nmae');
    const nested = assertFails('CONFIG_INVALID', () => loadFile({ limits: { maxConcurentIncoming: 3 } }));
    assert.equal(nested.details?.key, 'limits.maxConcurentIncoming');
    assert.equal(typeof nested.details?.allowed, 'string');
  });

  const cases: [string, unknown, string][] = [
    ['wrong type: string for integer', { port: '45454' }, 'port'],
    ['wrong type: fraction for integer', { limits: { maxOfferFiles: 1.5 } }, 'limits.maxOfferFiles'],
    ['wrong type: string for boolean', { discovery: { enabled: 'yes' } }, 'discovery.enabled'],
    ['wrong type: string for list', { interfaces: 'eth0' }, 'interfaces'],
    ['wrong type: number for object', { limits: 5 }, 'limits'],
    ['wrong type: null for string', { inbox: null }, 'inbox'],
    ['wrong type: the file is a list', [], ''],
    ['out of range: port too high', { port: 65536 }, 'port'],
    ['out of range: port negative', { port: -1 }, 'port'],
    ['out of range: maxConcurrentIncoming 0', { limits: { maxConcurrentIncoming: 0 } }, 'limits.maxConcurrentIncoming'],
    ['out of range: maxConcurrentOutgoing 257', { limits: { maxConcurrentOutgoing: 257 } }, 'limits.maxConcurrentOutgoing'],
    ['out of range: maxFileSize negative', { limits: { maxFileSize: -1 } }, 'limits.maxFileSize'],
    ['out of range: maxOfferBytes too large to count', { limits: { maxOfferBytes: 1e300 } }, 'limits.maxOfferBytes'],
    ['out of range: maxOfferFiles 0', { limits: { maxOfferFiles: 0 } }, 'limits.maxOfferFiles'],
    ['out of range: handshakeTimeoutSeconds 601', { limits: { handshakeTimeoutSeconds: 601 } }, 'limits.handshakeTimeoutSeconds'],
    ['out of range: idleTimeoutSeconds 4', { limits: { idleTimeoutSeconds: 4 } }, 'limits.idleTimeoutSeconds'],
    ['out of range: refreshSeconds 0', { discovery: { refreshSeconds: 0 } }, 'discovery.refreshSeconds'],
    ['out of range: expireSeconds 2', { discovery: { expireSeconds: 2 } }, 'discovery.expireSeconds'],
    ['out of range: historySize', { historySize: 100_001 }, 'historySize'],
    ['bad enum: accept', { accept: 'everyone' }, 'accept'],
    ['bad enum: logLevel', { logLevel: 'loud' }, 'logLevel'],
    ['bad name: empty', { name: '' }, 'name'],
    ['bad name: 64 characters', { name: 'x'.repeat(64) }, 'name'],
    ['bad name: 32 characters but 64 UTF-8 bytes', { name: 'é'.repeat(32) }, 'name'],
    ['bad name: slash', { name: 'a/b' }, 'name'],
    ['bad name: control character', { name: 'bell\u0007' }, 'name'],
    ['bad name: C1 control character', { name: 'csi\u009b' }, 'name'],
    ['bad path: empty', { stateDir: '' }, 'stateDir'],
    ['bad path: NUL', { outbox: 'a\u0000b' }, 'outbox'],
    ['bad list item: empty interface', { interfaces: ['eth0', ''] }, 'interfaces[1]'],
    ['bad destination: relative', { destinations: ['/srv/media', 'media'] }, 'destinations[1]'],
    ['expireSeconds equal to refreshSeconds', { discovery: { refreshSeconds: 60, expireSeconds: 60 } }, 'discovery.expireSeconds'],
    ['expireSeconds below the default refreshSeconds', { discovery: { expireSeconds: 20 } }, 'discovery.expireSeconds'],
    ['refreshSeconds above the default expireSeconds', { discovery: { refreshSeconds: 200 } }, 'discovery.refreshSeconds'],
  ];
  for (const [title, content, key] of cases) {
    test(`${title} → CONFIG_INVALID naming ${JSON.stringify(key)}`, () => {
      const err = assertFails('CONFIG_INVALID', () => loadFile(content));
      assert.equal(err.details?.key, key);
      assert.equal(typeof err.details?.allowed, 'string');
      assert.notEqual(err.details?.allowed, '');
    });
  }
});

describe('unreadable files', () => {
  test('a missing --config file → CONFIG_UNREADABLE with the path', () => {
    const missing = join(scratch, 'missing.json');
    const err = assertFails('CONFIG_UNREADABLE', () => loadConfig(options(freshHome(), { file: missing })));
    assert.equal(err.details?.file, missing);
  });

  test('a missing P2PD_CONFIG file → CONFIG_UNREADABLE', () => {
    const missing = join(scratch, 'missing-too.json');
    const err = assertFails('CONFIG_UNREADABLE', () => loadConfig(options(freshHome(), { env: { P2PD_CONFIG: missing } })));
    assert.equal(err.details?.file, missing);
  });

  test('a file that is not JSON → CONFIG_UNREADABLE', () => {
    for (const text of ['{"port": 1,}', '', 'port = 1', '{"a": 1', '\uFEFF{"port": }']) {
      const file = writeConfig(text);
      const err = assertFails('CONFIG_UNREADABLE', () => loadConfig(options(freshHome(), { file })));
      assert.equal(err.details?.file, file);
    }
  });

  test('a byte-order mark before valid JSON is tolerated', () => {
    assert.equal(loadFile('\uFEFF{"port": 7}').port, 7);
  });

  test('a directory instead of a file → CONFIG_UNREADABLE', () => {
    assertFails('CONFIG_UNREADABLE', () => loadConfig(options(freshHome(), { file: scratch })));
  });

  test('a broken file at the XDG location is an error, not silently skipped', () => {
    const home = freshHome();
    mkdirSync(join(home, '.config', 'p2pd'), { recursive: true });
    writeFileSync(join(home, '.config', 'p2pd', 'config.json'), '{');
    assertFails('CONFIG_UNREADABLE', () => loadConfig(options(home)));
  });
});

describe('config.example.json and docs/CONFIG.md', () => {
  const keys = schemaKeys(configSchema);
  const exampleFile = join(repoRoot, 'config.example.json');

  test('the schema walk finds the keys (guards the two tests below)', () => {
    assert.ok(keys.includes('name'));
    assert.ok(keys.includes('limits.maxConcurrentIncoming'));
    assert.ok(keys.length >= 22, `only ${keys.length} keys`);
  });

  test('config.example.json validates and holds the defaults', () => {
    const home = freshHome();
    const { config } = loadConfig(options(home, { file: exampleFile }));
    const defaults = defaultConfig({}, home, 'laptop.lan');
    // The name's default depends on the host; the example shows a sample one.
    assert.deepEqual({ ...config, name: defaults.name }, defaults);
  });

  test('config.example.json sets every key of the schema, each with a "//" comment', () => {
    const example = JSON.parse(readFileSync(exampleFile, 'utf8')) as unknown;
    for (const key of keys) {
      assert.ok(hasKey(example, key), `config.example.json lacks ${key}`);
      const parts = key.split('.');
      const comment = [...parts.slice(0, -1), `// ${parts.at(-1)}`].join('.');
      assert.ok(hasKey(example, comment), `config.example.json lacks a "${comment}" comment`);
    }
  });

  test('docs/CONFIG.md documents every key of the schema', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'CONFIG.md'), 'utf8');
    for (const key of keys) assert.ok(doc.includes(`| \`${key}\` |`), `docs/CONFIG.md has no table row for ${key}`);
  });
});

test('an invalid cron expression fails at start with the schedule key', () => {
  for (const bad of ['every minute', '* * * *', '61 * * * *']) {
    assert.throws(
      () => loadFile({ schedules: { retry: bad } }),
      (e: P2pdError) => e.code === 'CONFIG_INVALID' && e.details?.key === 'schedules.retry',
      bad,
    );
  }
  assert.equal(loadFile({ schedules: { retry: '*/2 * * * * *' } }).schedules.retry, '*/2 * * * * *');
});
