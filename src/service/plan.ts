/**
 * What `p2pd service install | uninstall | status` would do, decided without touching anything:
 * given the platform, the scope, the user and the paths involved, a Plan lists the files to write
 * or remove and the commands to run (argv arrays, never shell strings), in order, with notes for
 * the person installing. execute.ts carries a plan out.
 */
import { posix } from 'node:path';
import { P2pdError } from '../errors.js';
import { xdgDir } from '../config/defaults.js';
import { renderPlist, renderUnit } from './render.js';
import { shellLine } from './quote.js';

export type ServiceScope = 'user' | 'system';
export type ServiceManager = 'systemd' | 'launchd';

export const UNIT_NAME = 'p2pd.service';
export const LAUNCHD_LABEL = 'io.p2pd.daemon';
export const SERVICE_ACCOUNT = 'p2pd';
/** Paths on the real system; files are written under the root prefix (P2PD_SERVICE_ROOT). */
export const SYSTEM_UNIT_PATH = '/etc/systemd/system/p2pd.service';
export const SYSTEM_CONFIG_PATH = '/etc/p2pd/config.json';
export const SYSTEM_HOME = '/var/lib/p2pd';
const SYSTEM_RUNTIME_DIR = '/run/p2pd';

/** The texts of the files in systemd/. */
export interface Templates {
  userUnit: string;
  systemUnit: string;
  systemConfig: string;
  plist: string;
}

export interface TargetInput {
  platform: NodeJS.Platform;
  scope: ServiceScope;
  home: string;
  /** Read for XDG_CONFIG_HOME, XDG_STATE_HOME and P2PD_SERVICE_ROOT. */
  env: NodeJS.ProcessEnv;
  uid: number;
  userName: string;
}

/** Which service manager, which file, for whom. */
export interface ServiceTarget {
  platform: NodeJS.Platform;
  scope: ServiceScope;
  manager: ServiceManager;
  /** Where the unit or plist lives, under `root` for the system scope. */
  unitPath: string;
  /** The root prefix for system paths: "/" unless P2PD_SERVICE_ROOT says otherwise. */
  root: string;
  home: string;
  uid: number;
  userName: string;
  /** XDG_CONFIG_HOME and XDG_STATE_HOME as set (absolute) in the installing environment. */
  xdg: ReadonlyArray<readonly [string, string]>;
}

