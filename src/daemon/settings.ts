/** The parts' run-time settings, derived from the config (at start and on every reload). */
import { statfs } from 'node:fs/promises';
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

export function driverLimits(config: Readonly<Config>): Pick<P2pdDriverOptions, 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'keepPartialOnDiskFull'> {
  return {
    keepPartialOnDiskFull: config.onDiskFull === 'keep',
    handshakeTimeoutMs: config.limits.handshakeTimeoutSeconds * 1000,
    idleTimeoutMs: config.limits.idleTimeoutSeconds * 1000,
  };
}

/** What a send must never carry: the state directory (the private key) and the inbox's partial files. */
export function ownFiles(config: Readonly<Config>): string[] {
  return [config.stateDir, join(config.inbox, PARTIAL_DIR_NAME), ...config.destinations.map((d) => join(d, PARTIAL_DIR_NAME))];
}

/** Bytes available to this user in the file system that holds `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}
