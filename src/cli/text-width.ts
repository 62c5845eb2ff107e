/**
 * The columns a string takes in a terminal, standing in for the `string-width` package inside the
 * CLI's bundle (tools/build-cli-bundle.mjs), where yargs' help layout uses it. That package builds
 * an emoji regular expression and an `Intl.Segmenter` as it loads: 28 ms of every command here,
 * though most commands print no help. This one builds what it needs on the first string that is
 * not plain ASCII.
 */

// CSI sequences (colours, cursor moves) and OSC sequences (hyperlinks, titles).
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
const PRINTABLE_ASCII = /^[\u0020-\u007e]*$/;

let segmenter: Intl.Segmenter | undefined;
let zeroWidth: RegExp | undefined;
let pictographic: RegExp | undefined;
let flag: RegExp | undefined;

/** East Asian Wide and Fullwidth blocks (the main ones): two columns each. */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x3fffd],
];

function isWide(codePoint: number): boolean {
  return WIDE.some(([from, to]) => codePoint >= from && codePoint <= to);
}

export default function textWidth(text: string): number {
  if (typeof text !== 'string' || text.length === 0) return 0;
  const visible = text.includes('\u001b') ? text.replace(ANSI, '') : text;
  if (PRINTABLE_ASCII.test(visible)) return visible.length;
  segmenter ??= new Intl.Segmenter();
  zeroWidth ??= /^[\p{Cc}\p{Cf}\p{Mn}\p{Me}\p{Default_Ignorable_Code_Point}]+$/u;
  pictographic ??= /\p{Extended_Pictographic}/u;
  flag ??= /^\p{Regional_Indicator}{2}$/u;
  let width = 0;
  for (const { segment } of segmenter.segment(visible)) {
    if (zeroWidth.test(segment)) continue;
    // A wide character takes two columns, and so does an emoji cluster (a flag, a sequence joined
    // by ZWJ, one with VS16).
    const emoji = flag.test(segment) || (pictographic.test(segment) && (segment.length > 2 || segment.includes('\ufe0f')));
    width += emoji || isWide(segment.codePointAt(0) ?? 0) ? 2 : 1;
  }
  return width;
}
