/** The figures of one bench run, as a table for people or as JSON. */
import type { MachineFacts } from './proc.js';

export interface MethodResult {
  id: 'p2pd' | 'tcp' | 'tls' | 'scp' | 'rsync';
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
  /** p2pd's rate divided by this method's rate: 0.8 means p2pd reaches 80 % of it. */
  p2pdRatio: number | null;
  /** Median CPU seconds of the sending and of the receiving process, where measurable. */
  cpuSeconds: { sender: number; receiver: number } | null;
  /** Highest peak RSS of the sending and receiving processes, where measurable. */
  peakRssBytes: { sender: number | null; receiver: number | null } | null;
  /** CPU seconds that processes other than the bench's used during each timed run. */
  otherCpuSeconds: Array<number | null>;
  /** The command lines that used most of that time. */
  otherCommands: string[];
  /** Whether, in some run, other processes took more than a tenth of a core: that run is suspect. */
  contended: boolean;
  /** Who fsynced the data before the clock stopped. */
  durability: string;
  notes: string[];
}

export interface ScenarioResult {
  id: 'large' | 'small';
  title: string;
  bytes: number;
  files: number;
  methods: MethodResult[];
}

export interface BenchResult {
  date: string;
  machine: MachineFacts;
  settings: { sizeMiB: number; runs: number; small: boolean; smallFiles: number; smallKiB: number; timeoutSeconds: number };
  scenarios: ScenarioResult[];
  p2pd: {
    /** Median of what alice's daemon reported for the large file (from its first data byte on). */
    daemonBytesPerSecond: number | null;
    idleRssBytes: { alice: number | null; bob: number | null };
    /** VmHWM after the large-file runs: the peak of start-up and those transfers. */
    peakRssBytes: { alice: number | null; bob: number | null };
    /** VmHWM at the very end (after the small-files scenario too). */
    peakRssBytesAtEnd: { alice: number | null; bob: number | null };
  };
  goals: {
    ratioOverRawTcp: number | null;
    ratioGoal: number;
    ratioMet: boolean | null;
    rssGoalBytes: number;
    rssMet: boolean | null;
  };
}

const MB = 1e6;
const MiB = 1 << 20;
/** Share of the CPUs busy before the start above which the figures get a warning. */
const BUSY_WARNING = 0.1;

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function mb(bytes: number | null): string {
  return fixed(bytes === null ? null : bytes / MB, 1);
}

function table(headers: string[], rows: string[][], leftColumns: number): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

function scenarioLines(s: ScenarioResult): string[] {
  const small = s.id === 'small';
  const several = s.methods.some((m) => m.runs.length > 1);
  const headers = [
    'method',
    'seconds',
    ...(several ? ['min-max s'] : []),
    ...(small ? ['files/s'] : []),
    'MB/s',
    'MiB/s',
    'p2pd ÷ it',
    'CPU s send/recv',
    'peak RSS MB send/recv',
  ];
  const rows = s.methods.map((m) => {
    if (m.status !== 'ok') return [m.label, m.status === 'skipped' ? 'skipped' : 'FAILED'];
    const label = m.contended ? `${m.label} (!)` : m.label;
    const rss = m.peakRssBytes === null ? '-' : `${mb(m.peakRssBytes.sender)} / ${mb(m.peakRssBytes.receiver)}`;
    return [
      label,
      fixed(m.seconds, 2),
      ...(several ? [`${fixed(Math.min(...m.runs), 2)}-${fixed(Math.max(...m.runs), 2)}`] : []),
      ...(small ? [fixed(m.filesPerSecond, 0)] : []),
      mb(m.bytesPerSecond),
      fixed(m.bytesPerSecond === null ? null : m.bytesPerSecond / MiB, 1),
      fixed(m.p2pdRatio, 2),
      m.cpuSeconds === null ? '-' : `${fixed(m.cpuSeconds.sender, 1)} / ${fixed(m.cpuSeconds.receiver, 1)}`,
      rss,
    ];
  });
  const out = [s.title, ...table(headers, rows, 1)];
  for (const m of s.methods) {
    const others = m.otherCpuSeconds.filter((c): c is number => c !== null);
    const contention = m.contended
      ? [
          `(!) other processes used up to ${Math.max(...others).toFixed(1)} CPU s during one of its runs ` +
            `(${m.otherCommands.slice(0, 3).join(', ')}): not reliable`,
        ]
      : [];
    const extra = m.status === 'ok' ? [`fsync by ${m.durability}`, ...contention, ...m.notes] : [m.reason ?? ''];
    out.push(`    ${m.label}: ${extra.join('; ')}`);
  }
  return out;
}

function goal(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'met' : 'NOT MET';
}

export function formatHuman(r: BenchResult): string {
  const m = r.machine;
  const lines: string[] = [
    `p2pd bench, ${r.date}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.kernel}, node ${m.node}, temp dir ${m.tmpdir} (${m.tmpdirFs})`,
    `all traffic over 127.0.0.1; MB = 10^6 bytes, MiB = 2^20 bytes; seconds are the median of ${r.settings.runs} run${r.settings.runs === 1 ? '' : 's'};`,
    `every time ends with the received data fsynced; "p2pd ÷ it" is p2pd's rate over that method's rate`,
  ];
  const busy = (share: number | null): share is number => share !== null && share > BUSY_WARNING;
  const contended = r.scenarios.flatMap((s) => s.methods.filter((x) => x.contended).map((x) => x.label));
  if (contended.length > 0) {
    lines.push(`WARNING: other processes used the CPUs during timed runs of the lines marked (!): those figures are not reliable`);
  }
  if (busy(m.busyBeforeStart) || busy(m.busyAtEnd)) {
    const when = [
      ...(busy(m.busyBeforeStart) ? [`${(m.busyBeforeStart * 100).toFixed(0)} % just before the bench`] : []),
      ...(busy(m.busyAtEnd) ? [`${(m.busyAtEnd * 100).toFixed(0)} % at its end`] : []),
    ].join(' and ');
    lines.push(`WARNING: other processes kept the CPUs busy (${when}): the figures below are not reliable`);
  }
  lines.push('');
  for (const s of r.scenarios) lines.push(...scenarioLines(s), '');
  const g = r.goals;
  const p = r.p2pd;
  lines.push(
    `p2pd / raw TCP = ${fixed(g.ratioOverRawTcp, 2)}   (goal >= ${g.ratioGoal}: ${goal(g.ratioMet)})`,
    `p2pd peak RSS  = alice (sender) ${mb(p.peakRssBytes.alice)} MB, bob (receiver) ${mb(p.peakRssBytes.bob)} MB   (goal < ${g.rssGoalBytes / MB} MB: ${goal(g.rssMet)})`,
    `                 idle after start: alice ${mb(p.idleRssBytes.alice)} MB, bob ${mb(p.idleRssBytes.bob)} MB;` +
      ` at the end of the run: alice ${mb(p.peakRssBytesAtEnd.alice)} MB, bob ${mb(p.peakRssBytesAtEnd.bob)} MB`,
    `p2pd's own rate for the large file: ${mb(p.daemonBytesPerSecond)} MB/s (alice's transfer.bytesPerSecond: first data byte to last verdict)`,
  );
  return lines.join('\n') + '\n';
}

export function formatJson(r: BenchResult): string {
  return JSON.stringify(r, null, 2) + '\n';
}
