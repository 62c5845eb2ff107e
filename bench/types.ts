/** The figures of one bench run: what the tables, RESULTS.md, the chart and --json are made from. */
import type { MachineFacts } from './proc.js';

export type MethodId = 'p2pd' | 'nc' | 'tcp' | 'tls' | 'scp' | 'rsync';

export interface MethodResult {
  id: MethodId;
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or how it failed. */
  reason: string | null;
  /** Seconds of every run, in order. */
  runs: number[];
  /** Median of `runs`. */
  seconds: number | null;
  bytesPerSecond: number | null;
  filesPerSecond: number | null;
  /** This method's rate over nc's (the wire without crypto) and over scp's, in the same scenario. */
  vsNc: number | null;
  vsScp: number | null;
  /** Median CPU seconds of the sending and of the receiving process, where measurable. */
  cpuSeconds: { sender: number; receiver: number } | null;
  /** The same per GiB moved. */
  cpuSecondsPerGiB: { sender: number; receiver: number } | null;
  /** Highest RSS of the sending and receiving processes during the runs, where measurable. */
  peakRssBytes: { sender: number | null; receiver: number | null } | null;
  /** CPU seconds that processes other than the bench's used during each timed run. */
  otherCpuSeconds: Array<number | null>;
  /** The command lines that used most of that time. */
  otherCommands: string[];
  /** Whether, in some run, other processes took more than a tenth of a core: that run is suspect. */
  contended: boolean;
  /** Who made the data durable before the clock stopped. */
  durability: string;
  notes: string[];
}

export type ScenarioId = 'large' | 'small' | 'medium' | 'large-load' | 'large-tbf';

export interface ScenarioResult {
  id: ScenarioId;
  title: string;
  /** Short name for the chart. */
  short: string;
  bytes: number;
  files: number;
  /** The link's limit (tc tbf) in Mbit/s, for large-tbf. */
  linkMbit: number | null;
  methods: MethodResult[];
}

export interface Target {
  /** What the issue asks for, as text. */
  goal: string;
  /** What this run measured, as text. */
  measured: string;
  /** null: not measured in this run (a scenario or method left out, or failed). */
  met: boolean | null;
}

export interface BenchResult {
  date: string;
  /** The command line as given (after `npm run bench --`). */
  commandLine: string;
  machine: MachineFacts;
  network: { kind: 'lan' | 'loopback'; description: string };
  settings: Record<string, number | boolean | string | null>;
  scenarios: ScenarioResult[];
  p2pd: {
    idleRssBytes: { alice: number | null; bob: number | null };
    /** VmHWM at the very end: start-up and every transfer. */
    peakRssBytesAtEnd: { alice: number | null; bob: number | null };
    /** Median of what alice's daemon reported for the large file (from its first data byte on). */
    daemonBytesPerSecond: number | null;
  };
  targets: Target[];
  /** Wall-clock seconds of the whole run. */
  totalSeconds: number;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
