/** Reads the service file templates shipped in the package's systemd/ directory. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Templates } from './plan.js';

export const TEMPLATE_FILES = {
  userUnit: 'p2pd.service',
  systemUnit: 'p2pd-system.service',
  systemConfig: 'config.system.json',
  plist: 'io.p2pd.daemon.plist',
} as const satisfies Record<keyof Templates, string>;

/** systemd/ of the package that holds `mainScript` (…/dist/src/main.js). */
export function templateDir(mainScript: string): string {
  return resolve(dirname(mainScript), '..', '..', 'systemd');
}

export function templatePath(dir: string, which: keyof Templates): string {
  return join(dir, TEMPLATE_FILES[which]);
}

export function readTemplates(dir: string): Templates {
  const read = (which: keyof Templates): string => {
    const file = templatePath(dir, which);
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new P2pdError('INTERNAL', `the service template ${file} cannot be read (is the p2pd package complete?)`, { cause: err });
    }
  };
  return { userUnit: read('userUnit'), systemUnit: read('systemUnit'), systemConfig: read('systemConfig'), plist: read('plist') };
}
