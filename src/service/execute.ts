/**
 * Carries out a Plan: writes files atomically (creating their directories), removes files, and runs
 * commands through an injected runner, never through a shell. A program that is not installed
 * (systemctl on a machine without systemd) does not fail the plan: that command and the commands
 * after it are left for the person to run, and the result says which.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { P2pdError } from '../errors.js';
import type { Plan, RunStep, Step } from './plan.js';
import { shellLine } from './quote.js';

export interface CommandResult {
  /** Exit status; null when the program could not be run or was killed. */
  status: number | null;
  stdout: string;
  stderr: string;
}

/** How commands are found and run; tests pass a fake. */
export interface CommandRunner {
  /** Absolute path of the program as PATH finds it, or null when it is not installed. */
  which(program: string): string | null;
  run(argv: readonly string[]): CommandResult;
}

/** Runs programs found on env.PATH, without a shell, waiting at most `timeoutMs` for each. */
export function processRunner(env: NodeJS.ProcessEnv, options: { timeoutMs?: number } = {}): CommandRunner {
  const which = (program: string): string | null => {
    const candidates = program.includes('/')
      ? [program]
      : (env.PATH ?? '')
          .split(':')
          .filter((dir) => isAbsolute(dir))
          .map((dir) => join(dir, program));
    for (const file of candidates) {
      try {
        accessSync(file, constants.X_OK);
        if (statSync(file).isFile()) return file;
      } catch {
        // not here: try the next directory
      }
    }
    return null;
  };
  return {
    which,
    run(argv) {
      const [program, ...args] = argv;
      const file = program === undefined ? null : which(program);
      if (file === null) return { status: null, stdout: '', stderr: `${program ?? '(nothing)'}: not found` };
      const res = spawnSync(file, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 120_000, shell: false });
      const stderr = res.error === undefined ? res.stderr : `${res.stderr ?? ''}${res.error.message}`;
      return { status: res.status, stdout: res.stdout ?? '', stderr: stderr ?? '' };
    },
  };
}

export type StepOutcome =
  /** --dry-run: what would happen. */
  | 'planned'
  | 'written'
  /** ifMissing, and a file was there. */
  | 'kept'
  | 'removed'
  /** Nothing to remove. */
  | 'absent'
  | 'ran'
  /** The `unless` probe succeeded. */
  | 'skipped'
  /** An optional command failed. */
  | 'failed'
  /** The program is not installed. */
  | 'missing'
  /** Not run because an earlier program was missing. */
  | 'not-run';

export interface StepResult {
  step: Step;
  outcome: StepOutcome;
  /** Exit status of a command that ran. */
  status?: number | null;
  /** What a command printed (stdout then stderr), trimmed. */
  output?: string;
}

export interface ExecuteResult {
  steps: StepResult[];
  /** Every step was carried out, skipped by design or failed while optional; false for a dry run. */
  completed: boolean;
  /** Programs not found on PATH. */
  missing: string[];
}

export interface ExecuteDeps {
  runner: CommandRunner;
  /** Told about each step as soon as it is done (for progress output). */
  onStep?: (result: StepResult) => void;
}

/**
 * Throws SERVICE_INSTALL_FAILED when a file cannot be written or removed or a required command
 * fails; the steps done before stay done, and the error's details list them.
 */
export function executePlan(plan: Plan, deps: ExecuteDeps, options: { dryRun: boolean }): ExecuteResult {
  const results: StepResult[] = [];
  const missing: string[] = [];
  let halted = false;
  const report = (r: StepResult): void => {
    results.push(r);
    deps.onStep?.(r);
  };
  for (const step of plan.steps) {
    if (options.dryRun) {
      if (step.action === 'run') noteMissing(step, deps.runner, missing);
      report({ step, outcome: 'planned' });
      continue;
    }
    switch (step.action) {
      case 'write':
        report({ step, outcome: writeStep(step.path, step.content, step.mode, step.ifMissing, results) });
        break;
      case 'remove':
        report({ step, outcome: removeStep(step.path, results) });
        break;
      case 'run':
        if (halted) {
          report({ step, outcome: 'not-run' });
        } else if (noteMissing(step, deps.runner, missing)) {
          halted = true;
          report({ step, outcome: 'missing' });
        } else {
          report(runStep(step, deps.runner, results));
        }
        break;
    }
  }
  const completed = !options.dryRun && results.every((r) => r.outcome !== 'missing' && r.outcome !== 'not-run');
  return { steps: results, completed, missing };
}

/** Records a program (of the step or its probe) that is not installed; true when one is missing. */
function noteMissing(step: RunStep, runner: CommandRunner, missing: string[]): boolean {
  let found = true;
  for (const program of [step.unless?.[0], step.argv[0]]) {
    if (program === undefined || runner.which(program) !== null) continue;
    if (!missing.includes(program)) missing.push(program);
    found = false;
  }
  return !found;
}

function runStep(step: RunStep, runner: CommandRunner, done: readonly StepResult[]): StepResult {
  if (step.unless !== undefined) {
    const probe = runner.run(step.unless);
    if (probe.status === 0) return { step, outcome: 'skipped', status: null, output: combined(probe) };
  }
  const res = runner.run(step.argv);
  const output = combined(res);
  if (res.status === 0) return { step, outcome: 'ran', status: 0, output };
  if (step.optional) return { step, outcome: 'failed', status: res.status, output };
  const status = res.status === null ? 'could not run' : `exit ${res.status}`;
  const said = output === '' ? '' : `: ${output.split('\n').slice(0, 5).join(' / ')}`;
  throw new P2pdError('SERVICE_INSTALL_FAILED', `\`${shellLine(step.argv)}\` failed (${status})${said}${step.hint === undefined ? '' : `. ${step.hint}`}`, {
    details: { argv: step.argv, status: res.status, output, done: summary(done) },
  });
}

function combined(res: CommandResult): string {
  return `${res.stdout.trim()}\n${res.stderr.trim()}`.trim();
}

function summary(done: readonly StepResult[]): string[] {
  return done.map((r) => `${r.outcome} ${r.step.action === 'run' ? shellLine(r.step.argv) : r.step.path}`);
}

function writeStep(path: string, content: string, mode: number, ifMissing: boolean, done: readonly StepResult[]): StepOutcome {
  try {
    if (ifMissing && statSync(path, { throwIfNoEntry: false }) !== undefined) return 'kept';
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeAtomically(path, content, mode);
    return 'written';
  } catch (err) {
    throw fsFailure(`cannot write ${path}`, err, done);
  }
}

function removeStep(path: string, done: readonly StepResult[]): StepOutcome {
  try {
    unlinkSync(path);
    return 'removed';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw fsFailure(`cannot remove ${path}`, err, done);
  }
}

/** To a temporary file beside it, synced, then renamed over: a reader sees the old file or the new. */
export function writeAtomically(path: string, content: string, mode: number): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.p2pd-tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeFileSync(fd, content);
      fchmodSync(fd, mode); // the umask may have taken bits away
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function fsFailure(what: string, err: unknown, done: readonly StepResult[]): P2pdError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : err instanceof Error ? err.message : String(err);
  return new P2pdError('SERVICE_INSTALL_FAILED', `${what}: ${reason}`, { cause: err, details: { errno: code, done: summary(done) } });
}