export function serviceTarget(input: TargetInput): ServiceTarget {
  const root = xdgDir(input.env.P2PD_SERVICE_ROOT) ?? '/';
  const xdg = (['XDG_CONFIG_HOME', 'XDG_STATE_HOME'] as const).flatMap((name) => {
    const value = xdgDir(input.env[name]);
    return value === undefined ? [] : [[name, value] as const];
  });
  const base = { platform: input.platform, scope: input.scope, home: input.home, uid: input.uid, userName: input.userName, root, xdg };
  if (input.platform === 'linux') {
    if (input.scope === 'system') return { ...base, manager: 'systemd', unitPath: underRoot(root, SYSTEM_UNIT_PATH) };
    const configHome = xdgDir(input.env.XDG_CONFIG_HOME) ?? posix.join(input.home, '.config');
    return { ...base, manager: 'systemd', unitPath: posix.join(configHome, 'systemd', 'user', UNIT_NAME) };
  }
  if (input.platform === 'darwin') {
    if (input.scope === 'system') {
      throw new P2pdError('SERVICE_UNSUPPORTED', 'on macOS p2pd installs a launch agent for your user only: run `p2pd service install` without --system');
    }
    return { ...base, manager: 'launchd', unitPath: posix.join(input.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`) };
  }
  throw new P2pdError(
    'SERVICE_UNSUPPORTED',
    `p2pd service knows systemd (Linux) and launchd (macOS), not ${input.platform}: run \`p2pd daemon\` under your service manager`,
    { details: { platform: input.platform } },
  );
}

/** A path of the real system, under the root prefix. */
export function underRoot(root: string, path: string): string {
  return root === '/' ? path : posix.join(root, path);
}

export interface WriteStep {
  action: 'write';
  path: string;
  content: string;
  mode: number;
  /** Write only when no file is there (a config the admin may have edited). */
  ifMissing: boolean;
}

export interface RemoveStep {
  action: 'remove';
  path: string;
}

export interface RunStep {
  action: 'run';
  argv: string[];
  /** What the command is for, in a few words. */
  why: string;
  /** Run only when this probe command fails (exits non-zero). */
  unless?: string[];
  /** A failure is reported but does not stop the plan. */
  optional: boolean;
  /** Said to the person when the command fails. */
  hint?: string;
}

export type Step = WriteStep | RemoveStep | RunStep;

export interface Plan {
  action: 'install' | 'uninstall';
  target: ServiceTarget;
  steps: Step[];
  notes: string[];
}

/** The paths of the effective config: they must stay writable for the service. */
export interface DaemonPaths {
  inbox: string;
  outbox: string;
  stateDir: string;
  controlSocket: string;
}

export interface InstallInput {
  target: ServiceTarget;
  templates: Templates;
  /** Absolute path of node. */
  execPath: string;
  /** Absolute path of dist/src/main.js. */
  mainScript: string;
  /** The config file the daemon must be given (--config or P2PD_CONFIG), absolute; null: its default search. */
  configFile: string | null;
  /** The effective config's paths (for the system scope: of /etc/p2pd/config.json as it will be). */
  paths: DaemonPaths;
  /** The unit file's content now, or null when there is none. */
  existingUnit: string | null;
}

const HEADER = (template: string, again: string): string[] => [
  `Written by \`p2pd service install\` from systemd/${template}; running it again rewrites this file.`,
  `Change settings in a drop-in instead (${again}), and see systemd/README.md for each line.`,
];

export function planInstall(input: InstallInput): Plan {
  const { target } = input;
  if (!posix.isAbsolute(input.execPath) || !posix.isAbsolute(input.mainScript)) {
    throw new P2pdError('INTERNAL', `node (${input.execPath}) and main.js (${input.mainScript}) must be absolute paths`);
  }
  if (target.manager === 'launchd') return planLaunchdInstall(input);
  return target.scope === 'system' ? planSystemInstall(input) : planUserInstall(input);
}

function planUserInstall(input: InstallInput): Plan {
  const { target } = input;
  const systemctl = ['systemctl', '--user'];
  const content = renderUnit(input.templates.userUnit, {
    header: HEADER('p2pd.service', 'systemctl --user edit p2pd'),
    execStart: daemonArgv(input, input.configFile),
    environment: target.xdg,
  });
  const hint =
    'systemctl --user needs the user manager of your login session: log in directly (not through su or sudo), ' +
    `or enable lingering (loginctl enable-linger ${target.userName}) and set XDG_RUNTIME_DIR=/run/user/${target.uid}`;
  const notes = [
    'Logs: journalctl --user -u p2pd -f',
    'Status: p2pd service status (or systemctl --user status p2pd)',
    `A user service runs while you are logged in. On a headless machine run \`loginctl enable-linger ${target.userName}\` so p2pd runs without a login session.`,
    ...commonNotes(input, content, 'systemctl --user restart p2pd'),
    ...tmpNotes(input.paths, 'systemctl --user edit p2pd'),
  ];
  if (target.uid === 0)
    notes.push('You are root: this is a user service of root. For a service under a dedicated account, use `p2pd service install --system`.');
  return {
    action: 'install',
    target,
    steps: [
      { action: 'write', path: target.unitPath, content, mode: 0o644, ifMissing: false },
      { action: 'run', argv: [...systemctl, 'daemon-reload'], why: 'make systemd read the unit', optional: false, hint },
      { action: 'run', argv: [...systemctl, 'enable', '--now', UNIT_NAME], why: 'start p2pd now and at every login', optional: false, hint },
    ],
    notes,
  };
}

function planSystemInstall(input: InstallInput): Plan {
  const { target } = input;
  const notes: string[] = [
    'Logs: journalctl -u p2pd -f',
    'Status: p2pd service status --system (or systemctl status p2pd)',
    `The daemon runs as the account ${SERVICE_ACCOUNT}; files are under ${SYSTEM_HOME}. ${SYSTEM_CONFIG_PATH} is written only when missing: an existing one is kept.`,
    `Use the CLI as the service's account: sudo -u ${SERVICE_ACCOUNT} p2pd status --config ${SYSTEM_CONFIG_PATH}`,
  ];
  for (const [what, path] of [
    ['node', input.execPath],
    ['p2pd', input.mainScript],
  ] as const) {
    if (hiddenByProtectHome(path)) {
      notes.push(
        `${what} is at ${path}, which the service cannot see (ProtectHome=yes) and the ${SERVICE_ACCOUNT} account may not read: ` +
          'install node and p2pd system-wide (e.g. under /usr/local) and run the command again.',
      );
    }
  }
  const writable = extraWritablePaths(input.paths, notes);
  const unit = renderUnit(input.templates.systemUnit, {
    header: HEADER('p2pd-system.service', 'systemctl edit p2pd'),
    execStart: daemonArgv(input, SYSTEM_CONFIG_PATH),
    readWritePaths: writable,
  });
  notes.push(...commonNotes(input, unit, 'systemctl restart p2pd'), ...tmpNotes(input.paths, 'systemctl edit p2pd'));
  return {
    action: 'install',
    target,
    steps: [
      { action: 'write', path: target.unitPath, content: unit, mode: 0o644, ifMissing: false },
      { action: 'write', path: underRoot(target.root, SYSTEM_CONFIG_PATH), content: input.templates.systemConfig, mode: 0o644, ifMissing: true },
      {
        action: 'run',
        argv: ['useradd', '--system', '--home-dir', SYSTEM_HOME, '--shell', '/usr/sbin/nologin', '--user-group', SERVICE_ACCOUNT],
        why: `create the system account ${SERVICE_ACCOUNT}`,
        unless: ['getent', 'passwd', SERVICE_ACCOUNT],
        optional: false,
      },
      { action: 'run', argv: ['systemctl', 'daemon-reload'], why: 'make systemd read the unit', optional: false },
      { action: 'run', argv: ['systemctl', 'enable', '--now', UNIT_NAME], why: 'start p2pd now and at every boot', optional: false },
    ],
    notes,
  };
}

function planLaunchdInstall(input: InstallInput): Plan {
  const { target } = input;
  const logPath = posix.join(target.home, 'Library', 'Logs', 'p2pd.log');
  const content = renderPlist(input.templates.plist, {
    header: 'Written by `p2pd service install` from systemd/io.p2pd.daemon.plist; running it again rewrites this file.',
    programArguments: daemonArgv(input, input.configFile),
    logPath,
    environment: target.xdg,
  });
  const domain = `gui/${target.uid}`;
  return {
    action: 'install',
    target,
    steps: [
      { action: 'write', path: target.unitPath, content, mode: 0o644, ifMissing: false },
      // bootstrap fails for a loaded agent; unloading first makes install also a reinstall.
      { action: 'run', argv: ['launchctl', 'bootout', `${domain}/${LAUNCHD_LABEL}`], why: 'unload an earlier version, if one is loaded', optional: true },
      { action: 'run', argv: ['launchctl', 'bootstrap', domain, target.unitPath], why: 'load and start p2pd, now and at every login', optional: false },
    ],
    notes: [
      `Logs: tail -f ${logPath} (or open it in Console.app)`,
      `Status: p2pd service status (or launchctl print ${domain}/${LAUNCHD_LABEL})`,
      'macOS may ask whether node may accept incoming network connections: allow it, or peers cannot send to you.',
      ...commonNotes(input, content, null),
    ],
  };
}

/**
 * V8's young generation kept at 1 MiB per semi-space: it would grow to 16 MiB for garbage that a
 * small one frees as fast (docs/PERFORMANCE.md#memory). Only a flag at start holds it: the daemon's
 * own setting (main.ts) gives way once a worker thread starts. npm start and the tests pass it too.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/** node [flags] main.js daemon [--config file]: absolute, so no PATH is needed to start it. */
function daemonArgv(input: InstallInput, configFile: string | null): string[] {
  return [input.execPath, ...DAEMON_NODE_FLAGS, input.mainScript, 'daemon', ...(configFile === null ? [] : ['--config', configFile])];
}

function commonNotes(input: InstallInput, content: string, restart: string | null): string[] {
  const again = `p2pd service install${input.target.scope === 'system' ? ' --system' : ''}`;
  const notes = [`The service runs ${input.execPath}: after moving or upgrading node (nvm, a new version), run \`${again}\` again.`];
  if (input.configFile !== null && input.target.scope === 'user') notes.push(`The daemon reads the config ${input.configFile}.`);
  if (restart !== null && input.existingUnit !== null && input.existingUnit !== content) {
    notes.push(`The unit changed; a p2pd that was already running keeps the old settings until \`${restart}\`.`);
  }
  return notes;
}

/** PrivateTmp=yes gives the service its own empty /tmp and /var/tmp: paths there cannot work. */
function tmpNotes(paths: DaemonPaths, edit: string): string[] {
  const inTmp = namedPaths(paths).filter(([, path]) => isUnder(path, '/tmp') || isUnder(path, '/var/tmp'));
  if (inTmp.length === 0) return [];
  return [
    `${inTmp.map(([key, path]) => `${key} ${path}`).join(', ')}: under /tmp or /var/tmp, which the service sees as its own empty directory ` +
      '(PrivateTmp=yes), so what it writes there is invisible outside it and the CLI cannot reach a control socket there. ' +
      `Choose directories outside /tmp, or turn PrivateTmp off (${edit}).`,
  ];
}

function namedPaths(paths: DaemonPaths): Array<readonly [string, string]> {
  return [
    ['inbox', paths.inbox],
    ['outbox', paths.outbox],
    ['stateDir', paths.stateDir],
    ['controlSocket', paths.controlSocket],
  ];
}

/**
 * ReadWritePaths= entries for the system unit: every configured directory outside what the unit
 * already makes writable. Each is prefixed with "-" so that a missing directory does not stop the
 * service from starting (the daemon then reports the directory itself).
 */
function extraWritablePaths(paths: DaemonPaths, notes: string[]): string[] {
  const out: string[] = [];
  for (const [key, path] of namedPaths(paths)) {
    const dir = key === 'controlSocket' ? posix.dirname(path) : path;
    if (isUnder(dir, SYSTEM_HOME) || isUnder(dir, SYSTEM_RUNTIME_DIR) || out.includes(`-${dir}`)) continue;
    if (isUnder(dir, '/tmp') || isUnder(dir, '/var/tmp')) continue; // tmpNotes explains why that cannot work
    if (hiddenByProtectHome(dir)) {
      notes.push(`${key} is ${path}, inside /home, /root or /run/user, which the service cannot see (ProtectHome=yes): choose a directory outside them.`);
      continue;
    }
    if (/["\\\x00-\x1f\x7f]/.test(dir)) {
      notes.push(
        `${key} is ${JSON.stringify(path)}: its quotes, backslashes or control characters cannot go in ReadWritePaths=; add it in a drop-in (systemctl edit p2pd).`,
      );
      continue;
    }
    out.push(`-${dir}`);
    notes.push(
      `${key} is ${path}, outside ${SYSTEM_HOME}: the unit lets the service write there (ReadWritePaths=). ` +
        `Create it for the service's account: install -d -o ${SERVICE_ACCOUNT} -g ${SERVICE_ACCOUNT} -m 0700 ${shellLine([dir])}`,
    );
  }
  return out;
}

function hiddenByProtectHome(path: string): boolean {
  return isUnder(path, '/home') || isUnder(path, '/root') || isUnder(path, '/run/user');
}

export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Disable and stop, remove the unit, reload; config and data stay. `installed`: the unit file exists. */
export function planUninstall(target: ServiceTarget, installed: boolean): Plan {
  const where = target.manager === 'launchd' ? 'launch agent' : target.scope === 'system' ? 'system service' : 'user service';
  if (!installed) return { action: 'uninstall', target, steps: [], notes: [`p2pd is not installed as a ${where}: there is no ${target.unitPath}.`] };
  if (target.manager === 'launchd') {
    return {
      action: 'uninstall',
      target,
      steps: [
        { action: 'run', argv: ['launchctl', 'bootout', `gui/${target.uid}`, target.unitPath], why: 'stop and unload p2pd', optional: true },
        { action: 'remove', path: target.unitPath },
      ],
      notes: [`Kept: your config, inbox, outbox, state (identity, trusted peers) and the log ${posix.join(target.home, 'Library', 'Logs', 'p2pd.log')}.`],
    };
  }
  const systemctl = target.scope === 'system' ? ['systemctl'] : ['systemctl', '--user'];
  const notes =
    target.scope === 'system'
      ? [
          `Kept: ${SYSTEM_CONFIG_PATH}, ${SYSTEM_HOME} (inbox, outbox, state) and the account ${SERVICE_ACCOUNT}. ` +
            `Remove them yourself if they are no longer wanted: userdel ${SERVICE_ACCOUNT}; rm -r ${SYSTEM_HOME} /etc/p2pd`,
        ]
      : ['Kept: your config, inbox, outbox and state (identity, trusted peers); only the unit is removed.'];
  return {
    action: 'uninstall',
    target,
    steps: [
      { action: 'run', argv: [...systemctl, 'disable', '--now', UNIT_NAME], why: 'stop p2pd and stop starting it', optional: false },
      { action: 'remove', path: target.unitPath },
      { action: 'run', argv: [...systemctl, 'daemon-reload'], why: 'make systemd forget the unit', optional: false },
    ],
    notes,
  };
}

/** The commands whose exit statuses tell whether the service is enabled and running. */
export function statusCommands(target: ServiceTarget): { enabled: string[]; active: string[] } {
  if (target.manager === 'launchd') {
    const print = ['launchctl', 'print', `gui/${target.uid}/${LAUNCHD_LABEL}`];
    return { enabled: print, active: print };
  }
  const systemctl = target.scope === 'system' ? ['systemctl'] : ['systemctl', '--user'];
  return { enabled: [...systemctl, 'is-enabled', UNIT_NAME], active: [...systemctl, 'is-active', UNIT_NAME] };
}
