/**
 * Turns the templates in systemd/ into the files that get installed: the same settings, with the
 * absolute program to run and, where needed, extra environment and writable paths. Pure: text in,
 * text out. A template that lacks a line these functions rely on is a packaging bug (INTERNAL).
 */
import { P2pdError } from '../errors.js';
import { systemdAssignment, systemdCommandLine, systemdWord, xmlText } from './quote.js';

export interface UnitOptions {
  /** The first lines of the file, as comments (without "# "). */
  header: readonly string[];
  /** Absolute program and its arguments for ExecStart=. */
  execStart: readonly string[];
  /** Environment= settings, name → value. */
  environment?: ReadonlyArray<readonly [string, string]>;
  /** Extra ReadWritePaths= entries (a leading "-" makes a missing path be ignored). */
  readWritePaths?: readonly string[];
}

export function renderUnit(template: string, options: UnitOptions): string {
  const lines = template.split('\n');
  // The template's leading comment tells a person how to install it by hand: replace it.
  const firstNonComment = lines.findIndex((line) => !line.startsWith('#') && line.trim() !== '');
  const body = lines.slice(firstNonComment);

  const exec = indexesOf(body, 'ExecStart');
  if (exec.length !== 1) throw new P2pdError('INTERNAL', `the unit template has ${exec.length} ExecStart= lines instead of 1`);
  const execAt = exec[0]!;
  const inserted: string[] = [`ExecStart=${systemdCommandLine(options.execStart)}`];
  for (const [name, value] of options.environment ?? []) inserted.push(`Environment=${systemdAssignment(name, value)}`);
  body.splice(execAt, 1, ...inserted);

  const writable = options.readWritePaths ?? [];
  if (writable.length > 0) {
    const existing = indexesOf(body, 'ReadWritePaths');
    const at = existing.length > 0 ? existing.at(-1)! + 1 : execAt + inserted.length;
    body.splice(
      at,
      0,
      '# Paths of the config outside the directories above, added by `p2pd service install`',
      `ReadWritePaths=${writable.map((p) => systemdWord(p, { variables: false })).join(' ')}`,
    );
  }
  return [...options.header.map((line) => (line === '' ? '#' : `# ${line}`)), '', ...body].join('\n');
}

function indexesOf(lines: readonly string[], key: string): number[] {
  const out: number[] = [];
  lines.forEach((line, i) => {
    if (line.trimStart().startsWith(`${key}=`)) out.push(i);
  });
  return out;
}

export interface PlistOptions {
  /** One comment line put in place of the template's installation comment. */
  header: string;
  programArguments: readonly string[];
  /** Absolute path of the log file (stdout and stderr). */
  logPath: string;
  /** Added to EnvironmentVariables, after PATH. */
  environment?: ReadonlyArray<readonly [string, string]>;
}

export function renderPlist(template: string, options: PlistOptions): string {
  let out = replaceOnce(template, /<!--[\s\S]*?-->/, () => `<!-- ${options.header.replaceAll('--', '- -')} -->`, 'the leading comment');
  const args = options.programArguments.map((a) => `\n    <string>${xmlText(a)}</string>`).join('');
  out = replaceOnce(out, /(<key>ProgramArguments<\/key>\s*<array>)[\s\S]*?(\s*<\/array>)/, (m) => `${m[1]}${args}${m[2]}`, 'ProgramArguments');
  out = out.replace(/<!-- p2pd starts with[^>]*-->/, '<!-- The PATH for the programs p2pd runs (onReceive); node itself is named above. -->');
  const env = (options.environment ?? []).map(([k, v]) => `\n    <key>${xmlText(k)}</key>\n    <string>${xmlText(v)}</string>`).join('');
  out = replaceOnce(out, /(<key>EnvironmentVariables<\/key>\s*<dict>[\s\S]*?)(\s*<\/dict>)/, (m) => `${m[1]}${env}${m[2]}`, 'EnvironmentVariables');
  for (const key of ['StandardOutPath', 'StandardErrorPath']) {
    const pattern = new RegExp(`(<key>${key}</key>\\s*<string>)[^<]*(</string>)`);
    out = replaceOnce(out, pattern, (m) => `${m[1]}${xmlText(options.logPath)}${m[2]}`, key);
  }
  return out;
}

/** Replaces the one match of `pattern` with what `replace` makes of it. */
function replaceOnce(text: string, pattern: RegExp, replace: (match: RegExpExecArray) => string, what: string): string {
  const match = pattern.exec(text);
  if (match === null) throw new P2pdError('INTERNAL', `the plist template has no ${what}`);
  return text.slice(0, match.index) + replace(match) + text.slice(match.index + match[0].length);
}
