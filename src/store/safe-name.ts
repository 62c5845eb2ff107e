/**
 * Names that peers send us, checked before they touch the file system or a terminal.
 * Pure string logic: no I/O.
 *
 * A peer-supplied path is relative, "/"-separated and normalised to NFC. It is refused when any of
 * its components could escape the inbox, mean something special on some operating system, hide or
 * reorder characters on screen, or pass for something it is not. Every refusal is a P2pdError
 * NAME_INVALID whose `details.reason` is one of NAME_REJECT_REASONS; the reasons are stable,
 * the messages are not.
 *
 * Decisions (each one a trade between hostile input and names real people use):
 * - ":" is allowed (legal on Linux and macOS) except in drive-letter form ("C:", "c:foo") in any
 *   component; Windows would read those as a drive or an alternate data stream.
 * - The other characters Windows forbids (< > " | ? *) are allowed: they are harmless where we
 *   write, and refusing them would refuse ordinary names such as "what?.txt".
 * - Look-alikes of "/" and "\" (division slash, fullwidth solidus, big solidus, set minus, ...) are
 *   refused anywhere in a component. They are never separators where we write, but they exist to
 *   make "a∕b" pass for a folder, and Windows' "best fit" code-page conversion turns some of them
 *   (U+FF0F, U+FF3C) into real separators when such a file is later copied there.
 *   The yen sign (also a backslash in code page 932) stays allowed: it is common in real names.
 * - Look-alikes of "." (one/two dot leader, ellipsis, small and fullwidth full stop, ideographic full
 *   stop) are refused only when a component reads as nothing but dots and spaces (like ".." does).
 *   Inside a name they are ordinary punctuation ("Wait….mp3", "报告。txt").
 * - Format characters (Unicode category Cf) are refused: bidi overrides, isolates and marks reorder
 *   what a user sees ("\u202Eexe.txt" shows as "txt.exe"); zero-width spaces, word joiners, the BOM
 *   and tag characters hide text. Two exceptions keep real names working: ZERO WIDTH JOINER and
 *   NON-JOINER between two visible characters (emoji sequences such as 👨‍👩‍👧, Persian and Indic
 *   scripts), and emoji tag sequences (the flags of Scotland, Wales, England).
 * - A leading "-" is allowed; it is a hazard only for shell globs, which no file name can prevent.
 */
import { P2pdError } from '../errors.js';
import { displayName, scanUnsafe, type CharReason } from '../display-text.js';

export { DISPLAY_MAX_LENGTH, displayName } from '../display-text.js';

/** The store's own directory for partial files, at the top of the inbox. */
export const PARTIAL_DIR_NAME = '.p2pd-partial';
/** Longest component in UTF-8 bytes (NAME_MAX on Linux, APFS, ext4, NTFS). */
export const MAX_COMPONENT_BYTES = 255;
/** Longest path in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_PATH_BYTES = 4096;
export const MAX_COMPONENTS = 64;

export const NAME_REJECT_REASONS = [
  'not-a-string',
  'empty',
  'path-too-long',
  'lone-surrogate',
  'unc',
  'absolute',
  'drive-letter',
  'control-char',
  'bidi-control',
  'invisible-char',
  'backslash',
  'too-many-components',
  'empty-component',
  'dot-component',
  'component-too-long',
  'lookalike',
  'dots-and-spaces',
  'reserved-name',
  'trailing-dot-or-space',
  'reserved-store-name',
] as const;
export type NameRejectReason = (typeof NAME_REJECT_REASONS)[number];

const REASON_TEXT: Record<NameRejectReason, string> = {
  'not-a-string': 'the name is not a string',
  empty: 'the name is empty',
  'path-too-long': `the path is longer than ${MAX_PATH_BYTES} bytes`,
  'lone-surrogate': 'the name is not valid Unicode (a lone surrogate)',
  unc: 'the name is a network (UNC) path',
  absolute: 'the name is an absolute path',
  'drive-letter': 'the name starts with a Windows drive letter',
  'control-char': 'the name contains a control or line-break character',
  'bidi-control': 'the name contains a bidirectional-text control that reorders what is shown',
  'invisible-char': 'the name contains an invisible formatting character',
  backslash: 'the name contains a backslash (a Windows separator)',
  'too-many-components': `the path is deeper than ${MAX_COMPONENTS} levels`,
  'empty-component': 'the path has an empty component (a leading, doubled or trailing "/")',
  'dot-component': 'the path has a "." or ".." component',
  'component-too-long': `a component is longer than ${MAX_COMPONENT_BYTES} bytes`,
  lookalike: 'the name contains a look-alike of "/", "\\" or ".."',
  'dots-and-spaces': 'a component is made only of dots and spaces',
  'reserved-name': 'a component is a reserved device name on Windows (CON, NUL, COM1, ...)',
  'trailing-dot-or-space': 'a component ends with a dot or a space',
  'reserved-store-name': `"${PARTIAL_DIR_NAME}" is reserved by p2pd`,
};

// Paths this long (in UTF-16 code units) are refused before NFC normalisation spends time on them.
// No legitimate path near MAX_PATH_BYTES comes close: NFC composes at most a few units into one.
const MAX_RAW_UNITS = MAX_PATH_BYTES * 4;

/** Works on UTF-16 code units (no u flag), so a surrogate without its partner is found. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const DRIVE_LETTER = /^[A-Za-z]:/;
/** Reads as "/" or "\" to a human; Windows best-fit maps U+FF0F and U+FF3C to real separators. */
const SLASH_LOOKALIKE = /[\u2044\u2215\u2216\u2571\u2572\u27CB\u27CD\u29F5\u29F8\u29F9\uFE68\uFF0F\uFF3C]/u;
/** Reads as one or more "." to a human. */
const DOT_LOOKALIKE = /[\u2024\u2025\u2026\u3002\uFE52\uFF0E\uFF61]/u;
/** Blank or dots only, once combining marks are set aside; used with DOT_LOOKALIKE. */
const BLANK_OR_DOTS = /^[\p{Z}.\u2024\u2025\u2026\u3002\uFE52\uFF0E\uFF61]*$/u;
const COMBINING_MARKS = /\p{M}/gu;
/** CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and the superscript digits Windows also reserves), CONIN$, CONOUT$. */
const RESERVED_DEVICE = /^(?:CON|PRN|AUX|NUL|COM[0-9\u00B9\u00B2\u00B3]|LPT[0-9\u00B9\u00B2\u00B3]|CONIN\$|CONOUT\$)$/i;

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function reject(reason: NameRejectReason, path: unknown, extra: Record<string, unknown> = {}): never {
  const shown = typeof path === 'string' ? displayName(path, 80) : typeof path;
  throw new P2pdError('NAME_INVALID', `unsafe name "${shown}": ${REASON_TEXT[reason]}`, {
    details: { reason, ...extra },
  });
}

