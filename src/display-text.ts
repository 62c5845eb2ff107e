/**
 * Text from peers made safe to show: which code points must never reach a terminal, a log line,
 * a file name or a web page's text (controls, line breaks, bidi overrides, invisible format
 * characters, lone surrogates), and displayName(), which shows them as escapes. Pure: shared by
 * store/safe-name.ts (which refuses such names) and by every face (the CLI, a dashboard).
 */

const ZWNJ = 0x200c;
const ZWJ = 0x200d;
const BIDI_CONTROLS = new Set([0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);
const IS_CONTROL = /^[\p{Cc}\p{Zl}\p{Zp}]$/u;
const IS_FORMAT = /^\p{Cf}$/u;
const IS_SPACE_OR_MARK = /^[\p{Z}\p{M}]$/u;
/** Emoji tag sequence: black flag, tag characters, cancel tag (flags of Scotland, Wales, England). */
const EMOJI_TAG_SEQUENCE = /\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}/gu;

export type CharReason = 'lone-surrogate' | 'control-char' | 'bidi-control' | 'invisible-char';

/**
 * Calls `onUnsafe` for every code point of `s` that must not reach a file name or a terminal,
 * with its index in the code-point array. "/" counts as a boundary for the joiner rule.
 */
export function scanUnsafe(chars: readonly string[], onUnsafe: (reason: CharReason, index: number) => boolean | void): void {
  const allowedTags = allowedTagIndexes(chars);
  for (let i = 0; i < chars.length; i++) {
    const reason = classifyChar(chars, i, allowedTags);
    if (reason !== undefined && onUnsafe(reason, i) === false) return;
  }
}

function classifyChar(chars: readonly string[], i: number, allowedTags: ReadonlySet<number>): CharReason | undefined {
  const ch = chars[i]!;
  const cp = ch.codePointAt(0)!;
  if (cp >= 0xd800 && cp <= 0xdfff) return 'lone-surrogate';
  if (IS_CONTROL.test(ch)) return 'control-char';
  if (BIDI_CONTROLS.has(cp)) return 'bidi-control';
  if (!IS_FORMAT.test(ch)) return undefined;
  if ((cp === ZWJ || cp === ZWNJ) && isVisible(chars[i - 1]) && isVisible(chars[i + 1])) return undefined;
  if (allowedTags.has(i)) return undefined;
  return 'invisible-char';
}

/** A character a joiner may stand next to: printable, not blank, not a separator. */
function isVisible(ch: string | undefined): boolean {
  if (ch === undefined || ch === '/') return false;
  const cp = ch.codePointAt(0)!;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  return !IS_CONTROL.test(ch) && !IS_FORMAT.test(ch) && !IS_SPACE_OR_MARK.test(ch);
}

function allowedTagIndexes(chars: readonly string[]): Set<number> {
  const allowed = new Set<number>();
  const joined = chars.join('');
  if (!/[\u{E0000}-\u{E007F}]/u.test(joined)) return allowed;
  // Map UTF-16 offsets of each match back to code-point indexes.
  const starts: number[] = [];
  let offset = 0;
  for (const ch of chars) {
    starts.push(offset);
    offset += ch.length;
  }
  for (const match of joined.matchAll(EMOJI_TAG_SEQUENCE)) {
    const begin = match.index;
    const end = begin + match[0].length;
    starts.forEach((start, index) => {
      if (start > begin && start < end) allowed.add(index);
    });
  }
  return allowed;
}

/** Longest displayName() result, in code points, unless the caller asks otherwise. */
export const DISPLAY_MAX_LENGTH = 256;

/**
 * Makes any peer-supplied string safe for a terminal, a log line or a web page's text: control,
 * line-break, bidi and invisible format characters and lone surrogates become visible escapes
 * ("\u001b", "\u202e", "\u{e0001}"), and the result is cut to `maxLength` code points with "…".
 */
export function displayName(s: string, maxLength: number = DISPLAY_MAX_LENGTH): string {
  const text = typeof s === 'string' ? s : String(s);
  const chars = Array.from(text);
  const escaped = new Map<number, string>();
  scanUnsafe(chars, (_reason, index) => {
    escaped.set(index, escapeCodePoint(chars[index]!.codePointAt(0)!));
  });
  const limit = Math.max(1, Math.floor(maxLength));
  let out = '';
  let length = 0;
  for (let i = 0; i < chars.length; i++) {
    const piece = escaped.get(i) ?? chars[i]!;
    const pieceLength = escaped.has(i) ? piece.length : 1;
    const restFits = i === chars.length - 1 ? length + pieceLength <= limit : length + pieceLength <= limit - 1;
    if (!restFits) return `${out}…`;
    out += piece;
    length += pieceLength;
  }
  return out;
}

function escapeCodePoint(cp: number): string {
  const hex = cp.toString(16);
  return cp <= 0xffff ? `\\u${hex.padStart(4, '0')}` : `\\u{${hex}}`;
}

/**
 * Printable ASCII in the order of Unicode's root collation, which localeCompare() follows: spaces
 * and punctuation, then digits, then letters (a case pair shares a place; lower case first on a tie).
 */
const ROOT_ORDER = ` _-,;:!?.'"()[]{}@*/\\&#%\`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz`;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function rootRank(code: number): number {
  return ROOT_ORDER.indexOf(String.fromCharCode(code >= 0x41 && code <= 0x5a ? code + 0x20 : code));
}

/**
 * Orders names as `a.localeCompare(b)` does, without ICU for printable ASCII (the common case):
 * collation loads ICU's data, about 2 MB of an idle daemon, on the first sort of the peer list.
 */
export function compareNames(a: string, b: string): number {
  if (!PRINTABLE_ASCII.test(a) || !PRINTABLE_ASCII.test(b)) return a.localeCompare(b);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = rootRank(a.charCodeAt(i)) - rootRank(b.charCodeAt(i));
    if (d !== 0) return Math.sign(d);
  }
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  // The same letters: the first case difference decides, lower case first.
  for (let i = 0; i < n; i++) {
    const [x, y] = [a.charCodeAt(i), b.charCodeAt(i)];
    if (x !== y) return x > y ? -1 : 1;
  }
  return 0;
}
