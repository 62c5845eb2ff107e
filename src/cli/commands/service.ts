/**
 * `p2pd service install | uninstall | status`: p2pd as a systemd user service (the default on
 * Linux), a systemd system service under a dedicated account (`--system`), or a launchd agent on
 * macOS. The plan comes from src/service; this file prints it, carries it out and reports.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { loadConfig } from '../../config/index.js';
import { P2pdError } from '../../errors.js';
import {
  SERVICE_ACCOUNT,
  SYSTEM_CONFIG_PATH,
  SYSTEM_HOME,
  executePlan,
  planInstall,
  planUninstall,
  processRunner,
  readTemplates,
  serviceTarget,
  shellLine,
  statusCommands,
  templateDir,
  templatePath,
  underRoot,
  type CommandRunner,
  type DaemonPaths,
  type ExecuteResult,
  type Plan,
  type ServiceTarget,
  type StepResult,
} from '../../service/index.js';
import type { CliContext } from '../context.js';

type Wrap = (fn: (ctx: CliContext) => Promise<number>) => (args: object) => void;
type Track = (path: string[], usage: string, commands: readonly string[], build?: (y: Argv) => Argv) => (y: Argv) => Argv;

export const SERVICE_SUBCOMMANDS = ['install', 'uninstall', 'status'] as const;

interface ServiceArgs {
  system?: boolean;
  dryRun?: boolean;
}

/** The sub-commands of `p2pd service`, registered on its yargs builder. */
export function serviceCommands(y: Argv, run: Wrap, track: Track): Argv {
  const system = { type: 'boolean', default: false, describe: `the system service under the account ${SERVICE_ACCOUNT} (Linux; needs root)` } as const;
  const dryRun = { type: 'boolean', default: false, describe: 'print what would be written and run, and do nothing' } as const;
  return y
    .command(
      'install',
      'write and enable the service for this platform and user: a systemd user unit, a system unit (--system) or a launchd agent',
      track(['service', 'install'], 'service install', [], (c) =>
        c
          .option('system', system)
          .option('dry-run', dryRun)
          .check((a) => {
            if (a.system === true && a.config !== undefined) {
              throw new P2pdError('USAGE', `--system always uses ${SYSTEM_CONFIG_PATH}; leave out --config and edit that file instead`);
            }
            return true;
          }, false),
      ),
      run((ctx) => serviceInstallCommand(ctx)),
    )
    .command(
      'uninstall',
      'stop and disable the service and remove its unit; config and files stay',
      track(['service', 'uninstall'], 'service uninstall', [], (c) => c.option('system', system).option('dry-run', dryRun)),
      run((ctx) => serviceUninstallCommand(ctx)),
    )
    .command(
      'status',
      'whether the service is installed, enabled and running',
      track(['service', 'status'], 'service status', [], (c) => c.option('system', system)),
      run((ctx) => serviceStatusCommand(ctx)),
    )
    .demandCommand(1, 'name what to do: p2pd service install, uninstall or status');
}

function options(ctx: CliContext): { system: boolean; dryRun: boolean } {
  const a = ctx.args as ServiceArgs;
  return { system: a.system === true, dryRun: a.dryRun === true };
}

function target(ctx: CliContext, system: boolean): ServiceTarget {
  const d = ctx.deps;
  return serviceTarget({ platform: d.platform, scope: system ? 'system' : 'user', home: d.home, env: d.env, uid: d.uid, userName: d.userName });
}

function runner(ctx: CliContext): CommandRunner {
  return processRunner(ctx.deps.env);
}

function needRoot(ctx: CliContext, t: ServiceTarget, verb: string, dryRun: boolean): void {
  if (t.scope !== 'system' || dryRun || ctx.deps.uid === 0) return;
  throw new P2pdError(
    'SERVICE_NEEDS_ROOT',
    `${verb} the system service needs root: run \`sudo p2pd service ${verb === 'installing' ? 'install' : 'uninstall'} --system\``,
  );
}

