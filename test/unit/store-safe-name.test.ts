import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { P2pdError } from '../../src/errors.js';
import { MAX_COMPONENT_BYTES, NAME_REJECT_REASONS, checkRelativePath, conflictName, displayName, type NameRejectReason } from '../../src/store/index.js';

function rejection(path: string): NameRejectReason | undefined {
  try {
    checkRelativePath(path);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof P2pdError, `not a P2pdError: ${String(err)}`);
    assert.equal(err.code, 'NAME_INVALID');
    return err.details?.reason as NameRejectReason;
  }
}

const hostile: ReadonlyArray<readonly [label: string, path: string, reason: NameRejectReason]> = [
  ['parent', '../x', 'dot-component'],
  ['parent after a component', 'a/../../x', 'dot-component'],
  ['current directory', './x', 'dot-component'],
  ['parent at the end', 'a/..', 'dot-component'],
  ['absolute', '/etc/passwd', 'absolute'],
  ['drive letter and backslash', 'C:\\x', 'drive-letter'],
  ['drive-relative', 'C:x', 'drive-letter'],
  ['bare drive', 'c:', 'drive-letter'],
  ['drive form deeper down', 'a/C:x', 'drive-letter'],
  ['UNC with backslashes', '\\\\server\\share', 'unc'],
  ['UNC with slashes', '//server/share', 'unc'],
  ['Win32 device namespace', '\\\\.\\PhysicalDrive0', 'unc'],
  ['backslash', 'a\\b', 'backslash'],
  ['backslash traversal', '..\\..\\x', 'backslash'],
  ['NUL', 'x\u0000y', 'control-char'],
  ['ANSI escape', '\u001b[31mred', 'control-char'],
  ['bell', 'bell\u0007', 'control-char'],
  ['newline', 'a\nb', 'control-char'],
  ['carriage return', 'a\rb', 'control-char'],
  ['DEL', 'a\u007fb', 'control-char'],
  ['C1 CSI', 'a\u009b31m', 'control-char'],
  ['line separator', 'a\u2028b', 'control-char'],
  ['right-to-left override', '\u202Eevil.txt', 'bidi-control'],
  ['RLO hidden extension', 'invoice\u202Efdp.exe', 'bidi-control'],
  ['left-to-right isolate', 'a\u2066b', 'bidi-control'],
  ['right-to-left mark', 'a\u200Fb', 'bidi-control'],
  ['zero-width space', 'pay\u200Bpal.txt', 'invisible-char'],
  ['byte order mark', '\uFEFFa.txt', 'invisible-char'],
  ['word joiner', 'a\u2060b', 'invisible-char'],
  ['joiner at the start', '\u200Dx', 'invisible-char'],
  ['joiner next to a separator', 'a\u200D/b', 'invisible-char'],
  ['lone tag character', 'a\u{E0041}b', 'invisible-char'],
  ['lone high surrogate', 'a\uD800b', 'lone-surrogate'],
  ['lone low surrogate', 'a\uDC00b', 'lone-surrogate'],
  ['CON', 'CON', 'reserved-name'],
  ['con with extension', 'con.txt', 'reserved-name'],
  ['LPT1', 'LPT1', 'reserved-name'],
  ['COM0', 'dir/com0.tar.gz', 'reserved-name'],
  ['NUL with trailing dot', 'nul.', 'reserved-name'],
  ['AUX with spaces before the extension', 'AUX  .txt', 'reserved-name'],
  ['superscript COM', 'COM\u00B9', 'reserved-name'],
  ['CONIN$', 'conin$', 'reserved-name'],
  ['single space', ' ', 'dots-and-spaces'],
  ['three dots', '...', 'dots-and-spaces'],
  ['dots and spaces', '. .', 'dots-and-spaces'],
  ['trailing space', 'a.txt ', 'trailing-dot-or-space'],
  ['trailing dot', 'dir./x', 'trailing-dot-or-space'],
  ['trailing slash', 'a/', 'empty-component'],
  ['doubled slash', 'a//b', 'empty-component'],
  ['empty', '', 'empty'],
  ['300-byte component', 'a'.repeat(300), 'component-too-long'],
  ['256-byte component of 2-byte characters', 'é'.repeat(128), 'component-too-long'],
  ['5000-byte path', `${'a'.repeat(200)}/`.repeat(24) + 'b'.repeat(200), 'path-too-long'],
  ['huge path', 'a/'.repeat(20_000), 'path-too-long'],
  ['100 components', Array.from({ length: 100 }, () => 'a').join('/'), 'too-many-components'],
  ['store directory', '.p2pd-partial', 'reserved-store-name'],
  ['store directory, other case', '.P2PD-Partial/x', 'reserved-store-name'],
  ['division slash', 'a\u2215b', 'lookalike'],
  ['fullwidth solidus', 'a\uFF0Fb', 'lookalike'],
  ['big solidus', 'a\u29F8b', 'lookalike'],
  ['fraction slash', 'a\u2044b', 'lookalike'],
  ['fullwidth reverse solidus', 'a\uFF3Cb', 'lookalike'],
  ['fullwidth dot dot', '\uFF0E\uFF0E', 'lookalike'],
  ['one dot leader twice', 'x/\u2024\u2024/y', 'lookalike'],
  ['two dot leader', '\u2025', 'lookalike'],
  ['small full stops', '\uFE52\uFE52', 'lookalike'],
  ['ellipsis alone', '\u2026', 'lookalike'],
  ['dots with combining marks', '..\u0301', 'lookalike'],
  ['no-break space alone', '\u00A0', 'dots-and-spaces'],
];

