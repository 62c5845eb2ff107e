/**
 * The periodic jobs, each on its own cron schedule from the config. A job that fails is logged
 * and runs again at its next time; a job never overlaps itself.
 */
import { createTask } from 'node-cron';
import type { Logger } from '../log.js';
import type { SchedulesConfig } from '../config/types.js';
import type { Service } from '../lifecycle.js';
import { CronTimer, plainCronFields } from './cron-timer.js';

export type JobName = keyof SchedulesConfig;

/** A job as `p2pd status --json` shows it. */
export interface JobView {
  name: JobName;
  schedule: string;
  runs: number;
  lastRunAt: string | null;
  lastError: { code: string; message: string } | null;
  nextRunAt: string | null;
}

/** A CronTimer, or node-cron's task for an expression the timer leaves to it. */
interface JobTimer {
  stop(): void | Promise<void>;
  nextRun(): Date | null;
}

interface Job {
  view: JobView;
  run: () => Promise<void>;
  task: JobTimer | undefined;
}

export class Scheduler implements Service {
  readonly name = 'jobs';
  readonly #log: Logger;
  readonly #jobs = new Map<JobName, Job>();

  constructor(deps: { logger: Logger }, options: { schedules: SchedulesConfig; jobs: Record<JobName, () => Promise<void>> }) {
    this.#log = deps.logger;
    for (const [name, run] of Object.entries(options.jobs) as Array<[JobName, () => Promise<void>]>) {
      this.#jobs.set(name, {
        view: { name, schedule: options.schedules[name], runs: 0, lastRunAt: null, lastError: null, nextRunAt: null },
        run,
        task: undefined,
      });
    }
  }

  async start(_options: { signal: AbortSignal }): Promise<void> {
    for (const job of this.#jobs.values()) this.#schedule(job);
  }

  /** New schedules (SIGHUP): jobs whose expression changed are rescheduled. */
  reschedule(schedules: SchedulesConfig): void {
    for (const job of this.#jobs.values()) {
      const next = schedules[job.view.name];
      if (next === job.view.schedule) continue;
      void job.task?.stop();
      job.view.schedule = next;
      this.#schedule(job);
      this.#log.info({ job: job.view.name, schedule: next }, 'job rescheduled');
    }
  }

  async stop(): Promise<void> {
    for (const job of this.#jobs.values()) {
      await job.task?.stop();
      job.task = undefined;
    }
  }

  list(): JobView[] {
    return [...this.#jobs.values()].map((j) => ({ ...j.view, nextRunAt: j.task?.nextRun()?.toISOString() ?? null }));
  }

  #schedule(job: Job): void {
    const tick = async (): Promise<void> => {
      job.view.runs++;
      job.view.lastRunAt = new Date().toISOString();
      try {
        await job.run();
        job.view.lastError = null;
        this.#log.debug({ job: job.view.name }, 'job ran');
      } catch (err) {
        const e = err as { code?: string; message?: string };
        job.view.lastError = { code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: String(e.message ?? err) };
        this.#log.warn({ job: job.view.name, err: job.view.lastError.message }, 'job failed');
      }
    };
    const fields = plainCronFields(job.view.schedule);
    if (fields !== undefined) {
      const timer = new CronTimer(fields, tick);
      timer.start();
      job.task = timer;
      return;
    }
    const task = createTask(job.view.schedule, tick, { name: `p2pd-${job.view.name}`, noOverlap: true });
    void task.start();
    job.task = { stop: () => task.destroy(), nextRun: () => task.getNextRun() };
  }
}
