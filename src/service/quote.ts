/**
 * Quoting for the three languages a service file is written in: systemd unit lines, XML (launchd
 * plists) and, for the commands shown to a person, the POSIX shell. Pure functions.
 */
import { P2pdError } from '../errors.js';

/** Words that need no quotes in any of the three: no spaces, quotes, `%`, `$`, `\` or `;`. */
const PLAIN = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * One word of a systemd command line or list setting (systemd.syntax(7), systemd.service(5)).
 * Words with anything but plain characters go in double quotes, with C escapes for `\`, `"` and
 * control characters; `%` is doubled in every setting (specifiers), `$` only where the setting
 * expands variables (`variables: true`: the arguments of ExecStart=, not its executable).
 */
export function systemdWord(word: string, options: { variables: boolean }): string {
  if (word !== '' && PLAIN.test(word)) return word;
  let out = '';
  for (const ch of word) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '%') out += '%%';
    else if (ch === '$' && options.variables) out += '$$';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `"${out}"`;
}

/**
 * An ExecStart= value: the absolute executable, then its arguments. systemd refuses an executable
 * path holding quotes or backslashes ("special characters"); whether it expands `$` there has
 * varied between versions. Such a path is refused here, with a message that says what to do.
 */
export function systemdCommandLine(argv: readonly string[]): string {
  const [program, ...args] = argv;
  if (program === undefined || !program.startsWith('/')) {
    throw new P2pdError('INTERNAL', `ExecStart= needs an absolute executable, not ${JSON.stringify(program)}`);
  }
  if (/["'\\$\x00-\x1f\x7f]/.test(program)) {
    throw new P2pdError(
      'SERVICE_UNSUPPORTED',
      `systemd cannot run a program whose path holds quotes, backslashes, "$" or control characters: ${JSON.stringify(program)}; install node at a plain path and try again`,
      { details: { path: program } },
    );
  }
  return [systemdWord(program, { variables: false }), ...args.map((a) => systemdWord(a, { variables: true }))].join(' ');
}

/** `Environment="NAME=value"`'s value: the whole assignment is one word; no `$` expansion there. */
export function systemdAssignment(name: string, value: string): string {
  return systemdWord(`${name}=${value}`, { variables: false });
}

/** A word for a person to paste into a POSIX shell. */
export function shellWord(word: string): string {
  if (word !== '' && PLAIN.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function shellLine(argv: readonly string[]): string {
  return argv.map(shellWord).join(' ');
}

/** Text for an XML element or attribute value. */
export function xmlText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}