export async function serviceInstallCommand(ctx: CliContext): Promise<number> {
  const { system, dryRun } = options(ctx);
  const t = target(ctx, system);
  needRoot(ctx, t, 'installing', dryRun);
  const dir = templateDir(ctx.deps.mainScript);
  const templates = readTemplates(dir);
  const { configFile, paths } = system ? systemConfig(ctx, t, templatePath(dir, 'systemConfig')) : userConfig(ctx);
  const plan = planInstall({
    target: t,
    templates,
    execPath: ctx.deps.execPath,
    mainScript: ctx.deps.mainScript,
    configFile,
    paths,
    existingUnit: readIfThere(t.unitPath),
  });
  const r = runner(ctx);
  const result = carryOut(ctx, plan, r, dryRun);
  let linger: boolean | null = null;
  if (t.manager === 'systemd' && t.scope === 'user' && !dryRun && r.which('loginctl') !== null) {
    // Only informative: a failure here never fails the install.
    const res = r.run(['loginctl', 'show-user', t.userName, '--property=Linger']);
    const value = /^Linger=(yes|no)$/m.exec(res.stdout)?.[1];
    if (res.status === 0 && value !== undefined) linger = value === 'yes';
    adjustLingerNote(plan.notes, t, linger);
  }
  addMissingNotes(plan, result);
  if (system && dryRun && ctx.deps.uid !== 0) plan.notes.push('To install it, run the command as root: sudo p2pd service install --system');
  if (ctx.json) {
    ctx.printJson({ ...planJson(plan, result, dryRun), ...(t.manager === 'systemd' && t.scope === 'user' ? { linger } : {}) });
    return 0;
  }
  ctx.out('');
  ctx.out(installSummary(plan, result, dryRun));
  printNotes(ctx, plan.notes);
  return 0;
}

export async function serviceUninstallCommand(ctx: CliContext): Promise<number> {
  const { system, dryRun } = options(ctx);
  const t = target(ctx, system);
  needRoot(ctx, t, 'removing', dryRun);
  const plan = planUninstall(t, existsSync(t.unitPath));
  const result = carryOut(ctx, plan, runner(ctx), dryRun);
  addMissingNotes(plan, result);
  if (ctx.json) {
    ctx.printJson(planJson(plan, result, dryRun));
    return 0;
  }
  if (plan.steps.length > 0) {
    ctx.out('');
    ctx.out(dryRun ? 'Dry run: nothing was removed and nothing was run.' : `p2pd's ${describe(t)} is removed.`);
  }
  printNotes(ctx, plan.notes);
  return 0;
}

export async function serviceStatusCommand(ctx: CliContext): Promise<number> {
  const { system } = options(ctx);
  const t = target(ctx, system);
  const r = runner(ctx);
  const commands = statusCommands(t);
  const program = commands.enabled[0]!;
  const managerFound = r.which(program) !== null;
  const installed = existsSync(t.unitPath);
  let enabled: boolean | null = null;
  let active: boolean | null = null;
  let enabledState: string | null = null;
  let activeState: string | null = null;
  const notes: string[] = [];
  if (!managerFound) {
    notes.push(`${program} not found: cannot ask ${t.manager} whether p2pd is enabled or running.`);
  } else if (t.manager === 'launchd') {
    const res = r.run(commands.enabled);
    enabled = res.status === 0;
    enabledState = enabled ? 'loaded' : 'not loaded';
    activeState = enabled ? (/^\s*state = (\S+)/m.exec(res.stdout)?.[1] ?? null) : null;
    active = activeState === 'running';
  } else {
    // is-enabled and is-active exit 0 for enabled and active, and print the state either way.
    const en = r.run(commands.enabled);
    enabled = en.status === 0;
    enabledState = firstLine(en.stdout);
    const act = r.run(commands.active);
    active = act.status === 0;
    activeState = firstLine(act.stdout);
  }
  if (installed && active === false) notes.push(`Logs: ${logsCommand(t)}`);
  if (!installed) notes.push(`Install it with: p2pd service install${t.scope === 'system' ? ' --system (as root)' : ''}`);
  if (ctx.json) {
    ctx.printJson({
      action: 'status',
      scope: t.scope,
      platform: t.platform,
      manager: t.manager,
      unitPath: t.unitPath,
      installed,
      enabled,
      active,
      enabledState,
      activeState,
      managerFound,
      notes,
    });
    return 0;
  }
  const state = (value: boolean | null, text: string | null): string =>
    value === null ? `unknown (${program} not found)` : `${value ? 'yes' : 'no'}${text === null || text === '' ? '' : ` (${text})`}`;
  ctx.out(`p2pd as a ${describe(t)}:`);
  ctx.out(`  unit     ${t.unitPath} (${installed ? 'installed' : 'not installed'})`);
  ctx.out(`  enabled  ${state(enabled, enabledState)}`);
  ctx.out(`  running  ${state(active, activeState)}`);
  printNotes(ctx, notes);
  return 0;
}

