/** The figures of one bench run as tables: for the terminal, and the cells RESULTS.md shares. */
import type { BenchResult, MethodResult, ScenarioResult, Target } from './types.js';

const MB = 1e6;
/** Share of the CPUs busy before the start above which the figures get a warning. */
const BUSY_WARNING = 0.1;

export function fixed(n: number | null | undefined, digits: number): string {
  return n == null || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

export function mb(bytes: number | null | undefined): string {
  return fixed(bytes == null ? null : bytes / MB, 1);
}

/** Headers and cells of one scenario's table; the first column is the method. */
export function scenarioTable(s: ScenarioResult): { headers: string[]; rows: string[][] } {
  // Many small files are counted in files and in CPU per file; everything else in bytes.
  const files = s.id === 'small';
  const several = s.methods.some((m) => m.runs.length > 1);
  const link = s.linkMbit !== null;
  const headers = [
    'method',
    'seconds',
    ...(several ? ['min–max s'] : []),
    ...(files ? ['files/s'] : []),
    'MB/s',
    ...(link ? ['% of link'] : []),
    'vs nc',
    'vs scp',
    files ? 'CPU ms/file send / recv' : 'CPU s/GiB send / recv',
    'peak RSS MB send / recv',
  ];
  const rows = s.methods.map((m): string[] => {
    if (m.status !== 'ok') return [m.label, m.status === 'skipped' ? 'skipped' : 'FAILED', ...headers.slice(2).map(() => '')];
    const rss = m.peakRssBytes === null ? '-' : `${mb(m.peakRssBytes.sender)} / ${mb(m.peakRssBytes.receiver)}`;
    const perFile = (sec: number): string => fixed((sec * 1000) / s.files, 2);
    const cpu =
      m.cpuSeconds === null || m.cpuSecondsPerGiB === null
        ? '-'
        : files
          ? `${perFile(m.cpuSeconds.sender)} / ${perFile(m.cpuSeconds.receiver)}`
          : `${fixed(m.cpuSecondsPerGiB.sender, 2)} / ${fixed(m.cpuSecondsPerGiB.receiver, 2)}`;
    return [
      m.contended ? `${m.label} (!)` : m.label,
      fixed(m.seconds, 2),
      ...(several ? [`${fixed(Math.min(...m.runs), 2)}–${fixed(Math.max(...m.runs), 2)}`] : []),
      ...(files ? [fixed(m.filesPerSecond, 0)] : []),
      mb(m.bytesPerSecond),
      ...(link ? [fixed(((m.bytesPerSecond ?? 0) * 8 * 100) / (s.linkMbit! * 1e6), 1)] : []),
      fixed(m.vsNc, 2),
      fixed(m.vsScp, 2),
      cpu,
      rss,
    ];
  });
  return { headers, rows };
}

/** One line per method under its table: who fsynced, contention, notes, or why it did not run. */
export function methodNote(m: MethodResult): string {
  if (m.status !== 'ok') return `${m.label}: ${m.reason ?? ''}`;
  const others = m.otherCpuSeconds.filter((c): c is number => c !== null);
  const contention = m.contended
    ? [
        `(!) other processes used up to ${Math.max(...others).toFixed(1)} CPU s during one of its runs (${m.otherCommands.slice(0, 3).join(', ')}): not reliable`,
      ]
    : [];
  return `${m.label}: durable by ${m.durability}; ${[...contention, ...m.notes].join('; ')}`.replace(/; $/, '');
}

export function targetLine(t: Target): string {
  if (t.met === null) return `not measured: ${t.goal}${t.measured === 'not measured' ? '' : ` (${t.measured})`}`;
  return `${t.met ? 'met' : 'NOT MET'}: ${t.goal} (measured: ${t.measured})`;
}

/** Warnings about a busy machine, shared by the terminal and RESULTS.md. */
export function warnings(r: BenchResult): string[] {
  const out: string[] = [];
  const m = r.machine;
  const busy = (share: number | null): share is number => share !== null && share > BUSY_WARNING;
  if (r.scenarios.some((s) => s.methods.some((x) => x.contended))) {
    out.push('WARNING: other processes used the CPUs during timed runs of the lines marked (!): those figures are not reliable');
  }
  if (busy(m.busyBeforeStart) || busy(m.busyAtEnd)) {
    const when = [
      ...(busy(m.busyBeforeStart) ? [`${(m.busyBeforeStart * 100).toFixed(0)} % just before the bench`] : []),
      ...(busy(m.busyAtEnd) ? [`${(m.busyAtEnd * 100).toFixed(0)} % at its end`] : []),
    ].join(' and ');
    out.push(`WARNING: other processes kept the CPUs busy (${when}): the figures are not reliable`);
  }
  return out;
}

export function machineLine(r: BenchResult): string {
  const m = r.machine;
  return `${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.kernel}, node ${m.node}, temp dir ${m.tmpdir} (${m.tmpdirFs})`;
}

function pad(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

export function formatHuman(r: BenchResult): string {
  const lines: string[] = [
    `p2pd bench, ${r.date} (${r.totalSeconds.toFixed(0)} s)`,
    `machine: ${machineLine(r)}`,
    `network: ${r.network.description}`,
    `MB = 10^6 bytes; seconds are the median of ${r.settings.runs} round${r.settings.runs === 1 ? '' : 's'}; every clock stops once the data is durable;`,
    `"vs nc" and "vs scp" are the method's rate over nc's and over scp's in the same table`,
    ...warnings(r),
    '',
  ];
  for (const s of r.scenarios) {
    const { headers, rows } = scenarioTable(s);
    lines.push(s.title, ...pad(headers, rows), ...s.methods.map((m) => `    ${methodNote(m)}`), '');
  }
  const p = r.p2pd;
  lines.push(
    `p2pd idle RSS after start: alice ${mb(p.idleRssBytes.alice)} MB, bob ${mb(p.idleRssBytes.bob)} MB; VmHWM at the end: alice ${mb(p.peakRssBytesAtEnd.alice)} MB, bob ${mb(p.peakRssBytesAtEnd.bob)} MB`,
    `p2pd's own rate for the large file: ${mb(p.daemonBytesPerSecond)} MB/s (alice's transfer.bytesPerSecond: first data byte to last verdict)`,
    '',
    'Targets (issue 14):',
    ...r.targets.map((t) => `  ${targetLine(t)}`),
  );
  return lines.join('\n') + '\n';
}

export function formatJson(r: BenchResult): string {
  return JSON.stringify(r, null, 2) + '\n';
}
