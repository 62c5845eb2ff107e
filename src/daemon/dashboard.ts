/**
 * The web dashboard's part of the daemon: the login (one-time tokens and sessions), the
 * authentication hook the dispatcher runs for every call, and the methods only the dashboard
 * needs (the path picker and the settings page). The HTTP server is control/http-transport.ts.
 */
import { homedir } from 'node:os';
import { readdir, lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Authenticate, Dispatcher, MethodHandlers } from '../control/dispatcher.js';
import { HttpTransport } from '../control/http-transport.js';
import type { Logger } from '../log.js';
import { RUNTIME_LIMIT_KEYS } from '../control/methods.js';
import type { UiSessions } from '../control/ui-sessions.js';
import type { BrowseEntryView, SettingsView } from '../control/views.js';
import type { Config, LoadedConfig } from '../config/types.js';
import { P2pdError } from '../errors.js';
import type { DashboardMethod } from './handlers.js';
import { writeSettings } from './settings-file.js';

/** Where `npm run build` puts the client: dist/web, next to dist/src. */
export const DASHBOARD_ASSETS = fileURLToPath(new URL('../../web/', import.meta.url));

/** The dashboard's HTTP transport as the config asks for it; undefined when it is off. */
export function dashboardTransport(deps: { logger: Logger; dispatcher: Dispatcher }, loaded: LoadedConfig): HttpTransport | undefined {
  const config = loaded.config;
  if (!config.dashboard.enabled) return undefined;
  return new HttpTransport(deps, {
    port: config.dashboard.port,
    portExplicit: loaded.dashboardPortExplicit === true,
    assetsDir: DASHBOARD_ASSETS,
    stagingDir: join(config.stateDir, 'dashboard-uploads'),
    // Uploads must not eat the room the inbox keeps free (they usually share a disk).
    staging: { reserveBytes: config.limits.minFreeSpace },
  });
}

/** Most entries a `browse` answer lists. */
const MAX_BROWSE_ENTRIES = 5000;

export const EDITABLE_KEYS = ['accept', 'acceptOverrides', 'askTimeoutSeconds', ...RUNTIME_LIMIT_KEYS.map((k) => `limits.${k}`)];

/**
 * The Unix socket's 0600 permission is its access control; a dashboard call needs a session,
 * except the login itself. Login tokens are handed out on the socket only.
 */
export function dashboardAuthenticate(sessions: UiSessions): Authenticate {
  return ({ method, caller }) => {
    if (caller.transport === 'unix') return;
    if (caller.transport !== 'http') throw new P2pdError('CONTROL_UNAUTHORIZED', `unknown transport ${caller.transport}`);
    if (method === 'ui-login') return;
    if (method === 'ui-token') throw new P2pdError('CONTROL_UNAUTHORIZED', 'login tokens are given out on the control socket only: run `p2pd ui`');
    sessions.check(caller.credentials);
  };
}

export interface DashboardDeps {
  sessions: UiSessions;
  /** The dashboard's address once it listens; null when it is off. */
  origin: () => string | null;
  config: () => Readonly<Config>;
  /** The config file, if the daemon was started with one. */
  configFile: () => string | null;
  /** Loads and checks a config file exactly as at start. */
  loadConfigFile: ((file: string) => LoadedConfig) | undefined;
  /** Applies a loaded config as SIGHUP does. */
  apply: (loaded: LoadedConfig) => void;
}

export function dashboardHandlers(deps: DashboardDeps): Pick<MethodHandlers, DashboardMethod> {
  let writing: Promise<unknown> = Promise.resolve();
  const settingsView = (): SettingsView => ({
    file: deps.configFile(),
    config: JSON.parse(JSON.stringify(deps.config())) as Record<string, unknown>,
    editable: EDITABLE_KEYS,
  });
  return {
    async 'ui-token'() {
      const origin = deps.origin();
      if (origin === null) {
        throw new P2pdError('DASHBOARD_OFF', 'the dashboard is off: set "dashboard": {"enabled": true} in the config and restart the daemon');
      }
      const { token, expiresAt } = deps.sessions.issueLogin();
      return { url: `${origin}/#token=${token}`, origin, token, expiresAt: new Date(expiresAt).toISOString() };
    },

    async 'ui-login'(params) {
      const { session, expiresAt } = deps.sessions.login(params.token);
      return { session, expiresAt: new Date(expiresAt).toISOString() };
    },

    async browse(params) {
      return browse(params.path ?? homedir());
    },

    async settings() {
      return settingsView();
    },

    async 'settings-set'(params) {
      const file = deps.configFile();
      const load = deps.loadConfigFile;
      if (file === null || load === undefined) {
        throw new P2pdError('CONTROL_BAD_REQUEST', 'the daemon runs on defaults alone (no config file): start it with --config <file> to change settings here');
      }
      // One write at a time: two pages saving at once must not interleave read-modify-write.
      const run = writing.then(async () => deps.apply(await writeSettings(file, params.changes, load)));
      writing = run.catch(() => undefined);
      await run;
      return settingsView();
    },
  };
}

/** A directory's entries, folders first, without following symlinks. */
async function browse(path: string): Promise<{ path: string; parent: string | null; entries: BrowseEntryView[]; truncated: number }> {
  let names: string[];
  try {
    names = (await readdir(path)).sort((a, b) => a.localeCompare(b));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new P2pdError(
      'SOURCE_NOT_FOUND',
      `cannot list ${path}: ${code === 'ENOENT' ? 'no such folder' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'not a folder' : String(code)}`,
    );
  }
  const entries: BrowseEntryView[] = [];
  for (const name of names.slice(0, MAX_BROWSE_ENTRIES)) {
    const st = await lstat(join(path, name)).catch(() => null);
    const kind = st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : 'other';
    entries.push({ name, kind, size: kind === 'file' ? st!.size : null });
  }
  entries.sort((a, b) => Number(b.kind === 'dir') - Number(a.kind === 'dir'));
  const parent = dirname(path);
  return { path, parent: parent === path ? null : parent, entries, truncated: Math.max(0, names.length - MAX_BROWSE_ENTRIES) };
}
