/**
 * The settings used for every key the config file leaves out. Pure: the environment, the home
 * directory and the host name come in as arguments.
 */
import { isAbsolute, join } from 'node:path';
import type { Config } from './types.js';
import { NAME_FORBIDDEN_CHARS, NAME_MAX_LENGTH } from './schema.js';

export const DEFAULT_PORT = 45454;
/** Next to the daemon's own port; like it, it falls back to a free port when taken and not set. */
export const DEFAULT_DASHBOARD_PORT = 45455;
const FALLBACK_NAME = 'p2pd';

export function defaultConfig(env: NodeJS.ProcessEnv, home: string, hostname: string): Config {
  const stateDir = join(xdgDir(env.XDG_STATE_HOME) ?? join(home, '.local', 'state'), 'p2pd');
  return {
    name: nameFromHostname(hostname),
    port: DEFAULT_PORT,
    inbox: join(home, 'p2pd', 'inbox'),
    outbox: join(home, 'p2pd', 'outbox'),
    stateDir,
    controlSocket: defaultControlSocket(stateDir),
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
    dashboard: { enabled: true, port: DEFAULT_DASHBOARD_PORT },
    retry: { minDelaySeconds: 2, maxDelaySeconds: 60, giveUpMinutes: 1440 },
    schedules: {
      outboxRescan: '*/30 * * * * *',
      retry: '* * * * *',
      cleanupPartials: '15 * * * *',
      pruneHistory: '30 3 * * *',
    },
    onReceive: [],
    onReceiveTimeoutSeconds: 300,
    shutdownGraceSeconds: 20,
  };
}

export function defaultControlSocket(stateDir: string): string {
  return join(stateDir, 'control.sock');
}

/**
 * An XDG base directory variable, or undefined when it is unset or empty. The XDG spec says
 * relative values are invalid and must be ignored, so they are.
 */
export function xdgDir(value: string | undefined): string | undefined {
  return value !== undefined && value !== '' && isAbsolute(value) ? value : undefined;
}

/** "Büro-PC.fritz.box" → "Büro-PC": the first label, without characters a name may not hold. */
export function nameFromHostname(hostname: string): string {
  const label = hostname.split('.')[0] ?? '';
  const cleaned = truncateUtf8(label.replace(new RegExp(`[${NAME_FORBIDDEN_CHARS}]`, 'gu'), '').trim(), NAME_MAX_LENGTH);
  return cleaned === '' ? FALLBACK_NAME : cleaned;
}

/** The longest prefix of `text`, cut between code points, of at most `maxBytes` UTF-8 bytes. */
export function truncateUtf8(text: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch, 'utf8');
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}