const legitimate: ReadonlyArray<readonly [label: string, path: string, expected: readonly string[]]> = [
  ['plain', 'a.txt', ['a.txt']],
  ['nested', 'photos/2024/img 001.jpg', ['photos', '2024', 'img 001.jpg']],
  ['NFC', 'Caf\u00E9.txt', ['Caf\u00E9.txt']],
  ['NFD becomes NFC', 'Cafe\u0301.txt', ['Caf\u00E9.txt']],
  ['Japanese', '日本語.txt', ['日本語.txt']],
  ['dotfile', '.bashrc', ['.bashrc']],
  ['spaces', 'a b/c d.txt', ['a b', 'c d.txt']],
  ['emoji', 'emoji 😀.png', ['emoji 😀.png']],
  ['emoji ZWJ sequence', 'family 👨‍👩‍👧.png', ['family 👨‍👩‍👧.png']],
  ['Persian with ZWNJ', 'می\u200Cخواهم.txt', ['می\u200Cخواهم.txt']],
  [
    'flag tag sequence',
    'flag \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.png',
    ['flag \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.png'],
  ],
  ['colon not in drive form', 'with:colon.txt', ['with:colon.txt']],
  ['time in a name', 'notes 12:30.txt', ['notes 12:30.txt']],
  ['Windows-only forbidden characters', 'what?<draft>|"x"*.txt', ['what?<draft>|"x"*.txt']],
  ['leading dash', '-rf', ['-rf']],
  ['leading space', ' a', [' a']],
  ['device name inside a longer word', 'console.log', ['console.log']],
  ['COM10 is not a device', 'COM10', ['COM10']],
  ['ellipsis inside a name', 'Wait\u2026.mp3', ['Wait\u2026.mp3']],
  ['fullwidth stop inside a name', 'report\uFF0Edraft.txt', ['report\uFF0Edraft.txt']],
  ['yen sign', '\u00A51000.txt', ['\u00A51000.txt']],
  ['store name below the top', 'a/.p2pd-partial', ['a', '.p2pd-partial']],
  ['two dots inside a name', 'a..b', ['a..b']],
  ['255-byte component', 'a'.repeat(MAX_COMPONENT_BYTES), ['a'.repeat(MAX_COMPONENT_BYTES)]],
  ['64 components', Array.from({ length: 64 }, () => 'd').join('/'), Array.from({ length: 64 }, () => 'd')],
];

describe('checkRelativePath', () => {
  for (const [label, path, reason] of hostile) {
    it(`hostile: ${label} → ${reason}`, () => {
      assert.equal(rejection(path), reason);
    });
  }

  for (const [label, path, expected] of legitimate) {
    it(`accepts ${label}`, () => {
      assert.deepEqual(checkRelativePath(path), expected);
    });
  }

  it('uses only documented reasons and names the failing component', () => {
    for (const [, path] of hostile) assert.ok(NAME_REJECT_REASONS.includes(rejection(path)!));
    try {
      checkRelativePath('ok/fine/CON/x');
      assert.fail('accepted a reserved name');
    } catch (err) {
      assert.ok(err instanceof P2pdError);
      assert.deepEqual(err.details, { reason: 'reserved-name', component: 2 });
    }
  });

  it('keeps hostile text out of its own error message', () => {
    try {
      checkRelativePath('\u001b]0;pwned\u0007\u202Eexe.txt');
      assert.fail('accepted an escape sequence');
    } catch (err) {
      assert.ok(err instanceof P2pdError);
      assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
    }
  });

  it('refuses anything that is not a string', () => {
    assert.equal(rejection(42 as unknown as string), 'not-a-string');
  });
});

