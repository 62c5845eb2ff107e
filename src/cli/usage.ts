/**
 * Usage errors: everything yargs found wrong with one command line, said once, with a "did you
 * mean" for a misspelled option or command. Pure: it works on yargs' messages and the raw argv.
 */
import { P2pdError } from '../errors.js';

/** Where on the command line the parse stopped: the command named so far and what it knows. */
export interface UsageContext {
  /** The command path, e.g. ['service', 'install']; empty at the top. */
  path: string[];
  /** Its usage line without the program name, e.g. 'send <peer> <paths..>'. */
  usage: string;
  /** Long options known here (kebab-case, without dashes), global ones included. */
  options: string[];
  /** Sub-commands known here. */
  commands: string[];
}

/** What each positional means, for "missing: ..." (keyed by the name in the usage line). */
const POSITIONAL_TEXT: Record<string, string> = {
  peer: 'the peer (a name, name#short-id, full id or host:port; `p2pd peers` lists them)',
  paths: 'at least one file or directory',
  'offer-id': 'the offer id (`p2pd incoming` lists them)',
  'transfer-id': 'the transfer id (`p2pd status` lists them)',
};

/** True when the command line asks for --json, even if it does not parse. */
export function wantsJson(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--json' || a === '--json=true') return true;
  }
  return false;
}

/** Optimal string alignment distance: a swap of two neighbours counts as one edit (deatch → detach). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `known` to `typed`, if it is close enough to be a slip of the fingers. */
export function closest(typed: string, known: readonly string[]): string | undefined {
  const t = typed.toLowerCase().replace(/_/g, '-');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const n = name.toLowerCase();
    // A prefix (--det) is an abbreviation, not a slip: it still names one option.
    const distance = t.length >= 3 && n.startsWith(t) ? 1 : editDistance(t, n);
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(1, Math.min(3, Math.floor(best.name.length / 3)));
  return best.distance <= allowed ? best.name : undefined;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Did `name` come from an option on the command line (--name, --no-name, --name=x, -n)? */
function typedAsOption(name: string, argv: readonly string[]): string | undefined {
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--(?:no-)?([^=]+)/.exec(a);
    if (m !== null && (m[1] === name || kebab(m[1]!) === kebab(name))) return a.split('=')[0];
    if (name.length === 1 && /^-[^-]/.test(a) && a.slice(1).split('=')[0]!.includes(name)) return `-${name}`;
  }
  return undefined;
}

/** Positionals of a usage line: `send <peer> <paths..>` → [{peer, required}, {paths, required}]. */
export function positionals(usage: string): Array<{ name: string; required: boolean }> {
  return [...usage.matchAll(/([<[])([^>\]]+?)(?:\.\.)?[>\]]/g)].map((m) => ({ name: m[2]!, required: m[1] === '<' }));
}

function unknownArguments(names: string[], argv: readonly string[], ctx: UsageContext, out: Problems): void {
  // yargs lists --dry-runn both as written and camel-cased: keep one.
  const distinct = names.filter((n) => !(n !== kebab(n) && names.includes(kebab(n))));
  let commandSeen = false;
  for (const name of distinct) {
    const typed = typedAsOption(name, argv);
    if (typed !== undefined) {
      const guess = closest(
        typed.replace(/^--?(no-)?/, ''),
        ctx.options.filter((o) => o.length > 1),
      );
      out.unknown.push(typed);
      if (guess !== undefined) out.didYouMean.push(`--${guess}`);
      out.parts.push(`unknown option ${typed}${guess === undefined ? '' : `: did you mean --${guess}?`}`);
    } else if (ctx.commands.length > 0) {
      // The words after an unknown command are its arguments, not more unknown commands.
      if (commandSeen) continue;
      commandSeen = true;
      const guess = closest(name, ctx.commands);
      const where = ctx.path.length === 0 ? 'command' : `${ctx.path.join(' ')} command`;
      out.unknown.push(name);
      if (guess !== undefined) out.didYouMean.push(guess);
      out.parts.push(`unknown ${where} "${name}"${guess === undefined ? '' : `: did you mean ${[...ctx.path, guess].join(' ')}?`}`);
    } else {
      out.unknown.push(name);
      out.parts.push(`unexpected argument "${name}": the command is \`p2pd ${ctx.usage}\``);
    }
  }
}

interface Problems {
  parts: string[];
  unknown: string[];
  didYouMean: string[];
  missing: string[];
}

/** One USAGE error for all that yargs said about a command line. */
export function usageError(messages: readonly string[], argv: readonly string[], ctx: UsageContext): P2pdError {
  const out: Problems = { parts: [], unknown: [], didYouMean: [], missing: [] };
  let unknown: string[] = [];
  for (const msg of messages) {
    const unknownMatch = /^Unknown arguments?: (.+)$/s.exec(msg);
    const notEnough = /^Not enough non-option arguments: got (\d+)/.exec(msg);
    const following = /^Not enough arguments following: (.+)$/.exec(msg);
    if (unknownMatch !== null) unknown = [...unknown, ...unknownMatch[1]!.split(', ')];
    else if (/^Did you mean /.test(msg))
      continue; // we make our own suggestion
    else if (notEnough !== null) {
      const missing = positionals(ctx.usage)
        .filter((p) => p.required)
        .slice(Number(notEnough[1]));
      if (missing.length === 0) out.parts.push(msg);
      for (const p of missing) out.missing.push(p.name);
    } else if (/^Missing required arguments?: /.test(msg)) {
      const names = msg.replace(/^Missing required arguments?: /, '').split(', ');
      // Positionals are said once, from "not enough arguments", with what they mean.
      const known = new Set(positionals(ctx.usage).map((p) => p.name));
      for (const n of names) if (!known.has(n) && !out.missing.includes(n)) out.parts.push(`missing option --${n}`);
      for (const n of names) if (known.has(n) && !out.missing.includes(n)) out.missing.push(n);
    } else if (following !== null) out.parts.push(`--${following[1]} needs a value`);
    else if (!out.parts.includes(msg)) out.parts.push(msg);
  }
  if (out.missing.length > 0) {
    const what = out.missing.map((n) => POSITIONAL_TEXT[n] ?? `<${n}>`);
    out.parts.unshift(`\`p2pd ${ctx.path.join(' ')}\` needs ${what.join(' and ')}: p2pd ${ctx.usage}`);
  }
  // An unknown option or command explains the rest (`--jsn status` reads as --jsn=status): first.
  const rest = out.parts.splice(0);
  unknownArguments(unknown, argv, ctx, out);
  out.parts.push(...rest);
  const details: Record<string, unknown> = {};
  if (out.unknown.length > 0) details.unknown = out.unknown;
  if (out.didYouMean.length > 0) details.didYouMean = out.didYouMean;
  if (out.missing.length > 0) details.missing = out.missing;
  const message = out.parts.join('; ') || 'the command line is wrong';
  return new P2pdError('USAGE', message, Object.keys(details).length > 0 ? { details } : {});
}