/**
 * Validates a peer-supplied relative path and returns its NFC-normalised components.
 * Throws P2pdError NAME_INVALID with `details.reason` (a NameRejectReason) otherwise.
 */
export function checkRelativePath(path: string): string[] {
  return checkPath(path, false);
}

/** checkRelativePath(); with `repairable`, reserved device names and trailing dots or spaces pass. */
function checkPath(path: string, repairable: boolean): string[] {
  if (typeof path !== 'string') reject('not-a-string', path);
  if (path.length === 0) reject('empty', path);
  if (path.length > MAX_RAW_UNITS) reject('path-too-long', path);
  if (LONE_SURROGATE.test(path)) reject('lone-surrogate', path);

  const nfc = path.normalize('NFC');
  if (nfc.startsWith('//') || nfc.startsWith('\\\\')) reject('unc', path);
  if (nfc.startsWith('/')) reject('absolute', path);
  if (DRIVE_LETTER.test(nfc)) reject('drive-letter', path);

  let charReason: CharReason | undefined;
  scanUnsafe(Array.from(nfc), (reason) => {
    charReason = reason;
    return false;
  });
  if (charReason !== undefined) reject(charReason, path);

  if (nfc.includes('\\')) reject('backslash', path);
  if (utf8Bytes(nfc) > MAX_PATH_BYTES) reject('path-too-long', path);

  const components = nfc.split('/');
  if (components.length > MAX_COMPONENTS) reject('too-many-components', path);
  components.forEach((component, index) => {
    const reason = componentProblem(component, index === 0, repairable);
    if (reason !== undefined) reject(reason, path, { component: index });
  });
  return components;
}

/** The visible stand-in for a character that must not reach a file name or a terminal. */
export const REPLACEMENT_CHAR = '\uFFFD';

/** Reasons that cleanRelativePath() repairs instead of refusing. */
export const CLEANED_REASONS: readonly NameRejectReason[] = [
  'lone-surrogate',
  'control-char',
  'bidi-control',
  'invisible-char',
  'reserved-name',
  'trailing-dot-or-space',
];

export interface CleanedPath {
  /** NFC components of the name as it will be used. */
  components: string[];
  /** The components joined with "/". */
  path: string;
  /** What was repaired (empty when the name was already safe), in the order found. */
  repairs: NameRejectReason[];
}

/**
 * The rule for received (and sent) names: repair what can be repaired with its meaning intact,
 * refuse the rest. Control, escape, bidi and invisible characters and lone surrogates each become
 * U+FFFD (visible, and never an instruction to a terminal); trailing dots and spaces are dropped
 * (as Windows would do itself); a reserved device name gets "_" after the device part
 * ("CON.txt" → "CON_.txt"). Anything that tries to be a path of its own ("..", absolute, drive
 * letters, UNC, backslashes, look-alikes of "/" or "..") or cannot be stored (empty, too long, too
 * deep, p2pd's own ".p2pd-partial") is refused with NAME_INVALID as checkRelativePath() does.
 */
