/**
 * Installing p2pd as a service: pure planning (plan.ts, render.ts, quote.ts) and the executor that
 * writes files and runs systemctl or launchctl through an injected runner (execute.ts).
 */
export {
  LAUNCHD_LABEL,
  SERVICE_ACCOUNT,
  SYSTEM_CONFIG_PATH,
  SYSTEM_HOME,
  SYSTEM_UNIT_PATH,
  UNIT_NAME,
  planInstall,
  planUninstall,
  serviceTarget,
  statusCommands,
  underRoot,
  type DaemonPaths,
  type InstallInput,
  type Plan,
  type RemoveStep,
  type RunStep,
  type ServiceManager,
  type ServiceScope,
  type ServiceTarget,
  type Step,
  type TargetInput,
  type Templates,
  type WriteStep,
} from './plan.js';
export { executePlan, processRunner, type CommandResult, type CommandRunner, type ExecuteResult, type StepOutcome, type StepResult } from './execute.js';
export { readTemplates, templateDir, templatePath } from './templates.js';
export { shellLine, systemdCommandLine, systemdWord } from './quote.js';
