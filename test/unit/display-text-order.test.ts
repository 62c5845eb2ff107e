import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareNames } from '../../src/display-text.js';

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const name = fc.oneof(
  fc.string({ unit: printable, maxLength: 8 }),
  fc.string({ unit: fc.constantFrom(...'aAbB-_ 1'), maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);

test('compareNames orders as localeCompare does', () => {
  fc.assert(
    fc.property(name, name, (a, b) => Math.sign(compareNames(a, b)) === Math.sign(a.localeCompare(b))),
    { numRuns: 20_000 },
  );
  const names = ['bob', 'Bob', 'alice', 'Alice-2', 'alice 2', 'alice_2', 'zoë', 'Émile', '2fast', 'émile', 'b0b'];
  assert.deepEqual(
    [...names].sort(compareNames),
    [...names].sort((a, b) => a.localeCompare(b)),
  );
});