describe('displayName', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['photo.jpg', 'photo.jpg'],
    ['\u001b[31mred', '\\u001b[31mred'],
    ['a\nb\rc\td', 'a\\u000ab\\u000dc\\u0009d'],
    ['\u202Eexe.txt', '\\u202eexe.txt'],
    ['x\u200By', 'x\\u200by'],
    ['a\uD800b', 'a\\ud800b'],
    ['\u{E0001}tag', '\\u{e0001}tag'],
    ['a\u0085b\u009bc', 'a\\u0085b\\u009bc'],
    ['family 👨‍👩‍👧', 'family 👨‍👩‍👧'],
    ['日本語', '日本語'],
  ];
  for (const [input, expected] of cases) {
    it(`shows ${JSON.stringify(input)} as ${JSON.stringify(expected)}`, () => {
      assert.equal(displayName(input), expected);
    });
  }

  it('truncates long names with an ellipsis, counting code points', () => {
    assert.equal(displayName('abcdef', 5), 'abcd…');
    assert.equal(displayName('abcde', 5), 'abcde');
    assert.equal(displayName('😀😀😀😀😀😀', 3), '😀😀…');
    const long = displayName('x'.repeat(10_000));
    assert.ok([...long].length <= 256);
    assert.ok(long.endsWith('…'));
  });

  it('never cuts an escape in half', () => {
    const shown = displayName('ab\u001bcd', 6);
    assert.equal(shown, 'ab…');
  });

  it('leaves no control, bidi or format character in anything', () => {
    let all = '';
    for (let cp = 0; cp < 0x3000; cp++) all += String.fromCodePoint(cp);
    all += '\uFEFF\uFFF9\u{E0001}\u{E007F}';
    const shown = displayName(all, 1_000_000);
    assert.doesNotMatch(shown, /[\p{Cc}\p{Zl}\p{Zp}\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9]/u);
  });
});

describe('conflictName', () => {
  const cases: ReadonlyArray<readonly [string, number, string]> = [
    ['photo.jpg', 1, 'photo (1).jpg'],
    ['photo.jpg', 12, 'photo (12).jpg'],
    ['archive.tar.gz', 1, 'archive (1).tar.gz'],
    ['backup.TAR.XZ', 2, 'backup (2).TAR.XZ'],
    ['.bashrc', 1, '.bashrc (1)'],
    ['.config.json', 1, '.config (1).json'],
    ['noext', 1, 'noext (1)'],
    ['my.photo.jpg', 1, 'my.photo (1).jpg'],
    ['Report v1.2 final', 1, 'Report v1.2 final (1)'],
    ['a.verylongextensionname', 1, 'a.verylongextensionname (1)'],
  ];
  for (const [name, n, expected] of cases) {
    it(`${name}, ${n} → ${expected}`, () => {
      assert.equal(conflictName(name, n), expected);
    });
  }

  it('puts the number at the end for directories', () => {
    assert.equal(conflictName('photos.2024', 1, { keepExtension: false }), 'photos.2024 (1)');
    assert.equal(conflictName('photos', 3, { keepExtension: false }), 'photos (3)');
  });

  it('shortens the stem to stay within 255 bytes, keeping the extension', () => {
    const name = `${'x'.repeat(251)}.txt`;
    const result = conflictName(name, 123);
    assert.equal(Buffer.byteLength(result), MAX_COMPONENT_BYTES);
    assert.ok(result.endsWith(' (123).txt'));
    assert.deepEqual(checkRelativePath(result), [result]);
  });

  it('never splits a character or an emoji sequence when shortening', () => {
    const name = `${'👨‍👩‍👧'.repeat(14)}.png`;
    const result = conflictName(name, 1);
    assert.ok(Buffer.byteLength(result) <= MAX_COMPONENT_BYTES);
    assert.match(result, /^(?:👨‍👩‍👧)+ \(1\)\.png$/u);
    assert.deepEqual(checkRelativePath(result), [result]);
  });

  it('refuses a number that is not a positive integer', () => {
    assert.throws(() => conflictName('a', 0), RangeError);
    assert.throws(() => conflictName('a', 1.5), RangeError);
  });
});
