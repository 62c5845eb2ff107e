/** The parts' run-time settings, derived from the config (at start and on every reload). */
import { statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { PARTIAL_DIR_NAME } from '../store/safe-name.js';
import type { AdmissionOptions } from '../transfer/admission.js';
import type { ManagerOptions } from '../transfer/manager.js';
import type { P2pdDriverOptions } from '../transfer/p2pd-driver.js';

export function managerLimits(config: Readonly<Config>): Pick<ManagerOptions, 'retry'> {
  return {
    retry: {
      minDelayMs: config.retry.minDelaySeconds * 1000,
      maxDelayMs: Math.max(config.retry.minDelaySeconds, config.retry.maxDelaySeconds) * 1000,
      giveUpMs: config.retry.giveUpMinutes * 60_000,
    },
  };
}

export function gateLimits(config: Readonly<Config>): Omit<AdmissionOptions, 'localName'> {
  return {
    askTimeoutMs: config.askTimeoutSeconds * 1000,
    offerTimeoutMs: config.limits.offerTimeoutSeconds * 1000,
    minFreeSpace: config.limits.minFreeSpace,
    maxConcurrentIncoming: config.limits.maxConcurrentIncoming,
    limits: {
      maxOfferFiles: config.limits.maxOfferFiles,
      maxOfferBytes: config.limits.maxOfferBytes,
      maxFileSize: config.limits.maxFileSize,
    },
  };
}

/**
 * From this many cores on, a daemon hashes big files on a thread of its own. On two cores shared by
 * a sender and a receiver the thread made a 1 GiB send slower (docs/PERFORMANCE.md).
 */
export const HASH_THREAD_MIN_CORES = 3;

/** Whether this machine has a core to spare for hashing (read once, at start). */
export function hashThread(cores = availableParallelism()): boolean {
  return cores >= HASH_THREAD_MIN_CORES;
}

export function driverLimits(config: Readonly<Config>): Pick<P2pdDriverOptions, 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'keepPartialOnDiskFull'> {
  return {
    keepPartialOnDiskFull: config.onDiskFull === 'keep',
    handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
    idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
  };
}

/** What a send must never carry: the keys, the state file and the inboxes' partial files. */
export function ownFiles(config: Readonly<Config>): string[] {
  // The keys and the state file, not the whole state directory: the dashboard's uploads are
  // staged there and sent from there. A path holding any of these (the state directory itself,
  // a home directory) is still refused.
  const state = ['identity', 'localsend', 'state.json'].map((name) => join(config.stateDir, name));
  return [...state, join(config.inbox, PARTIAL_DIR_NAME), ...config.destinations.map((d) => join(d, PARTIAL_DIR_NAME))];
}

/** Bytes available to this user in the file system that holds `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Settings that take effect on SIGHUP are all but these; these need a restart. */
const RESTART_KEYS = [
  'name',
  'port',
  'inbox',
  'outbox',
  'stateDir',
  'controlSocket',
  'interfaces',
  'discovery',
  'localsend',
  'delivery',
  'historySize',
  'inboxPerPeer',
  'dashboard',
  'destinations',
] as const;
/** Limits read once, by parts built at start. */
const RESTART_LIMITS = ['maxFileSize', 'maxConcurrentOutgoing', 'connectionsPerMinute'] as const;

/** The config a reload applies (restart-only keys keep their old values) and the keys that wait for a restart. */
export function reloadable(before: Readonly<Config>, after: Readonly<Config>): { needRestart: string[]; kept: Config } {
  const needRestart: string[] = RESTART_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  for (const k of RESTART_LIMITS) if (before.limits[k] !== after.limits[k]) needRestart.push(`limits.${k}`);
  const kept: Config = { ...after };
  for (const k of RESTART_KEYS) if (needRestart.includes(k)) (kept as unknown as Record<string, unknown>)[k] = before[k];
  kept.limits = { ...after.limits, ...Object.fromEntries(RESTART_LIMITS.map((k) => [k, before.limits[k]])) };
  return { needRestart, kept };
}