/** The effective config of the user: its paths, and the file to name in the unit if one was named. */
function userConfig(ctx: CliContext): { configFile: string | null; paths: DaemonPaths } {
  const loaded = ctx.config();
  const named = (ctx.args.config ?? '') !== '' || (ctx.deps.env.P2PD_CONFIG ?? '') !== '';
  return { configFile: named ? loaded.file : null, paths: loaded.config };
}

/** /etc/p2pd/config.json as it will be: the one there, else the template that will be copied. */
function systemConfig(ctx: CliContext, t: ServiceTarget, template: string): { configFile: string | null; paths: DaemonPaths } {
  const installed = underRoot(t.root, SYSTEM_CONFIG_PATH);
  const file = existsSync(installed) ? installed : template;
  const loaded = loadConfig({ file, env: {}, home: SYSTEM_HOME, hostname: ctx.deps.hostname, cwd: '/' });
  // The system unit always names /etc/p2pd/config.json itself.
  return { configFile: null, paths: loaded.config };
}

function readIfThere(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function carryOut(ctx: CliContext, plan: Plan, r: CommandRunner, dryRun: boolean): ExecuteResult {
  const human = !ctx.json;
  if (human && dryRun && plan.steps.length > 0) ctx.out('Dry run: nothing is written, removed or run.');
  return executePlan(plan, { runner: r, ...(human ? { onStep: (s: StepResult) => printStep(ctx, s) } : {}) }, { dryRun });
}

function printStep(ctx: CliContext, r: StepResult): void {
  const s = r.step;
  if (s.action === 'write') {
    if (r.outcome === 'planned') {
      ctx.out(`would write  ${s.path} (mode ${mode(s.mode)}${s.ifMissing ? ', only if missing' : ''}):`);
      ctx.out(s.content.replace(/\n$/, '').replace(/^/gm, '    | '));
    } else {
      ctx.out(r.outcome === 'kept' ? `kept         ${s.path} (it exists already)` : `wrote        ${s.path}`);
    }
    return;
  }
  if (s.action === 'remove') {
    const verb = { planned: 'would remove', removed: 'removed', absent: 'absent' }[r.outcome as 'planned' | 'removed' | 'absent'] ?? r.outcome;
    ctx.out(`${verb.padEnd(12)} ${s.path}`);
    return;
  }
  const line = shellLine(s.argv);
  switch (r.outcome) {
    case 'planned':
      ctx.out(`would run    ${line}${s.unless === undefined ? '' : `  (unless \`${shellLine(s.unless)}\` succeeds)`}`);
      break;
    case 'ran':
      ctx.out(`ran          ${line}`);
      break;
    case 'skipped':
      ctx.out(`skipped      ${line}  (\`${shellLine(s.unless ?? [])}\` succeeded)`);
      break;
    case 'failed':
      ctx.out(`failed       ${line}  (exit ${r.status ?? '?'}; not needed: ${s.why})`);
      break;
    case 'missing':
      ctx.out(`not found    ${line}`);
      break;
    default:
      ctx.out(`not run      ${line}`);
  }
}

/** When a program is missing, say so and list what the person should run instead. */
function addMissingNotes(plan: Plan, result: ExecuteResult): void {
  if (result.missing.length === 0) return;
  const programs = result.missing.join(' and ');
  const left = result.steps.filter((r) => r.step.action === 'run' && (r.outcome === 'missing' || r.outcome === 'not-run' || r.outcome === 'planned'));
  const lines = left.map((r) => (r.step.action === 'run' ? `  ${shellLine(r.step.argv)}` : ''));
  const done = plan.action === 'install' ? `the files are in place` : `the unit file is removed`;
  const head = result.steps.some((r) => r.outcome === 'planned')
    ? `${programs} not found on this machine's PATH: these commands would not run here:`
    : `${programs} not found: ${done}, but these commands were not run; run them where ${programs} is installed:`;
  plan.notes.unshift([head, ...lines].join('\n'));
}

function adjustLingerNote(notes: string[], t: ServiceTarget, linger: boolean | null): void {
  if (linger === null) return;
  const at = notes.findIndex((n) => n.includes('enable-linger'));
  const text = linger
    ? `Lingering is on for ${t.userName}: p2pd runs from boot, without a login session.`
    : `Lingering is off for ${t.userName}: p2pd stops when your last session ends. On a headless machine run \`loginctl enable-linger ${t.userName}\` so p2pd runs without a login session.`;
  if (at >= 0) notes[at] = text;
  else notes.push(text);
}

function installSummary(plan: Plan, result: ExecuteResult, dryRun: boolean): string {
  const t = plan.target;
  if (dryRun) return 'Dry run: nothing was written and nothing was run.';
  if (!result.completed) return `p2pd's ${describe(t)} is written to ${t.unitPath} but not started (see below).`;
  return `p2pd is installed as a ${describe(t)}, enabled and started.`;
}

function describe(t: ServiceTarget): string {
  if (t.manager === 'launchd') return 'launch agent';
  return t.scope === 'system' ? `systemd system service (account ${SERVICE_ACCOUNT})` : 'systemd user service';
}

function logsCommand(t: ServiceTarget): string {
  if (t.manager === 'launchd') return `tail -f ${t.home}/Library/Logs/p2pd.log`;
  return t.scope === 'system' ? 'journalctl -u p2pd -e' : 'journalctl --user -u p2pd -e';
}

function printNotes(ctx: CliContext, notes: readonly string[]): void {
  if (notes.length === 0) return;
  ctx.out('');
  for (const note of notes) ctx.out(`- ${note.replaceAll('\n', '\n  ')}`);
}

/** The --json document of install and uninstall; its field names are a stable interface. */
function planJson(plan: Plan, result: ExecuteResult, dryRun: boolean): Record<string, unknown> {
  const t = plan.target;
  const files: unknown[] = [];
  const remove: unknown[] = [];
  const commands: unknown[] = [];
  for (const r of result.steps) {
    const s = r.step;
    if (s.action === 'write') files.push({ path: s.path, mode: mode(s.mode), ifMissing: s.ifMissing, outcome: r.outcome, content: s.content });
    else if (s.action === 'remove') remove.push({ path: s.path, outcome: r.outcome });
    else {
      commands.push({
        argv: s.argv,
        why: s.why,
        ...(s.unless === undefined ? {} : { unless: s.unless }),
        optional: s.optional,
        outcome: r.outcome,
        ...(r.status === undefined ? {} : { status: r.status }),
        ...(r.output === undefined || r.output === '' ? {} : { output: r.output }),
      });
    }
  }
  return {
    action: plan.action,
    scope: t.scope,
    platform: t.platform,
    manager: t.manager,
    unitPath: t.unitPath,
    dryRun,
    completed: result.completed,
    files,
    remove,
    commands,
    missing: result.missing,
    notes: plan.notes,
  };
}

function firstLine(text: string): string | null {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line === '' ? null : line;
}

function mode(m: number): string {
  return `0${m.toString(8)}`;
}
