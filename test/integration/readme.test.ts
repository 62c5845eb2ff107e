/**
 * The README stays true to the CLI and the documents stay linked: every `p2pd` command line in
 * the README's fenced examples parses with the real executable, every command and flag of its
 * command table exists, every command the CLI has is in that table, and every relative link in
 * README.md and docs/*.md reaches an existing file and, for `#…`, an existing heading.
 *
 * A command line is run for real against a control socket nobody listens on: a clean parse then
 * ends in DAEMON_NOT_RUNNING (or another runtime error), a renamed command or flag in USAGE (64).
 * `daemon` and `service` (without --dry-run) are only looked up in the help: they would start a
 * daemon on the network or install a unit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../helpers/daemons.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const USAGE_EXIT = 64;

interface Fence {
  lines: string[];
}

/** Lines outside fenced code blocks, and the blocks themselves. */
function split(markdown: string): { prose: string[]; fences: Fence[] } {
  const prose: string[] = [];
  const fences: Fence[] = [];
  let open: Fence | undefined;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) {
      if (open === undefined) {
        open = { lines: [] };
      } else {
        fences.push(open);
        open = undefined;
      }
    } else if (open !== undefined) open.lines.push(line);
    else prose.push(line);
  }
  return { prose, fences };
}

/** Shell words of one line (quotes honoured), up to a comment, pipe, redirection or `&`. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const word = m[1] ?? m[2] ?? m[3]!;
    if (m[3] !== undefined && /^(#|\||&|;|>|<)/.test(word)) break;
    out.push(word);
  }
  return out;
}

/** The p2pd command lines of the README's examples: `p2pd …`, after a prompt such as `alice$ `. */
function commandLines(markdown: string): string[][] {
  const found: string[][] = [];
  for (const fence of split(markdown).fences) {
    for (const line of fence.lines) {
      const m = /^(?:[\w.-]*\$ )?p2pd (.*)$/.exec(line.trim());
      if (m !== null) found.push(words(m[1]!));
    }
  }
  return found;
}

/** GitHub's anchor for a heading's text. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of split(markdown).prose) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m !== null) {
      const base = slug(m[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(a[1]!);
  }
  return out;
}

/** Relative link targets of one file's prose (inline code is not a link). */
function links(markdown: string): string[] {
  const out: string[] = [];
  for (const line of split(markdown).prose) {
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) out.push(target);
    }
  }
  return out;
}

describe('the README and the docs', { timeout: 180_000 }, () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const helpCache = new Map<string, string>();

  async function help(command: string[]): Promise<string> {
    const key = command.join(' ');
    let text = helpCache.get(key);
    if (text === undefined) {
      const r = await cli([...command, '--help'], { env, cwd: dir, timeoutMs: 30_000 });
      assert.equal(r.code, 0, `p2pd ${key} --help: ${r.stderr}`);
      text = r.stdout;
      helpCache.set(key, text);
    }
    return text;
  }

  /** The command words of an argument list (`service install`, `send`), checked against the help. */
  async function commandOf(args: string[]): Promise<string[]> {
    const first = args[0]!;
    const second = args[1];
    const top = await help([first]);
    const nested = second !== undefined && !second.startsWith('-') && new RegExp(`^\\s*p2pd ${first} ${second}\\b`, 'm').test(top);
    const command = nested ? [first, second] : [first];
    const own = await help(command);
    assert.ok(own.startsWith(`p2pd ${command.join(' ')}`), `\`p2pd ${command.join(' ')}\` is not a command:\n${own.split('\n')[0]}`);
    return command;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pd-readme-'));
    // A control socket nobody listens on: every command that parses stops at DAEMON_NOT_RUNNING.
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ controlSocket: join(dir, 'control.sock'), stateDir: join(dir, 'state'), inbox: join(dir, 'inbox'), outbox: join(dir, 'outbox') }),
    );
    env = { P2PD_CONFIG: config, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state') };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every p2pd command line in the README examples parses with the real CLI', async () => {
    const lines = commandLines(readme);
    assert.ok(lines.length >= 8, `only ${lines.length} command lines found in the README's examples`);
    for (const args of lines) {
      const shown = `p2pd ${args.join(' ')}`;
      const command = await commandOf(args);
      const sideEffects = command[0] === 'daemon' || (command[0] === 'service' && !args.includes('--dry-run'));
      if (sideEffects) continue;
      const r = await cli(args, { env, cwd: dir, timeoutMs: 30_000 });
      assert.notEqual(r.code, null, `${shown}: did not end`);
      assert.notEqual(r.code, USAGE_EXIT, `${shown} no longer parses:\n${r.stderr}${r.stdout}`);
    }
  });

  it("every command and flag in the README's command table exists, and every command is in it", async () => {
    const table = split(readme).prose.filter((l) => /^\|\s*`p2pd /.test(l));
    assert.ok(table.length >= 10, 'the command table was not found');
    const listed = new Set<string>();
    for (const row of table) {
      const cell = row.split('|')[1]!;
      const first = /`p2pd ([^`]*)`/.exec(cell)![1]!;
      const args = first.split(/\s+/).filter((w) => !/^[<[]/.test(w));
      const command = await commandOf(args);
      listed.add(command[0]!);
      const text = await help(command);
      for (const flag of cell.matchAll(/--[a-z][a-z-]*/g)) {
        assert.ok(text.includes(flag[0]), `\`p2pd ${command.join(' ')}\` has no ${flag[0]}`);
      }
    }
    const all = [...(await help([])).matchAll(/^\s{2}p2pd ([a-z-]+)/gm)].map((m) => m[1]!);
    assert.ok(all.length >= 10, 'no command list in `p2pd --help`');
    for (const name of all) assert.ok(listed.has(name), `\`p2pd ${name}\` is missing from the README's command table`);
  });

  it('every relative link in README.md and docs/*.md reaches a file and a heading', () => {
    const files = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const file of files) {
      const path = join(ROOT, file);
      for (const target of links(readFileSync(path, 'utf8'))) {
        const [where, anchor] = target.split('#', 2) as [string, string | undefined];
        const dest = where === '' ? path : resolve(dirname(path), decodeURIComponent(where));
        if (!existsSync(dest)) {
          broken.push(`${file}: ${target} (no such file)`);
        } else if (anchor !== undefined && anchor !== '' && dest.endsWith('.md') && !anchors(readFileSync(dest, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });
});
