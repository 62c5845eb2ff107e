export { Daemon, type DaemonDeps, type RunningInfo } from './daemon.js';
