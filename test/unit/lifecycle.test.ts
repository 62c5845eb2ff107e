/** The service runner: declared start and stop orders, failure at start, idempotent stop. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { named, ServiceRunner, stopOnly, type Service } from '../../src/lifecycle.js';
import { serviceOrder, type DaemonServices } from '../../src/daemon/daemon.js';

function fake(
  name: string,
  log: string[],
  options: { failStart?: boolean; failStop?: boolean; startDelayMs?: number } = {},
): Service & { signal?: AbortSignal } {
  const s: Service & { signal?: AbortSignal } = {
    name,
    async start(o) {
      s.signal = o.signal;
      if (options.startDelayMs !== undefined) await new Promise((r) => setTimeout(r, options.startDelayMs));
      if (options.failStart === true) throw new Error(`${name} failed`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (options.failStop === true) throw new Error(`${name} stop failed`);
    },
  };
  return s;
}

const noErrors = { onStopError: (_s: Service, err: unknown): void => assert.fail(String(err)) };

describe('ServiceRunner', () => {
  it('starts in the start order and stops in the declared stop order, passing one signal', async () => {
    const log: string[] = [];
    const [a, b, c] = [fake('a', log), fake('b', log), fake('c', log)];
    const runner = new ServiceRunner(noErrors, { start: [a, b, undefined, c], stop: [b, c, undefined, a] });
    assert.deepEqual(runner.order, { start: ['a', 'b', 'c'], stop: ['b', 'c', 'a'] });
    const root = new AbortController();
    await runner.start({ signal: root.signal });
    await runner.stop();
    assert.deepEqual(log, ['start a', 'start b', 'start c', 'stop b', 'stop c', 'stop a']);
    for (const s of [a, b, c]) assert.equal(s.signal, root.signal);
  });

  it('a failed start stops what was started (not the one that failed), then rethrows', async () => {
    const log: string[] = [];
    const [a, b, c, d] = [fake('a', log), fake('b', log), fake('c', log, { failStart: true }), fake('d', log)];
    const runner = new ServiceRunner(noErrors, { start: [a, b, c, d], stop: [d, c, a, b] });
    await assert.rejects(runner.start({ signal: new AbortController().signal }), /c failed/);
    assert.deepEqual(log, ['start a', 'start b', 'stop a', 'stop b']);
  });

  it('stop is idempotent, and a failing stop is reported without stopping the rest', async () => {
    const log: string[] = [];
    const failed: string[] = [];
    const [a, b] = [fake('a', log, { failStop: true }), fake('b', log)];
    const runner = new ServiceRunner({ onStopError: (s) => void failed.push(s.name) }, { start: [a, b], stop: [a, b] });
    await runner.start({ signal: new AbortController().signal });
    const first = runner.stop();
    assert.equal(runner.stop(), first, 'the same promise');
    await first;
    await runner.stop();
    assert.deepEqual(log, ['start a', 'start b', 'stop a', 'stop b']);
    assert.deepEqual(failed, ['a']);
  });

  it('stop during start waits for the start in progress, stops it too, and start fails', async () => {
    const log: string[] = [];
    const [a, b, c] = [fake('a', log), fake('b', log, { startDelayMs: 50 }), fake('c', log)];
    const runner = new ServiceRunner(noErrors, { start: [a, b, c], stop: [c, b, a] });
    const started = runner.start({ signal: new AbortController().signal });
    await new Promise((r) => setTimeout(r, 10));
    await runner.stop();
    await assert.rejects(started, /stopped while starting/);
    assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
  });

  it('refuses a stop order that does not list each service once', () => {
    const log: string[] = [];
    const [a, b] = [fake('a', log), fake('b', log)];
    assert.throws(() => new ServiceRunner(noErrors, { start: [a, b], stop: [a] }), /missing: b/);
    assert.throws(() => new ServiceRunner(noErrors, { start: [a], stop: [a, b] }), /not started: b/);
    assert.throws(() => new ServiceRunner(noErrors, { start: [a, b], stop: [a, b, a] }), /once/);
  });

  it('named() and stopOnly() adapt parts to the shape', async () => {
    const calls: string[] = [];
    const part = {
      start: async (o: { signal: AbortSignal }) => void calls.push(`start ${o.signal.aborted}`),
      stop: async () => void calls.push('stop'),
    };
    const s = named('part', part);
    const t = stopOnly('only', () => void calls.push('only stop'));
    assert.equal(s.name, 'part');
    const runner = new ServiceRunner(noErrors, { start: [s, t], stop: [t, s] });
    await runner.start({ signal: new AbortController().signal });
    await runner.stop();
    assert.deepEqual(calls, ['start false', 'only stop', 'stop']);
  });

  it("the daemon's declared orders: control before inbox, new work stops first, state flushed last", async () => {
    for (const discovery of [true, false]) {
      const log: string[] = [];
      const roles = ['transfers', 'onReceive', 'control', 'state', 'inbox', 'listener', 'discovery', 'expiry', 'outbox', 'jobs'] as const;
      const services = Object.fromEntries(
        roles.map((r) => [r, !discovery && (r === 'discovery' || r === 'expiry') ? undefined : fake(r, log)]),
      ) as unknown as DaemonServices;
      const runner = new ServiceRunner(noErrors, serviceOrder(services));
      await runner.start({ signal: new AbortController().signal });
      await runner.stop();
      const started = log.filter((l) => l.startsWith('start ')).map((l) => l.slice(6));
      const stopped = log.filter((l) => l.startsWith('stop ')).map((l) => l.slice(5));
      const all = discovery ? roles : roles.filter((r) => r !== 'discovery' && r !== 'expiry');
      assert.deepEqual(started, [...all]);
      assert.ok(started.indexOf('control') < started.indexOf('inbox'), 'the single-instance lock comes first');
      assert.ok(started.indexOf('control') < started.indexOf('state'), 'the single-instance lock comes first');
      assert.equal(started.at(-1), 'jobs');
      const expected = ['jobs', 'listener', 'expiry', 'discovery', 'transfers', 'outbox', 'onReceive', 'control', 'inbox', 'state'];
      assert.deepEqual(
        stopped,
        expected.filter((r) => all.includes(r as never)),
      );
    }
  });

  it('a second daemon that fails to take the control socket never starts (nor flushes) the state', async () => {
    const log: string[] = [];
    const roles = ['transfers', 'onReceive', 'control', 'state', 'inbox', 'listener', 'discovery', 'expiry', 'outbox', 'jobs'] as const;
    const services = Object.fromEntries(roles.map((r) => [r, fake(r, log, { failStart: r === 'control' })])) as unknown as DaemonServices;
    const runner = new ServiceRunner(noErrors, serviceOrder(services));
    await assert.rejects(runner.start({ signal: new AbortController().signal }), /control failed/);
    assert.deepEqual(log, ['start transfers', 'start onReceive', 'stop transfers', 'stop onReceive']);
  });

  it('a failure starting the listener stops control, inbox and the rest, and flushes the state last', async () => {
    const log: string[] = [];
    const roles = ['transfers', 'onReceive', 'control', 'state', 'inbox', 'listener', 'discovery', 'expiry', 'outbox', 'jobs'] as const;
    const services = Object.fromEntries(roles.map((r) => [r, fake(r, log, { failStart: r === 'listener' })])) as unknown as DaemonServices;
    const runner = new ServiceRunner(noErrors, serviceOrder(services));
    await assert.rejects(runner.start({ signal: new AbortController().signal }), /listener failed/);
    assert.deepEqual(
      log.filter((l) => l.startsWith('stop ')),
      ['stop transfers', 'stop onReceive', 'stop control', 'stop inbox', 'stop state'],
    );
  });
});
