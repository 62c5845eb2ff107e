/**
 * Which command lines start the daemon without the CLI (main.ts): exactly the daemon's own, with
 * or without a config file; everything else, mistakes included, goes to the CLI's checks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainDaemonCommand } from '../../src/plain-daemon-command.js';

describe('the daemon command line read without the CLI', () => {
  it('takes `daemon` alone and with one --config', () => {
    assert.deepEqual(plainDaemonCommand(['daemon']), {});
    assert.deepEqual(plainDaemonCommand(['daemon', '--config', '/etc/p2pd.json']), { config: '/etc/p2pd.json' });
    assert.deepEqual(plainDaemonCommand(['daemon', '--config=/etc/p2pd.json']), { config: '/etc/p2pd.json' });
  });

  it('leaves everything else to the CLI', () => {
    for (const argv of [
      [],
      ['status'],
      ['daemon', '--help'],
      ['daemon', '--json'],
      ['daemon', '--confg', 'x'],
      ['daemon', '--config'],
      ['daemon', '--config='],
      ['daemon', '--config', '--json'],
      ['daemon', '--config', 'a', '--config', 'b'],
      ['daemon', 'extra'],
      ['--config', 'x', 'daemon'],
    ]) {
      assert.equal(plainDaemonCommand(argv), undefined, argv.join(' '));
    }
  });
});
