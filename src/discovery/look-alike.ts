/**
 * A key under which names that a person would read as the same collide: case, accents, spacing
 * and the characters most often swapped for each other (digits for letters, Cyrillic and Greek
 * letters for Latin ones). Used to warn, never to match: two names with the same key are
 * ambiguous, not equal.
 */

const CONFUSABLE: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'l',
  '3': 'e',
  '5': 's',
  '|': 'l',
  i: 'l',
  // Cyrillic
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  і: 'l',
  ї: 'l',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  // Greek
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'l',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
};

export function lookAlikeKey(name: string): string {
  const folded = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[\s._\-‐-―]/g, '');
  let out = '';
  for (const ch of folded) out += CONFUSABLE[ch] ?? ch;
  return out.replace(/rn/g, 'm').replace(/vv/g, 'w');
}
