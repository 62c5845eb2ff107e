/**
 * A job's cron schedule run on a plain timer, in the process's local time. node-cron parses and
 * checks every expression (the same fields, the same meaning: all six must match), but it finds
 * each next run through Intl.DateTimeFormat, which maps about 5 MB of ICU's data into every
 * daemon for the four jobs that tick twice a minute (docs/PERFORMANCE.md#memory). Expressions
 * with more than numbers in them (L, W, #) stay with node-cron.
 */
import { parse } from 'node-cron';

export interface CronFields {
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly weekdays: ReadonlySet<number>;
}

/** The expression's fields (nicknames, names, ranges, steps and lists expanded by node-cron); undefined when a field holds more than numbers. */
export function plainCronFields(expression: string): CronFields | undefined {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch {
    return undefined;
  }
  const numbers = (field: ReadonlyArray<number | string>): number[] | undefined =>
    field.every((v): v is number => typeof v === 'number') ? [...new Set(field)].sort((a, b) => a - b) : undefined;
  const [seconds, minutes, hours, days, months, weekdays] = [parsed.second, parsed.minute, parsed.hour, parsed.dayOfMonth, parsed.month, parsed.dayOfWeek].map(
    numbers,
  );
  if (!seconds || !minutes || !hours || !days || !months || !weekdays) return undefined;
  return { seconds, minutes, hours, days: new Set(days), months: new Set(months), weekdays: new Set(weekdays) };
}

/** How far ahead a next run is looked for, as node-cron does: an expression that never matches (30 February) has none. */
const MAX_DAYS = 366 * 100;

/** The first whole second after `after` (local time) that matches every field. */
export function nextCronRun(fields: CronFields, after: Date): Date | undefined {
  const base = new Date(Math.floor(after.getTime() / 1000) * 1000);
  const [year, month, date] = [base.getFullYear(), base.getMonth(), base.getDate()];
  for (let i = 0; i < MAX_DAYS; i++) {
    const day = new Date(year, month, date + i);
    const [y, m, d] = [day.getFullYear(), day.getMonth(), day.getDate()];
    if (!fields.months.has(m + 1) || !fields.days.has(d) || !fields.weekdays.has(day.getDay())) continue;
    const first = i === 0;
    for (const h of fields.hours) {
      if (first && h < base.getHours()) continue;
      for (const min of fields.minutes) {
        if (first && h === base.getHours() && min < base.getMinutes()) continue;
        for (const s of fields.seconds) {
          const t = new Date(y, m, d, h, min, s);
          if (t.getTime() <= base.getTime()) continue;
          // A time the clock skips (the hour a summer time change leaves out) is no match.
          if (t.getDate() !== d || t.getHours() !== h || t.getMinutes() !== min || t.getSeconds() !== s) continue;
          return t;
        }
      }
    }
  }
  return undefined;
}

/** A run that comes this late (a suspended machine, a blocked loop) is skipped, as node-cron does. */
const MISSED_TOLERANCE_MS = 1000;
/** Long waits are cut into pieces: timers take at most 24.8 days, and the clock may be set meanwhile. */
const MAX_WAIT_MS = 60 * 60 * 1000;

export class CronTimer {
  readonly #fields: CronFields;
  readonly #run: () => Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #due: Date | undefined;
  #running = false;
  #stopped = true;

  /** `run` never overlaps itself: a run due while the last one is still going is skipped. */
  constructor(fields: CronFields, run: () => Promise<void>) {
    this.#fields = fields;
    this.#run = run;
  }

  start(): void {
    this.#stopped = false;
    this.#due = nextCronRun(this.#fields, new Date());
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** When it runs next; null once stopped. */
  nextRun(): Date | null {
    return this.#stopped ? null : (nextCronRun(this.#fields, new Date()) ?? null);
  }

  #arm(): void {
    if (this.#stopped || this.#due === undefined) return;
    const wait = Math.min(Math.max(this.#due.getTime() - Date.now(), 0), MAX_WAIT_MS);
    this.#timer = setTimeout(() => this.#beat(), wait);
  }

  #beat(): void {
    const due = this.#due;
    if (this.#stopped || due === undefined) return;
    const now = Date.now();
    if (now < due.getTime()) {
      this.#arm();
      return;
    }
    if (now - due.getTime() <= MISSED_TOLERANCE_MS) {
      this.#due = nextCronRun(this.#fields, due);
      if (!this.#running) void this.#runOnce();
    } else {
      this.#due = nextCronRun(this.#fields, new Date(now));
    }
    this.#arm();
  }

  async #runOnce(): Promise<void> {
    this.#running = true;
    try {
      await this.#run();
    } catch {
      // the job reports its own failures
    } finally {
      this.#running = false;
    }
  }
}
