/**
 * The width function the CLI's bundle uses in place of string-width (yargs' help layout): columns
 * as a terminal shows them, escape sequences not counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import textWidth from '../../src/cli/text-width.js';

test('text width: ASCII, escape sequences, wide and zero-width characters, emoji', () => {
  const cases: Array<[string, number]> = [
    ['', 0],
    ['p2pd send <peer> <paths..>', 26],
    ['\u001b[1mbold\u001b[22m and \u001b[31mred\u001b[39m', 12],
    ['\u001b]8;;https://example.invalid\u0007link\u001b]8;;\u0007', 4],
    ['→ sent', 6],
    ['café', 4],
    ['cafe\u0301', 4],
    ['日本語', 6],
    ['한국어 ok', 9],
    ['ｆｕｌｌ', 8],
    ['👍', 2],
    ['👍🏽', 2],
    ['👨‍👩‍👧', 2],
    ['🇩🇪', 2],
    ['❤️', 2],
    ['a\u200bb', 2],
    ['tab\there', 7],
  ];
  for (const [text, width] of cases) assert.equal(textWidth(text), width, JSON.stringify(text));
});