export function cleanRelativePath(path: string): CleanedPath {
  if (typeof path !== 'string') reject('not-a-string', path);
  if (path.length === 0) reject('empty', path);
  if (path.length > MAX_RAW_UNITS) reject('path-too-long', path);
  const repairs: NameRejectReason[] = [];
  const note = (reason: NameRejectReason): void => {
    if (!repairs.includes(reason)) repairs.push(reason);
  };
  let text = path;
  if (LONE_SURROGATE.test(text)) {
    note('lone-surrogate');
    text = text.replace(new RegExp(LONE_SURROGATE.source, 'g'), REPLACEMENT_CHAR);
  }
  const chars = Array.from(text.normalize('NFC'));
  scanUnsafe(chars, (reason, index) => {
    note(reason);
    chars[index] = REPLACEMENT_CHAR;
  });
  const cleaned = chars.join('');
  // The structural checks run on the repaired text: a NUL never hides a ".." from them.
  const components = checkPath(cleaned, true).map((component, index) => {
    let c = component;
    const trimmed = c.replace(/[ .]+$/, '');
    if (trimmed !== c) {
      note('trailing-dot-or-space');
      c = trimmed;
    }
    const device = /^[^.:]*/.exec(c)![0].replace(/[ .]+$/, '');
    if (RESERVED_DEVICE.test(device)) {
      note('reserved-name');
      c = `${device}_${c.slice(device.length)}`;
    }
    const problem = c === component ? undefined : componentProblem(c, index === 0);
    if (problem !== undefined) reject(problem, path, { component: index });
    return c;
  });
  const joined = components.join('/');
  if (utf8Bytes(joined) > MAX_PATH_BYTES) reject('path-too-long', path);
  return { components, path: joined, repairs };
}

function componentProblem(component: string, topLevel: boolean, repairable = false): NameRejectReason | undefined {
  if (component.length === 0) return 'empty-component';
  if (component === '.' || component === '..') return 'dot-component';
  if (utf8Bytes(component) > MAX_COMPONENT_BYTES) return 'component-too-long';
  if (DRIVE_LETTER.test(component)) return 'drive-letter';
  if (SLASH_LOOKALIKE.test(component)) return 'lookalike';
  const bare = component.replace(COMBINING_MARKS, '');
  if (BLANK_OR_DOTS.test(bare)) {
    return DOT_LOOKALIKE.test(bare) || bare !== component ? 'lookalike' : 'dots-and-spaces';
  }
  // Windows ignores an extension and trailing spaces/dots when it matches device names.
  const stem = component.split(/[.:]/, 1)[0]!.replace(/[ .]+$/, '');
  if (RESERVED_DEVICE.test(stem) && !repairable) return 'reserved-name';
  if ((component.endsWith(' ') || component.endsWith('.')) && !repairable) return 'trailing-dot-or-space';
  if (topLevel && component.toLowerCase() === PARTIAL_DIR_NAME) return 'reserved-store-name';
  return undefined;
}

/** Compound extensions kept whole by conflictName ("archive (1).tar.gz"). */
const TAR_STEM = /\.tar$/i;
/** An extension is short and has no spaces; otherwise the dot is part of the name ("v1.2 final"). */
const EXTENSION = /^\.[^.\s]{1,16}$/u;

/**
 * The n-th alternative of a taken name: "photo.jpg" → "photo (1).jpg", "archive.tar.gz" →
 * "archive (1).tar.gz", ".bashrc" → ".bashrc (1)", "noext" → "noext (1)". With
 * `keepExtension: false` (directories) the suffix goes at the end: "photos.2024" → "photos.2024 (1)".
 * The result stays within MAX_COMPONENT_BYTES by shortening the stem at grapheme boundaries.
 */
export function conflictName(name: string, n: number, options: { keepExtension?: boolean } = {}): string {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`conflictName: n must be a positive integer, got ${n}`);
  let stem = name;
  let ext = '';
  if (options.keepExtension !== false) {
    const dot = name.lastIndexOf('.');
    if (dot > 0 && EXTENSION.test(name.slice(dot))) {
      stem = name.slice(0, dot);
      ext = name.slice(dot);
      const inner = stem.lastIndexOf('.');
      if (inner > 0 && TAR_STEM.test(stem)) {
        ext = stem.slice(inner) + ext;
        stem = stem.slice(0, inner);
      }
    }
  }
  const suffix = ` (${n})`;
  const budget = MAX_COMPONENT_BYTES - utf8Bytes(suffix) - utf8Bytes(ext);
  return `${truncateBytes(stem, budget)}${suffix}${ext}`;
}

/** Cuts `s` to at most `maxBytes` UTF-8 bytes without splitting a grapheme cluster. */
function truncateBytes(s: string, maxBytes: number): string {
  if (utf8Bytes(s) <= maxBytes) return s;
  let out = '';
  let bytes = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s)) {
    const size = utf8Bytes(segment);
    if (bytes + size > maxBytes) break;
    out += segment;
    bytes += size;
  }
  return out;
}
