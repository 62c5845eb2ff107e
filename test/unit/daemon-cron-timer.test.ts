import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createTask } from 'node-cron';
import { CronTimer, nextCronRun, plainCronFields, type CronFields } from '../../src/daemon/cron-timer.js';

function fields(expression: string): CronFields {
  const f = plainCronFields(expression);
  assert.ok(f !== undefined, `${expression} should be plain`);
  return f;
}

/** node-cron's next runs from the (mocked) present, and ours. */
function compare(expression: string, from: Date, count = 6): void {
  mock.timers.enable({ apis: ['Date'], now: from.getTime() });
  try {
    const theirs = createTask(expression, () => undefined).getNextRuns(count);
    const ours: Date[] = [];
    let at = from;
    for (let i = 0; i < count; i++) {
      const next = nextCronRun(fields(expression), at);
      assert.ok(next !== undefined);
      ours.push(next);
      at = next;
    }
    assert.deepEqual(
      ours.map((d) => d.toISOString()),
      theirs.map((d) => d.toISOString()),
      `${expression} from ${from.toString()}`,
    );
  } finally {
    mock.timers.reset();
  }
}

const EXPRESSIONS = [
  '*/30 * * * * *',
  '* * * * *',
  '15 * * * *',
  '30 3 * * *',
  '0 0 29 2 *',
  '5-10/2 */7 1-3 * jan,jul mon-fri',
  '0 22-2 * * *',
  '@daily',
  '@weekly',
  '0 0 1 * 7',
  '0 12 * * sun',
  '0 0 ? * 1',
  '0 0 31 * *',
  '59 59 23 31 12 *',
];

test('next runs agree with node-cron for plain expressions', () => {
  const starts = [new Date(2026, 11, 7, 14, 33, 12, 500), new Date(2027, 1, 27, 23, 59, 59), new Date(2028, 0, 31, 3, 30, 0)];
  for (const expression of EXPRESSIONS) for (const from of starts) compare(expression, from);
});

test('a time the clock skips at a summer time change is no match; a repeated one counts once', () => {
  // ICU caches the time zone at start, so node-cron cannot be compared here; Date follows TZ.
  const tz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    const iso = (expression: string, from: Date): string | undefined => nextCronRun(fields(expression), from)?.toISOString();
    // 2027-03-28: 02:00 → 03:00 (02:30 does not exist that day)
    assert.equal(iso('30 2 * * *', new Date(2027, 2, 27, 12)), new Date(2027, 2, 29, 2, 30).toISOString());
    assert.equal(iso('0 3 * * *', new Date(2027, 2, 27, 12)), '2027-03-28T01:00:00.000Z');
    // 2027-10-31: 03:00 → 02:00 (02:30 comes twice): the first one, then the next day
    const first = nextCronRun(fields('30 2 * * *'), new Date(2027, 9, 30, 12))!;
    assert.equal(first.toISOString(), '2027-10-31T00:30:00.000Z');
    assert.equal(iso('30 2 * * *', first), '2027-11-01T01:30:00.000Z');
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
});

test('expressions with more than numbers are left to node-cron', () => {
  for (const e of ['0 0 L * *', '0 0 15W * *', '0 0 * * 1#2', '0 0 * * 5L', 'not cron']) assert.equal(plainCronFields(e), undefined, e);
});

test('CronTimer runs on time, never overlaps itself, and stops', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: new Date(2030, 0, 1, 12, 0, 0, 200).getTime() });
  try {
    let runs = 0;
    let release: (() => void) | undefined;
    const timer = new CronTimer(fields('* * * * * *'), () => {
      runs++;
      return new Promise<void>((resolve) => (release = resolve));
    });
    timer.start();
    assert.equal(timer.nextRun()?.getTime(), new Date(2030, 0, 1, 12, 0, 1).getTime());
    mock.timers.tick(800);
    assert.equal(runs, 1);
    mock.timers.tick(1000);
    assert.equal(runs, 1, 'still running: the beat is skipped');
    release!();
    await Promise.resolve();
    await Promise.resolve();
    mock.timers.tick(1000);
    assert.equal(runs, 2);
    release!();
    timer.stop();
    assert.equal(timer.nextRun(), null);
    mock.timers.tick(5000);
    assert.equal(runs, 2);
  } finally {
    mock.timers.reset();
  }
});
